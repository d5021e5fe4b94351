// Container images without a registry: a root filesystem packed as a one-layer OCI image layout
// tarball (what `ctr images import` reads), deterministic (sorted entries, mtime 0, root-owned, fixed
// creation date), so the same files give the same digest. The test image built here is pause
// (Kubernetes' own pause.c from the module cache, linked statically); the web pods run the metallb-ts
// image's Node (metallb.ts `webDeploymentYaml`).
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { kubeVersion } from "../apiserver.ts"
import { run } from "../netns.ts"

export const pauseImage = "mlbt.local/pause:3.10"
const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex")

/** Packs `rootfs` into an OCI layout tarball at `out` named `ref`; `config` is the image config's `config`. */
export const buildOciImage = async (rootfs: string, out: string, ref: string, config: Readonly<Record<string, unknown>>): Promise<string> => {
  const work = `${out}.work`
  rmSync(work, { recursive: true, force: true })
  const blobs = join(work, "blobs", "sha256")
  mkdirSync(blobs, { recursive: true })
  const tarFlags = ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner"]
  const layerPath = join(work, "layer.tar")
  await run("tar", [...tarFlags, "-C", rootfs, "-cf", layerPath, "."], { timeoutMs: 120_000 })
  const layer = readFileSync(layerPath)
  const layerDigest = sha256(layer)
  renameSync(layerPath, join(blobs, layerDigest))
  const blob = (json: unknown) => {
    const text = JSON.stringify(json)
    const digest = sha256(text)
    writeFileSync(join(blobs, digest), text)
    return { digest: `sha256:${digest}`, size: Buffer.byteLength(text) }
  }
  const epoch = "1970-01-01T00:00:00Z"
  const imageConfig = blob({
    architecture: "amd64",
    os: "linux",
    created: epoch,
    config,
    rootfs: { type: "layers", diff_ids: [`sha256:${layerDigest}`] },
    history: [{ created: epoch, created_by: "spec/support/cluster/images.ts" }],
  })
  const manifest = blob({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...imageConfig },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: `sha256:${layerDigest}`, size: layer.length }],
  })
  const tag = ref.slice(ref.lastIndexOf(":") + 1)
  writeFileSync(join(work, "index.json"), JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      ...manifest,
      platform: { architecture: "amd64", os: "linux" },
      annotations: { "io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag },
    }],
  }))
  writeFileSync(join(work, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }))
  await run("tar", [...tarFlags, "-C", work, "-cf", out, "oci-layout", "index.json", "blobs"], { timeoutMs: 120_000 })
  rmSync(work, { recursive: true, force: true })
  return manifest.digest
}

const goModCache = (): string => execFileSync("go", ["env", "GOMODCACHE"], { encoding: "utf8" }).trim()

/** The pause image: pause.c of the Kubernetes version the testbed builds (in the Go module cache). */
const buildPause = async (dir: string, out: string): Promise<void> => {
  const source = join(goModCache(), `k8s.io/kubernetes@${kubeVersion()}`, "build/pause/linux/pause.c")
  if (!existsSync(source)) throw new Error(`no ${source}: run \`bash .ci/kube-binaries\` (it downloads the k8s.io/kubernetes module)`)
  const rootfs = join(dir, "pause-rootfs")
  rmSync(rootfs, { recursive: true, force: true })
  mkdirSync(rootfs, { recursive: true })
  await run("gcc", ["-Os", "-static", "-DVERSION=v3.10-mlbt", "-o", join(rootfs, "pause"), source], { timeoutMs: 60_000 })
  await run("strip", [join(rootfs, "pause")])
  await buildOciImage(rootfs, out, pauseImage, { Entrypoint: ["/pause"], User: "65535:65535" })
}

/** Builds the pause image into `dir`; returns the tarballs' paths. */
export const buildTestImages = async (dir: string): Promise<ReadonlyArray<string>> => {
  mkdirSync(dir, { recursive: true })
  const pause = join(dir, "pause.tar")
  await buildPause(dir, pause)
  return [pause]
}
