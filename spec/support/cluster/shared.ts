// The e2e tests' cluster: one per test run, for spec/e2e/cluster-e2e.test.ts (and any other file of
// the run that asks), started lazily by the first file that asks (so a run without those files starts nothing)
// and removed at the end of the run by the global teardown (global-setup.ts), or by itself when the
// run's process dies. It lives in its own process (spec/support/cluster-cli.ts `serve`) because test
// files run in separate workers. Files take it one at a time (an exclusive use lock): they install
// and uninstall metallb-ts and pull nodes' cables, which must not interleave.
import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { inject } from "vitest"
import { kubeBinDir } from "../apiserver.ts"
import { type Host, isAlive, Lab, sleep } from "../netns.ts"
import { logTail } from "./daemon.ts"
import type { Kubectl } from "./metallb.ts"
import { type ClusterPlan, clusterPlan } from "./plan.ts"
import { spawnServe, waitReady } from "./slot.ts"
import { type ClusterState, clusterStateDir, logPath, type NodeState, readState, runSlot, writeState } from "./state.ts"

declare module "vitest" {
  export interface ProvidedContext {
    /** The vitest process of this run: it owns the run's cluster (global-setup.ts). */
    clusterOwner: number
  }
}

export interface SharedNode extends NodeState {
  readonly host: Host
  /** The tail of this node's kubelet log. */
  readonly kubeletTail: (lines?: number) => string
}

export interface SharedCluster {
  readonly state: ClusterState
  readonly plan: ClusterPlan
  readonly kubeconfig: string
  readonly kubectl: Kubectl
  readonly nodes: ReadonlyArray<SharedNode>
  readonly nodeNamed: (name: string) => SharedNode
  readonly client: Host
  readonly router: Host
  readonly segment: Host
  readonly frrDir: string
  readonly kubeletTail: (nodeName: string) => string
  /** Gives the cluster to the next test file; stops what this file spawned in its namespaces. */
  readonly release: () => Promise<void>
}

/** The vitest process (provided by global-setup.ts; a worker's parent when run without it). */
const ownerOfRun = (): number => {
  try {
    return inject("clusterOwner") ?? process.ppid
  } catch {
    return process.ppid
  }
}

/** Takes a lock directory (mkdir is atomic), taking over one whose holder died; returns its release. */
const acquireLock = async (path: string): Promise<() => void> => {
  mkdirSync(clusterStateDir, { recursive: true })
  for (;;) {
    try {
      mkdirSync(path)
      writeFileSync(join(path, "pid"), String(process.pid))
      return () => rmSync(path, { recursive: true, force: true })
    } catch {
      let holder = 0
      try {
        holder = Number(readFileSync(join(path, "pid"), "utf8"))
      } catch {
        // being created or removed
      }
      // The same process: an earlier file of this worker that failed before releasing it.
      if (holder > 0 && (!isAlive(holder) || holder === process.pid)) rmSync(path, { recursive: true, force: true })
      await sleep(200)
    }
  }
}

const makeKubectl = (kubeconfig: string): Kubectl => (args, input) =>
  execFileSync(join(kubeBinDir(), "kubectl"), [`--kubeconfig=${kubeconfig}`, ...args], {
    encoding: "utf8",
    timeout: 120_000,
    stdio: "pipe",
    ...(input === undefined ? {} : { input }),
  })

/**
 * The run's cluster, started if this is the first file to ask, held exclusively until `release()`.
 * Call in `beforeAll` with a long timeout: the first call brings the cluster up (about 2 minutes), later
 * ones may wait for the file before them.
 */
export const useCluster = async (timeoutMs = 600_000): Promise<SharedCluster> => {
  const owner = ownerOfRun()
  const slot = runSlot(owner)
  const releaseStart = await acquireLock(join(clusterStateDir, `${slot}.start`))
  let pid: number
  try {
    const existing = readState(slot)
    // One attempt per run: the files after the first failure report it instead of starting again.
    if (existing?.phase === "failed") throw new Error(`this run's cluster failed to start (pid ${existing.pid}): ${existing.error ?? "no error recorded"}; see ${logPath(slot)}`)
    if (existing !== undefined && isAlive(existing.pid)) {
      pid = existing.pid
    } else {
      pid = spawnServe(slot, ["--owner", String(owner)])
      // Recorded before the lock is released: the next file must find this process, not start another
      // (the child writes its own state only once it has loaded, about a second later).
      writeState({ pid, slot, phase: "starting", owner })
    }
  } finally {
    releaseStart()
  }
  const state = await waitReady(slot, pid, timeoutMs)
  let releaseUse: (() => void) | undefined = await acquireLock(join(clusterStateDir, `${slot}.use`))
  const lab = await Lab.create("clusteruse")
  const adopt = (netns: string | undefined, name: string) => {
    if (netns === undefined) throw new Error(`cluster state ${slot} names no ${name} namespace`)
    return lab.adopt(netns, name)
  }
  if (state.third === undefined || state.kubeconfig === undefined || state.nodes === undefined || state.frrDir === undefined) {
    throw new Error(`cluster state ${slot} is incomplete: ${JSON.stringify(state)}`)
  }
  const nodes = state.nodes.map((n) => ({
    ...n,
    host: adopt(n.netns, n.name),
    kubeletTail: (lines = 30) => logTail(n.logs["kubelet"] ?? "", lines),
  }))
  const nodeNamed = (name: string) => {
    const node = nodes.find((n) => n.name === name)
    if (node === undefined) throw new Error(`no node ${name} in the cluster (${nodes.map((n) => n.name).join(", ")})`)
    return node
  }
  return {
    state,
    plan: clusterPlan(state.third),
    kubeconfig: state.kubeconfig,
    kubectl: makeKubectl(state.kubeconfig),
    nodes,
    nodeNamed,
    client: adopt(state.clientNetns, "client"),
    router: adopt(state.routerNetns, "router"),
    segment: adopt(state.segmentNetns, "segment"),
    frrDir: state.frrDir,
    kubeletTail: (name) => nodeNamed(name).kubeletTail(),
    release: async () => {
      await lab.close()
      releaseUse?.()
      releaseUse = undefined
    },
  }
}
