// Builds the native addon for the suites in this folder when it is missing or older than any of its
// sources, so they run on a fresh checkout (building needs no root).
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync, statSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { defaultAddonPath } from "../../../shell/native/addon.ts"

const nativeDirectory = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "shell", "native")

export const ensureAddonBuilt = (): void => {
  const sourceDirectory = join(nativeDirectory, "src")
  const sources = [join(nativeDirectory, "binding.gyp"), ...readdirSync(sourceDirectory).map((name) => join(sourceDirectory, name))]
  const builtAt = existsSync(defaultAddonPath) ? statSync(defaultAddonPath).mtimeMs : 0
  if (sources.every((source) => statSync(source).mtimeMs <= builtAt)) return
  const build = spawnSync(process.execPath, [join(nativeDirectory, "build.ts")], { encoding: "utf8", timeout: 300_000 })
  if (build.status !== 0) throw new Error(`npm run build:native failed:\n${build.stdout}\n${build.stderr}`)
}
