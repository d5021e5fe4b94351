// The files of the metallb-ts image, as tar entries: the pinned Node binary at /usr/local/bin/node, the
// shared libraries it and the addon link against (with the dynamic loader) copied from this machine at
// the paths `ldd` names, /etc/passwd and /etc/group with root and nobody (65534), /etc/nsswitch.conf,
// /tmp, and under /app what manifests/Dockerfile copies: package.json, core/, shell/ (without local
// builds and logs), the production node_modules, the built addon and the bundle the entry point runs
// (shell/image/bundle.ts; the sources and packages stay for `node shell/main/cli.ts` when debugging).
//
// Nothing else: no shell, no npm, no Node headers, no CA bundle. metallb-ts reaches only the API server,
// whose CA the in-cluster config reads from the service account mount, and it runs no other program (the
// speaker reads interfaces from /sys/class/net and sends frames through the addon's AF_PACKET sockets).
import { spawnSync } from "node:child_process"
import { closeSync, existsSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, realpathSync, statSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join, posix } from "node:path"
import { bundleDir, bundleFile } from "./bundle.ts"
import type { TarEntry } from "./tar.ts"

export const imageNodePath = "usr/local/bin/node"
export const imageAppDir = "app"
/** Under the repository root: what the image copies of the working tree (besides node_modules). */
export const appSources: ReadonlyArray<string> = ["package.json", "core", "shell"]
/** Working-tree paths never copied (manifests/Dockerfile.dockerignore says the same). */
export const excludedSource = (repoPath: string): boolean =>
  repoPath === "shell/native/build" || repoPath.startsWith("shell/native/build/") || repoPath.endsWith(".log")
export const addonPath = "shell/native/build/Release/packet.node"

/** Where a part of the image came from, for the size report. */
export type ImagePart = "node" | "libraries" | "system files" | "node_modules" | "sources" | "addon" | "bundle"

export interface RootfsEntry {
  readonly entry: TarEntry
  readonly part: ImagePart
}

const textFile = (path: string, text: string, part: ImagePart): RootfsEntry => {
  const data = new TextEncoder().encode(text)
  return { entry: { type: "file", path, mode: 0o644, size: data.length, data }, part }
}

/** A regular file's mode in the image: executable or not, nothing else of the working tree's. */
const fileMode = (hostMode: number): number => ((hostMode & 0o111) !== 0 ? 0o755 : 0o644)

/** Every file, symlink and directory under `hostDir`, placed under `imageDir`; `skip` sees paths relative to `hostDir`. */
const tree = (hostDir: string, imageDir: string, part: ImagePart, skip: (relativePath: string) => boolean = () => false): Array<RootfsEntry> => {
  const out: Array<RootfsEntry> = []
  const walk = (relativeDir: string) => {
    for (const name of readdirSync(join(hostDir, relativeDir)).sort()) {
      const relativePath = relativeDir === "" ? name : `${relativeDir}/${name}`
      if (skip(relativePath)) continue
      const hostPath = join(hostDir, relativePath)
      const imagePath = posix.join(imageDir, relativePath)
      const stat = lstatSync(hostPath)
      if (stat.isSymbolicLink()) out.push({ entry: { type: "symlink", path: imagePath, target: readlinkSync(hostPath) }, part })
      else if (stat.isDirectory()) {
        out.push({ entry: { type: "directory", path: imagePath, mode: 0o755 }, part })
        walk(relativePath)
      } else if (stat.isFile()) out.push({ entry: { type: "file", path: imagePath, mode: fileMode(stat.mode), size: stat.size, source: hostPath }, part })
      else throw new Error(`image: ${hostPath} is neither a file, a directory nor a symlink; it cannot go into the image`)
    }
  }
  walk("")
  return out
}

const hostFile = (hostPath: string, imagePath: string, part: ImagePart): RootfsEntry => {
  const stat = statSync(hostPath) // follows symlinks: the image gets the content, at the path asked for
  return { entry: { type: "file", path: imagePath, mode: fileMode(stat.mode), size: stat.size, source: hostPath }, part }
}

/** The ELF binary of the pinned Node: node_modules/.bin/node is the npm package's link to it. */
export const pinnedNodeBinary = (repoRoot: string): string => {
  const require = createRequire(join(repoRoot, "package.json"))
  let nodePackage: string
  try {
    nodePackage = dirname(require.resolve("node/package.json"))
  } catch {
    throw new Error("image: the npm package `node` (the pinned Node 24) is not installed; run `npm ci`")
  }
  const binary = realpathSync(join(nodePackage, "bin", "node"))
  const magic = Buffer.alloc(4)
  const fd = openSync(binary, "r")
  try {
    readSync(fd, magic, 0, 4, 0)
  } finally {
    closeSync(fd)
  }
  if (!magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) throw new Error(`image: ${binary} is not an ELF binary; reinstall the pinned Node with \`npm rebuild node\``)
  return binary
}

