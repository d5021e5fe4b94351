// manifests/Dockerfile and its .dockerignore read without a Docker engine, for the tests that check the
// Dockerfile (dockerfile.test.ts) and keep the offline image equal to it (image.test.ts).
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { repoRoot } from "./support.ts"

export interface Instruction {
  readonly keyword: string
  readonly args: string
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
const parseDockerfile = (text: string): Array<Instruction> =>
  text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#")).map((line) => {
    const [keyword = "", ...rest] = line.split(/\s+/)
    return { keyword: keyword.toUpperCase(), args: rest.join(" ") }
  })

export const dockerfile = parseDockerfile(readFileSync(join(repoRoot, "manifests/Dockerfile"), "utf8"))
const ignore = readFileSync(join(repoRoot, "manifests/Dockerfile.dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"))

/** The .dockerignore rules (last match wins; "!" re-includes), for the patterns this file uses. */
export const ignored = (path: string): boolean => {
  let out = false
  for (const rule of ignore) {
    const negated = rule.startsWith("!")
    const pattern = (negated ? rule.slice(1) : rule).replace(/\/$/, "")
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*\*\//g, "(.*/)?").replace(/\*/g, "[^/]*")}(/.*)?$`)
    if (re.test(path)) out = !negated
  }
  return out
}

/** The files under a build-context path (repository-relative), before .dockerignore. */
export const contextFiles = (path: string, root: string = repoRoot): Array<string> => {
  const absolute = join(root, path)
  if (!statSync(absolute).isDirectory()) return [path]
  return readdirSync(absolute).flatMap((name) => contextFiles(join(path, name), root))
}

export interface Stage {
  readonly name: string
  readonly from: string
  readonly instructions: Array<Instruction>
}

const args = Object.fromEntries(dockerfile.filter((i) => i.keyword === "ARG" && i.args.includes("=")).map((i) => i.args.split("=") as [string, string]))
export const stages: Array<Stage> = []
for (const instruction of dockerfile) {
  if (instruction.keyword === "FROM") {
    const [image = "", , name] = instruction.args.split(/\s+/)
    stages.push({ name: name ?? String(stages.length), from: image.replace(/\$\{(\w+)\}/g, (_, n: string) => args[n] ?? ""), instructions: [] })
  } else stages.at(-1)?.instructions.push(instruction)
}
/** The last stage: the image. */
export const runtime = stages.at(-1)!
export const copies = (stage: Stage) => stage.instructions.filter((i) => i.keyword === "COPY").map((i) => {
  const parts = i.args.split(/\s+/)
  const from = parts.find((p) => p.startsWith("--from="))?.slice("--from=".length)
  const paths = parts.filter((p) => !p.startsWith("--"))
  return { from, sources: paths.slice(0, -1), destination: paths.at(-1)! }
})
/** The runtime stage's exec-form (JSON) instruction `keyword`, e.g. ENTRYPOINT. */
export const execForm = (keyword: string): Array<string> => JSON.parse(runtime.instructions.find((i) => i.keyword === keyword)?.args ?? "[]")
