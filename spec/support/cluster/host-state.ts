// What the cluster changes outside its namespaces, and how it is undone: the kernel tunables the
// kubelet insists on (it writes them machine-wide at start), the per-node cgroup roots (cgroup v1: one
// in every hierarchy; cgroup v2: one in the unified tree), and the mounts the kubelet and containerd
// make under the cluster's directories.
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

export type CgroupVersion = "v1" | "v2"

/**
 * The cgroup version this machine mounts: v2 has one tree with `cgroup.controllers` at its top; v1 a
 * tmpfs of per-controller hierarchies (its `unified/`, where present, holds no controllers). This
 * machine kind and CI's (the same) mount v1; the v2 path below follows the kernel's and the kubelet's
 * documented v2 interface and has not run here.
 */
export const cgroupVersion = (): CgroupVersion => (existsSync(join(cgroupRootDir, "cgroup.controllers")) ? "v2" : "v1")

/** cgroup v1 hierarchies (the kubelet's cgroupfs driver wants its cgroupRoot in each). */
const v1Hierarchies = (): ReadonlyArray<string> =>
  readdirSync(cgroupRootDir).filter((name) => name !== "unified" && existsSync(join(cgroupRootDir, name, "cgroup.procs")))

/** Where `path` (relative to the root cgroup) is for `controller`: v1 has a hierarchy per controller, v2 one tree. */
export const cgroupDir = (controller: string, path: string): string =>
  cgroupVersion() === "v2" ? join(cgroupRootDir, path) : join(cgroupRootDir, controller, path)

/** Every directory a cgroup named `path` has: one per v1 hierarchy, or the one of v2's tree. */
const cgroupDirs = (path: string): ReadonlyArray<string> =>
  cgroupVersion() === "v2" ? [join(cgroupRootDir, path)] : v1Hierarchies().map((h) => join(cgroupRootDir, h, path))

/**
 * How much CPU a node's pods may claim against the rest of the machine, in busy processes' worth. A
 * node's cgroup root sits beside every other process of the machine, and a cgroup weighs what one
 * process does by default (v1 cpu.shares 1024, v2 cpu.weight 100): with 20-odd runnable processes on
 * the 2 cores (other test files, builds) the three nodes' pods together got a few percent of the CPU,
 * the speakers answered membership probes hundreds of ms late, the others declared them dead for a
 * moment and took their addresses, and the client's open connections through the old owner were reset
 * by the new one (captured: a rollout at load 24, 8 of 2,860 requests reset, each after the client's
 * neighbour entry moved, dozens of suspicions per speaker). A real node gives its pods its own cores;
 * weighing each node as 16 processes restores that when they need it (the same rollout at load 24: 0
 * of 2,733 failed, no suspicion at all), while pods that idle take nothing from the others.
 */
export const nodeCpuWeightProcesses = 16

/** Creates `/<name>` (the node's cgroup root) with the node's CPU weight; v1: in every hierarchy, cpuset filled in. */
export const createCgroupRoot = (name: string): void => {
  if (cgroupVersion() === "v2") {
    // The kubelet's cgroupfs driver (runc's v2 manager) enables the controllers it needs below the node
    // root; the root's own subtree_control must offer them first.
    const available = readFileSync(join(cgroupRootDir, "cgroup.controllers"), "utf8").trim().split(/\s+/)
    const wanted = ["cpu", "cpuset", "io", "memory", "pids", "hugetlb"].filter((c) => available.includes(c))
    writeFileSync(join(cgroupRootDir, "cgroup.subtree_control"), wanted.map((c) => `+${c}`).join(" "))
    mkdirSync(join(cgroupRootDir, name), { recursive: true })
    writeFileSync(join(cgroupRootDir, name, "cpu.weight"), String(100 * nodeCpuWeightProcesses))
    return
  }
  for (const dir of cgroupDirs(name)) mkdirSync(dir, { recursive: true })
  const cpuset = join(cgroupRootDir, "cpuset")
  if (existsSync(join(cpuset, name))) {
    for (const file of ["cpuset.cpus", "cpuset.mems"]) writeFileSync(join(cpuset, name, file), readFileSync(join(cpuset, file), "utf8"))
  }
  writeFileSync(join(cgroupRootDir, "cpu", name, "cpu.shares"), String(1024 * nodeCpuWeightProcesses))
}

const cgroupDirsDeepestFirst = (dir: string): Array<string> => {
  if (!existsSync(dir)) return []
  const children = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => cgroupDirsDeepestFirst(join(dir, e.name)))
  return [...children, dir]
}

/** Kills every process in `/<name>` (the node's containers) and removes its cgroups in every hierarchy. */
export const removeCgroupRoot = async (name: string): Promise<void> => {
  const pidsRoot = cgroupDir("pids", name)
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
  for (const root of cgroupDirs(name)) {
    for (const dir of cgroupDirsDeepestFirst(root)) {
      try {
        rmdirSync(dir)
      } catch {
        // still busy; the stale sweep retries
      }
    }
  }
}

/** cgroup roots of the form `<prefix>...` at the top of the pids hierarchy, or v2's tree (for the stale sweep). */
export const cgroupRootsNamed = (prefix: string): ReadonlyArray<string> => {
  const pids = cgroupDir("pids", "")
  return existsSync(pids) ? readdirSync(pids).filter((name) => name.startsWith(prefix)) : []
}

/** A cgroup's memory in use and its processes' anonymous memory (v1 total_rss, v2 anon), in bytes. */
export const cgroupMemory = (path: string): { readonly usageBytes: number; readonly rssBytes: number } | undefined => {
  const dir = cgroupDir("memory", path)
  if (!existsSync(dir)) return undefined
  const v2 = cgroupVersion() === "v2"
  const usageBytes = Number(readFileSync(join(dir, v2 ? "memory.current" : "memory.usage_in_bytes"), "utf8"))
  const rss = new RegExp(`^${v2 ? "anon" : "total_rss"} (\\d+)$`, "m").exec(readFileSync(join(dir, "memory.stat"), "utf8"))?.[1]
  return { usageBytes, rssBytes: Number(rss ?? 0) }
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
