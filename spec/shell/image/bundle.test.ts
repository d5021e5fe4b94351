// The image's bundle (shell/image/bundle.ts), split per command: every command runs from it; a command's
// start loads the entry and that command's files only (the bundle's own account of them, checked against
// what Node actually loads), never another command's module; the same sources make the same files; and
// the .ts entry (shell/main/cli.ts) loads only the command it runs, too.
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { bundleDir, bundleFile, buildBundle, type BuiltBundle } from "../../../shell/image/bundle.ts"
import { addonPath } from "../../../shell/image/rootfs.ts"
import { commandNames, type CommandName } from "../../../shell/main/command-names.ts"

const repoRoot = new URL("../../..", import.meta.url).pathname
const node = join(repoRoot, "node_modules/.bin/node")
/** Each command's module, as shell/main/cli.ts imports it. */
const moduleOf: Record<CommandName, string> = {
  validate: "shell/main/validate-command.ts",
  crds: "shell/main/crds.ts",
  plan: "shell/cli/plan.ts",
  explain: "shell/cli/explain.ts",
  sim: "shell/main/sim.ts",
  controller: "shell/main/controller.ts",
  speaker: "shell/main/speaker.ts",
}

const work = mkdtempSync(join(tmpdir(), "metallb-ts-bundle-test-"))
// Node's own record of what it loads: a module hook (in the process's thread) that lists every file URL.
const hook = join(work, "record-loads.mjs")
writeFileSync(hook, [
  `import { registerHooks } from "node:module"`,
  `import { appendFileSync } from "node:fs"`,
  `registerHooks({ load(url, context, nextLoad) { if (url.startsWith("file:")) appendFileSync(process.env.METALLB_TS_LOADED, url + "\\n"); return nextLoad(url, context) } })`,
  "",
].join("\n"))

/** Runs `node [--import hook] program args` in the repository; the files loaded, relative to `base`. */
const runRecorded = (program: string, args: ReadonlyArray<string>, base: string) => {
  const log = join(work, `loaded-${Math.random().toString(36).slice(2)}`)
  writeFileSync(log, "")
  const result = spawnSync(node, ["--import", hook, program, ...args], { cwd: repoRoot, encoding: "utf8", timeout: 120_000, env: { ...process.env, METALLB_TS_LOADED: log } })
  const loaded = readFileSync(log, "utf8").split("\n").filter((l) => l !== "").map((url) => relative(base, new URL(url).pathname))
  return { status: result.status, output: `${result.stdout}${result.stderr}`, loaded: [...new Set(loaded)].filter((f) => !f.startsWith("..")).sort() }
}

/** The other commands whose module (in the bundle: a file only it loads) is among `loaded`. */
const othersLoaded = (loaded: ReadonlyArray<string>, own: CommandName | undefined, fileOf: (name: CommandName) => string): Array<CommandName> =>
  commandNames.filter((name) => name !== own && loaded.includes(fileOf(name)))

// Beside bundleDir, so the bundle's URL-relative lookups (the native addon) resolve as in the image.
const out = join(repoRoot, "build", `bundle-test-${process.pid}`)
let built: BuiltBundle
/** A file of the bundle that only this command loads (its module's own code). */
let entryFileOf: (name: CommandName) => string

beforeAll(async () => {
  built = await buildBundle({ repoRoot, out })
  const atStart = new Set(built.loads[moduleOf.validate]!.filter((f) => commandNames.every((name) => built.loads[moduleOf[name]]!.includes(f))))
  entryFileOf = (name) => {
    const own = built.loads[moduleOf[name]]!.filter((f) => !atStart.has(f) && commandNames.every((other) => other === name || !built.loads[moduleOf[other]]!.includes(f)))
    if (own[0] === undefined) throw new Error(`${name}: no file of the bundle is its own`)
    return own[0]
  }
}, 180_000)

afterAll(() => {
  rmSync(out, { recursive: true, force: true })
  rmSync(work, { recursive: true, force: true })
})

describe("the bundle, split per command", () => {
  it("is a directory of the entry, one file per command module and shared chunks; every command module is an entry of its own", () => {
    expect(built.files).toContain(bundleFile.slice(bundleDir.length + 1))
    expect(built.files).toEqual(readdirSync(out).sort())
    for (const name of commandNames) expect(Object.keys(built.loads), name).toContain(moduleOf[name])
    expect(built.files.length).toBeGreaterThan(commandNames.length)
  })

  it.each(commandNames.map((name) => [name]))("runs `%s --help`, loading the entry and that command's files only", (name) => {
    const run = runRecorded(join(out, "metallb-ts.mjs"), [name, "--help"], out)
    expect(run.status, run.output).toBe(0)
    expect(run.output).toContain(`metallb-ts ${name}`)
    // What Node loaded is what the bundle says this command loads: the entry, its chunks, this command's.
    expect(run.loaded).toEqual(built.loads[moduleOf[name]])
    expect(othersLoaded(run.loaded, name, entryFileOf)).toEqual([])
  }, 120_000)

  it("loads every command for the help of them all (the check above fires on a start that loads the others)", () => {
    const run = runRecorded(join(out, "metallb-ts.mjs"), ["--help"], out)
    expect(run.status, run.output).toBe(0)
    for (const name of commandNames) expect(run.output).toContain(name)
    expect(othersLoaded(run.loaded, undefined, entryFileOf)).toEqual([...commandNames])
  }, 120_000)

  it("finds the native addon from whichever chunk holds its loader, as the sources do (every file sits beside the entry)", () => {
    const found = built.files.flatMap((file) => {
      const m = /new URL\("([^"]*packet\.node)",new URL\("([^"]+)",import\.meta\.url\)/.exec(readFileSync(join(out, file), "utf8"))
      return m === null ? [] : [fileURLToPath(new URL(m[1]!, new URL(m[2]!, pathToFileURL(join(out, file)))))]
    })
    expect(found).toEqual([join(repoRoot, addonPath)])
  })

  it("makes the same files from the same sources, replacing a previous bundle whole", async () => {
    // A previous build's leftovers where the new one goes: gone after it, and nothing staged stays beside.
    mkdirSync(`${out}-again`)
    writeFileSync(join(`${out}-again`, "chunk-STALE.mjs"), "")
    const again = await buildBundle({ repoRoot, out: `${out}-again` })
    try {
      expect(again.files).toEqual(built.files)
      expect(readdirSync(`${out}-again`).sort()).toEqual(built.files)
      expect(readdirSync(join(repoRoot, "build")).filter((f) => f.startsWith(`bundle-test-${process.pid}-again.`))).toEqual([])
      for (const file of built.files) expect(readFileSync(join(`${out}-again`, file)).equals(readFileSync(join(out, file))), file).toBe(true)
    } finally {
      rmSync(`${out}-again`, { recursive: true, force: true })
    }
  }, 180_000)
})

describe("the .ts entry (shell/main/cli.ts)", () => {
  it.each((["validate", "crds", "sim"] as const).map((name) => [name]))("`%s --help` loads no other command's module", (name) => {
    const run = runRecorded("shell/main/cli.ts", [name, "--help"], repoRoot)
    expect(run.status, run.output).toBe(0)
    expect(run.loaded).toContain(moduleOf[name])
    expect(othersLoaded(run.loaded, name, (other) => moduleOf[other])).toEqual([])
  }, 120_000)
})
