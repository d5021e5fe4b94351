// `npm run bench`: runs every bench/*.bench.ts (its `comparisons`, or its own `run`) and prints figures
// and ratios against baselines measured in the same run.
import { readdirSync } from "node:fs"
import { report, type Comparison } from "./harness.ts"

const dir = new URL(".", import.meta.url)
// `npm run bench -- speaker controller`: only the files whose names contain one of the words.
const only = process.argv.slice(2)
const files = readdirSync(dir).filter((f) => f.endsWith(".bench.ts") && (only.length === 0 || only.some((w) => f.includes(w)))).sort()
console.log(`metallb-ts benchmarks on Node ${process.version} (${files.length} files)`)
for (const file of files) {
  const module = (await import(new URL(file, dir).href)) as { comparisons?: ReadonlyArray<Comparison>; run?: () => void | Promise<void> }
  console.log(`\n# ${file}`)
  for (const comparison of module.comparisons ?? []) report(comparison)
  await module.run?.()
}