/** The shared objects `ldd` says `binary` loads (the loader included, the kernel's vDSO not). */
export const sharedLibraries = (binary: string): Array<string> => {
  const result = spawnSync("ldd", [binary], { encoding: "utf8" })
  if (result.error !== undefined) throw new Error(`image: could not run ldd on ${binary}: ${result.error.message}`)
  if (result.status !== 0) throw new Error(`image: ldd ${binary} failed: ${result.stderr}${result.stdout}`)
  const libraries: Array<string> = []
  for (const line of result.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "")) {
    if (line.includes("not found")) throw new Error(`image: ${binary} needs a library this machine lacks: ${line}`)
    const path = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line)?.[1]
    if (path !== undefined) libraries.push(path)
    else if (!/^linux-vdso\.so|^linux-gate\.so/.test(line) && !line.includes("statically linked")) throw new Error(`image: cannot read ldd's line for ${binary}: ${line}`)
  }
  return libraries
}

const passwd = "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
const group = "root:x:0:\nnogroup:x:65534:\n"
// The kubelet mounts /etc/hosts and /etc/resolv.conf; look names up there, hosts first, as Debian does.
const nsswitch = "passwd: files\ngroup: files\nhosts: files dns\n"

/** Every entry of the image but the directories that only hold others (see withParents); `bundlePath` is the directory buildBundle wrote. */
export const rootfsEntries = (repoRoot: string, productionModulesDir: string, bundlePath: string): Array<RootfsEntry> => {
  const node = pinnedNodeBinary(repoRoot)
  const addon = join(repoRoot, addonPath)
  try {
    statSync(addon)
  } catch {
    throw new Error(`image: the native addon is not built (no ${addonPath}); run \`npm run build:native\``)
  }
  const entryPoint = join(bundlePath, posix.relative(bundleDir, bundleFile))
  if (!existsSync(entryPoint)) throw new Error(`image: ${bundlePath} is not a bundle (no ${posix.relative(bundleDir, bundleFile)}); run \`npm run bundle\``)
  const libraries = [...new Set([...sharedLibraries(node), ...sharedLibraries(addon)])]
  const app = (path: string) => posix.join(imageAppDir, path)
  const entries: Array<RootfsEntry> = [
    hostFile(node, imageNodePath, "node"),
    ...libraries.map((library) => hostFile(library, library.slice(1), "libraries")),
    textFile("etc/passwd", passwd, "system files"),
    textFile("etc/group", group, "system files"),
    textFile("etc/nsswitch.conf", nsswitch, "system files"),
    { entry: { type: "directory", path: "tmp", mode: 0o1777 }, part: "system files" },
    ...appSources.flatMap((source) => {
      const stat = lstatSync(join(repoRoot, source))
      if (!stat.isDirectory()) return [hostFile(join(repoRoot, source), app(source), "sources")]
      return [
        { entry: { type: "directory", path: app(source), mode: 0o755 }, part: "sources" } as RootfsEntry,
        ...tree(join(repoRoot, source), app(source), "sources", (p) => excludedSource(`${source}/${p}`)),
      ]
    }),
    { entry: { type: "directory", path: app("node_modules"), mode: 0o755 }, part: "node_modules" },
    ...tree(productionModulesDir, app("node_modules"), "node_modules"),
    hostFile(addon, app(addonPath), "addon"),
    { entry: { type: "directory", path: app(bundleDir), mode: 0o755 }, part: "bundle" },
    ...tree(bundlePath, app(bundleDir), "bundle"),
  ]
  return withParents(entries)
}

/** The entries plus a directory entry (0755) for every parent that has none, so extraction needs no guessing. */
const withParents = (entries: ReadonlyArray<RootfsEntry>): Array<RootfsEntry> => {
  const paths = new Set(entries.map((e) => e.entry.path.replace(/\/$/, "")))
  const parents: Array<RootfsEntry> = []
  for (const { entry } of entries) {
    for (let dir = posix.dirname(entry.path); dir !== "." && dir !== "/"; dir = posix.dirname(dir)) {
      if (paths.has(dir)) continue
      paths.add(dir)
      parents.push({ entry: { type: "directory", path: dir, mode: 0o755 }, part: "system files" })
    }
  }
  const all = [...entries, ...parents]
  const seen = new Set<string>()
  for (const { entry } of all) {
    const path = entry.path.replace(/\/$/, "")
    if (seen.has(path)) throw new Error(`image: ${path} would be in the image twice`)
    seen.add(path)
  }
  return all
}
