// What the cluster changes outside its namespaces, and how it is undone: the kernel tunables the
// kubelet insists on (it writes them machine-wide at start), the per-node cgroup roots (cgroup v1:
// every hierarchy), and the mounts the kubelet and containerd make under the cluster's directories.
// The tunables' original values are recorded once, by the first cluster of the machine, and written
// back when the last live cluster goes away (clusters of concurrent runs share them).
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { run, sleep } from "../netns.ts"

/** The kubelet's `setupKernelTunables` (pkg/kubelet/cm): these and only these (protectKernelDefaults off). */
export const kubeletTunables = [
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
] as const

const registryDir = join(tmpdir(), "metallb-ts-cluster")
const tunablesPath = join(registryDir, "kernel-tunables.json")

const readTunables = (): Record<string, string> =>
  Object.fromEntries(kubeletTunables.map((key) => [key, readFileSync(`/proc/sys/${key}`, "utf8").trim()]))

/** Records the tunables' values unless a live cluster already did (then they may be the kubelet's already). */
export const recordKernelTunables = (): void => {
  mkdirSync(registryDir, { recursive: true })
  try {
    writeFileSync(tunablesPath, JSON.stringify(readTunables()), { flag: "wx" })
  } catch {
    // recorded by an earlier cluster, whose values are the machine's own
  }
}

/** Writes the recorded values back and forgets them; returns what was changed (key: kubelet's -> original). */
export const restoreKernelTunables = (): ReadonlyArray<string> => {
  if (!existsSync(tunablesPath)) return []
  const recorded = JSON.parse(readFileSync(tunablesPath, "utf8")) as Record<string, string>
  const now = readTunables()
  const changed: Array<string> = []
  for (const key of kubeletTunables) {
    const value = recorded[key]
    if (value === undefined || value === now[key]) continue
    writeFileSync(`/proc/sys/${key}`, value)
    changed.push(`${key}: ${now[key]} -> ${value}`)
  }
  rmSync(tunablesPath, { force: true })
  return changed
}

const cgroupRootDir = "/sys/fs/cgroup"

/** cgroup v1 hierarchies (the kubelet's cgroupfs driver wants its cgroupRoot in each). */
const hierarchies = (): ReadonlyArray<string> => {
  if (existsSync(join(cgroupRootDir, "cgroup.controllers"))) {
    throw new Error("the cluster testbed supports cgroup v1 only (this machine mounts cgroup v2 at /sys/fs/cgroup)")
  }
  return readdirSync(cgroupRootDir).filter((name) => name !== "unified" && existsSync(join(cgroupRootDir, name, "cgroup.procs")))
}

/** Creates `/<name>` in every hierarchy; cpuset needs its cpus and mems filled in before use. */
export const createCgroupRoot = (name: string): void => {
  for (const h of hierarchies()) mkdirSync(join(cgroupRootDir, h, name), { recursive: true })
  const cpuset = join(cgroupRootDir, "cpuset")
  if (existsSync(join(cpuset, name))) {
    for (const file of ["cpuset.cpus", "cpuset.mems"]) writeFileSync(join(cpuset, name, file), readFileSync(join(cpuset, file), "utf8"))
  }
}

const cgroupDirsDeepestFirst = (dir: string): Array<string> => {
  if (!existsSync(dir)) return []
  const children = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => cgroupDirsDeepestFirst(join(dir, e.name)))
  return [...children, dir]
}

/** Kills every process in `/<name>` (the node's containers) and removes its cgroups in every hierarchy. */
export const removeCgroupRoot = async (name: string): Promise<void> => {
  const pidsRoot = join(cgroupRootDir, "pids", name)
  for (let attempt = 0; attempt < 20; attempt++) {
    const pids = cgroupDirsDeepestFirst(pidsRoot).flatMap((d) => readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean))
    if (pids.length === 0) break
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL")
      } catch {
        // gone
      }
    }
    await sleep(100)
  }
  for (const h of existsSync(cgroupRootDir) ? hierarchies() : []) {
    for (const dir of cgroupDirsDeepestFirst(join(cgroupRootDir, h, name))) {
      try {
        rmdirSync(dir)
      } catch {
        // still busy; the stale sweep retries
      }
    }
  }
}

/** cgroup roots of the form `<prefix>...` at the top of the pids hierarchy (for the stale sweep). */
export const cgroupRootsNamed = (prefix: string): ReadonlyArray<string> => {
  const pids = join(cgroupRootDir, "pids")
  return existsSync(pids) ? readdirSync(pids).filter((name) => name.startsWith(prefix)) : []
}

/** Unmounts (lazily, deepest first) everything mounted under the given directories. */
export const unmountUnder = async (dirs: ReadonlyArray<string>): Promise<void> => {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((point) => dirs.some((dir) => point === dir || point.startsWith(`${dir}/`)))
    .sort()
    .reverse()
  for (const point of mounts) await run("umount", ["-l", point]).catch(() => undefined)
}

/** Suffix of a tree being deleted in the background. */
export const removingSuffix = ".removing"

/**
 * Removes a directory tree after unmounting (lazily) whatever is mounted under it. The deletion itself
 * (containerd roots hold every image unpacked: over a minute of disk work) runs in a detached `rm`
 * after the tree is renamed out of the way, so closing a cluster does not wait for it.
 */
export const removeTree = async (dir: string): Promise<void> => {
  await unmountUnder([dir])
  if (!existsSync(dir)) return
  const doomed = `${dir}${removingSuffix}-${process.pid}-${Date.now()}`
  renameSync(dir, doomed)
  spawn("rm", ["-rf", doomed], { detached: true, stdio: "ignore" }).unref()
}
