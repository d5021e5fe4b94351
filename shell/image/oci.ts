// An OCI image layout archive of a one-layer image: oci-layout, index.json and blobs/sha256/* (what
// `ctr images import` reads), plus manifest.json in `docker save` form pointing at the same blobs (what
// `docker load` of Docker before 25 reads; later ones read either). The layer is an uncompressed tar, so
// its digest is also its diff_id. Every JSON document is written with a fixed key order and no clock:
// `created` is the epoch, like the layer's mtimes.
import { createHash } from "node:crypto"
import { writeTar, type TarEntry } from "./tar.ts"

export const mediaTypes = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar",
} as const

export const fixedCreated = "1970-01-01T00:00:00Z"

/** The image config's `config` object (the OCI names, which Docker's are). */
export interface RuntimeConfig {
  readonly User: string
  readonly Env: ReadonlyArray<string>
  readonly Entrypoint: ReadonlyArray<string>
  readonly Cmd: ReadonlyArray<string>
  readonly WorkingDir: string
}

export interface ImageReference {
  /** The tag: 0.1.0. */
  readonly tag: string
  /** What manifests use and `docker load` tags: metallb-ts:0.1.0. */
  readonly short: string
  /** What containerd (and the kubelet's CRI) calls it: docker.io/library/metallb-ts:0.1.0. */
  readonly full: string
}

export interface Descriptor {
  readonly mediaType: string
  readonly digest: string
  readonly size: number
}

export interface Layer {
  readonly path: string
  readonly digest: string
  readonly size: number
}

export interface OciArchive {
  readonly size: number
  readonly manifest: Descriptor
  readonly config: Descriptor
}

const goArch: Record<string, string> = { x64: "amd64", arm64: "arm64" }

export const imageArchitecture = (): string => {
  const arch = goArch[process.arch]
  if (arch === undefined) throw new Error(`image: no OCI architecture name for Node's ${process.arch}`)
  return arch
}

const blob = (mediaType: string, value: unknown): { readonly descriptor: Descriptor; readonly data: Uint8Array } => {
  const data = new TextEncoder().encode(JSON.stringify(value))
  return { descriptor: { mediaType, digest: `sha256:${createHash("sha256").update(data).digest("hex")}`, size: data.length }, data }
}

const blobPath = (digest: string): string => `blobs/sha256/${digest.slice("sha256:".length)}`

const jsonFile = (path: string, value: unknown): TarEntry => {
  const data = new TextEncoder().encode(JSON.stringify(value))
  return { type: "file", path, mode: 0o644, size: data.length, data }
}

/** Writes the archive to `out`, named for containerd (index.json) and for `docker load` (manifest.json). */
export const writeOciArchive = (out: string, layer: Layer, runtime: RuntimeConfig, reference: ImageReference, createdBy: string): OciArchive => {
  const architecture = imageArchitecture()
  const config = blob(mediaTypes.config, {
    created: fixedCreated,
    architecture,
    os: "linux",
    config: runtime,
    rootfs: { type: "layers", diff_ids: [layer.digest] },
    history: [{ created: fixedCreated, created_by: createdBy }],
  })
  const manifest = blob(mediaTypes.manifest, {
    schemaVersion: 2,
    mediaType: mediaTypes.manifest,
    config: config.descriptor,
    layers: [{ mediaType: mediaTypes.layer, digest: layer.digest, size: layer.size }],
  })
  const index = {
    schemaVersion: 2,
    mediaType: mediaTypes.index,
    manifests: [{ ...manifest.descriptor, platform: { architecture, os: "linux" }, annotations: { "io.containerd.image.name": reference.full, "org.opencontainers.image.ref.name": reference.tag } }],
  }
  const dockerManifest = [{ Config: blobPath(config.descriptor.digest), RepoTags: [reference.short], Layers: [blobPath(layer.digest)] }]
  const blobFile = (b: { readonly descriptor: Descriptor; readonly data: Uint8Array }): TarEntry => ({ type: "file", path: blobPath(b.descriptor.digest), mode: 0o644, size: b.data.length, data: b.data })
  const entries: Array<TarEntry> = [
    { type: "directory", path: "blobs", mode: 0o755 },
    { type: "directory", path: "blobs/sha256", mode: 0o755 },
    ...[blobFile(config), blobFile(manifest), { type: "file", path: blobPath(layer.digest), mode: 0o644, size: layer.size, source: layer.path } as const].sort((a, b) => (a.path < b.path ? -1 : 1)),
    jsonFile("index.json", index),
    jsonFile("manifest.json", dockerManifest),
    jsonFile("oci-layout", { imageLayoutVersion: "1.0.0" }),
  ]
  const written = writeTar(out, entries)
  return { size: written.size, manifest: manifest.descriptor, config: config.descriptor }
}
