// Builds the metallb-ts image offline (`npm run image`; shell/image/build.ts is the command line): one
// uncompressed layer (rootfs.ts) in an OCI layout archive (oci.ts) that `ctr -n k8s.io images import`
// and `docker load` accept, tagged metallb-ts:<package.json version>, the name manifests/base and the
// Helm chart use. Same inputs (sources, lockfile, Node binary, this machine's libraries), same digest.
//
// Uncompressed on purpose: the archive goes from this disk to a containerd on the same machine, so gzip
// would only cost seconds of CPU at build and again at unpack on two cores, and it would make the digest
// depend on the zlib build as well.
import { spawnSync } from "node:child_process"
import { mkdirSync, readFileSync, renameSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { bundleFile } from "./bundle.ts"
import { type Descriptor, type ImageReference, writeOciArchive, type RuntimeConfig } from "./oci.ts"
import { defaultModulesCache, productionModules } from "./production-modules.ts"
import { type ImagePart, rootfsEntries } from "./rootfs.ts"
import { sortTarEntries, writeTar } from "./tar.ts"

/** What manifests/Dockerfile's runtime stage sets (spec/manifests/image.test.ts compares them). */
export const runtimeConfig: RuntimeConfig = {
  User: "65534:65534",
  Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NODE_ENV=production"],
  // The bundle (shell/image/bundle.ts): a fraction of the start-up memory and CPU of the .ts entry.
  Entrypoint: ["node", bundleFile],
  Cmd: ["--help"],
  WorkingDir: "/app",
}

export const imageName = "metallb-ts"
export type { ImageReference }

export const imageReference = (repoRoot: string): ImageReference => {
  const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version?: unknown }).version
  if (typeof version !== "string" || !/^[\w][\w.-]{0,127}$/.test(version)) throw new Error(`image: package.json version ${JSON.stringify(version)} is not a valid image tag`)
  return { tag: version, short: `${imageName}:${version}`, full: `docker.io/library/${imageName}:${version}` }
}

export const defaultImagePath = (repoRoot: string): string => join(repoRoot, "build", `${imageName}-${imageReference(repoRoot).tag}.oci.tar`)

export interface BuildImageOptions {
  readonly repoRoot: string
  /** Where the archive goes (default build/metallb-ts-<version>.oci.tar); replaced atomically. */
  readonly out?: string
  /** Where production node_modules are kept per lockfile (default ~/.cache/metallb-ts/image). */
  readonly modulesCache?: string
}

export interface BuiltImage {
  readonly path: string
  readonly reference: ImageReference
  readonly manifest: Descriptor
  readonly config: Descriptor
  readonly layer: { readonly digest: string; readonly size: number }
  readonly archiveBytes: number
  /** File bytes per part of the image (headers and padding not counted). */
  readonly partBytes: Readonly<Record<ImagePart, number>>
  readonly modulesReused: boolean
  readonly elapsedMs: number
}

/** `npm run bundle -- --out DIR` of the sources at repoRoot (esbuild's plugins need its async API, so a process of its own). */
const makeBundle = (repoRoot: string, out: string): void => {
  const result = spawnSync(process.execPath, [join(repoRoot, "shell/image/bundle.ts"), "--out", out], { cwd: repoRoot, encoding: "utf8" })
  if (result.status !== 0) throw new Error(`image: building the bundle failed: ${result.stderr}${result.stdout}${result.error?.message ?? ""}`)
}

export const buildImage = (options: BuildImageOptions): BuiltImage => {
  const started = performance.now()
  const reference = imageReference(options.repoRoot)
  const out = options.out ?? defaultImagePath(options.repoRoot)
  mkdirSync(dirname(out), { recursive: true })
  const modules = productionModules(options.repoRoot, options.modulesCache ?? defaultModulesCache())
  const scratch = `${out}.${process.pid}`
  const bundlePath = `${scratch}.bundle`
  makeBundle(options.repoRoot, bundlePath)
  const rootfs = rootfsEntries(options.repoRoot, modules.path, bundlePath)
  const partBytes: Record<ImagePart, number> = { node: 0, libraries: 0, "system files": 0, node_modules: 0, sources: 0, addon: 0, bundle: 0 }
  for (const { entry, part } of rootfs) if (entry.type === "file") partBytes[part] += entry.size

  const layerPath = `${scratch}.layer`
  try {
    const layer = writeTar(layerPath, sortTarEntries(rootfs.map((r) => r.entry)))
    const archive = writeOciArchive(`${scratch}.tar`, { path: layerPath, ...layer }, runtimeConfig, reference, "npm run image (shell/image/build.ts)")
    renameSync(`${scratch}.tar`, out)
    return {
      path: out,
      reference,
      manifest: archive.manifest,
      config: archive.config,
      layer,
      archiveBytes: archive.size,
      partBytes,
      modulesReused: modules.reused,
      elapsedMs: performance.now() - started,
    }
  } finally {
    rmSync(layerPath, { force: true })
    rmSync(`${scratch}.tar`, { force: true })
    rmSync(bundlePath, { recursive: true, force: true })
  }
}
