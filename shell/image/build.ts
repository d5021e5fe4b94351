// `npm run image [-- --out PATH]`: builds the metallb-ts image offline (no registry, no Docker, no
// download) from the pinned Node 24, the production node_modules and the built addon, and prints where
// it is, its name and digests, and its size. Load it with
//   ctr -n k8s.io images import build/metallb-ts-0.1.0.oci.tar    (containerd: docker.io/library/metallb-ts:0.1.0)
//   docker load -i build/metallb-ts-0.1.0.oci.tar                 (Docker: metallb-ts:0.1.0)
// From TypeScript: buildImage({ repoRoot }) in shell/image/image.ts returns the same facts.
import { join } from "node:path"
import { parseArgs } from "node:util"
import { buildImage } from "./image.ts"

const repoRoot = join(import.meta.dirname, "..", "..")
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

try {
  const { values } = parseArgs({ options: { out: { type: "string" } }, strict: true })
  const image = buildImage({ repoRoot, ...(values.out === undefined ? {} : { out: values.out }) })
  console.log(`image: ${image.path}`)
  console.log(`image: ${image.reference.short} (containerd: ${image.reference.full})`)
  console.log(`image: manifest ${image.manifest.digest}, config ${image.config.digest}`)
  console.log(`image: layer ${image.layer.digest}, ${mib(image.layer.size)} uncompressed; archive ${mib(image.archiveBytes)}`)
  console.log(`image: ${Object.entries(image.partBytes).map(([part, bytes]) => `${part} ${mib(bytes)}`).join(", ")}`)
  console.log(`image: built in ${(image.elapsedMs / 1000).toFixed(1)} s (production node_modules ${image.modulesReused ? "reused" : "installed"})`)
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error))
  process.exit(1)
}
