// What a cluster's owning process (spec/support/cluster-cli.ts `serve`) publishes about it, so other
// processes (the e2e test files, `npm run cluster -- status`) can use it: one JSON file per slot in
// <tmpdir>/metallb-ts-cluster/. Slot `cli` is `npm run cluster`'s; `run-<pid>` is a vitest run's.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Cluster } from "./cluster.ts"

export const clusterStateDir = join(tmpdir(), "metallb-ts-cluster")

export interface NodeState {
  readonly index: number
  readonly name: string
  readonly netns: string
  readonly ip4: string
  readonly ip6: string
  readonly mac: string
  readonly port: string
  readonly cgroupRoot: string
  readonly proxyMode: string
  readonly socket: string
  readonly logs: Readonly<Record<string, string>>
}

export interface ClusterState {
  readonly pid: number
  readonly slot: string
  readonly phase: "starting" | "ready" | "failed"
  readonly error?: string
  readonly owner?: number
  readonly third?: number
  readonly dir?: string
  readonly kubeconfig?: string
  readonly apiServer?: string
  readonly segmentNetns?: string
  readonly clientNetns?: string
  readonly routerNetns?: string
  readonly frrDir?: string
  readonly nodes?: ReadonlyArray<NodeState>
  /** The metallb-ts image tarball every node imported. */
  readonly image?: string
  /** Demo Services (`npm run cluster`): name -> ingress addresses. */
  readonly services?: Readonly<Record<string, ReadonlyArray<string>>>
}

/** A vitest run's slot: its cluster is owned by (and dies with) the vitest process `owner`. */
export const runSlot = (owner: number): string => `run-${owner}`

export const statePath = (slot: string) => join(clusterStateDir, `${slot}.json`)
export const logPath = (slot: string) => join(clusterStateDir, `${slot}.log`)

export const readState = (slot: string): ClusterState | undefined => {
  try {
    return JSON.parse(readFileSync(statePath(slot), "utf8")) as ClusterState
  } catch {
    return undefined
  }
}

/** Written to a temp file and renamed: a reader never sees half a state. */
export const writeState = (state: ClusterState): void => {
  mkdirSync(clusterStateDir, { recursive: true })
  const path = statePath(state.slot)
  writeFileSync(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`)
  renameSync(`${path}.tmp`, path)
}

export const readyState = (base: ClusterState, cluster: Cluster, image: string): ClusterState => ({
  ...base,
  phase: "ready",
  third: cluster.plan.third,
  dir: cluster.dir,
  kubeconfig: cluster.kubeconfigPath,
  apiServer: cluster.api.url,
  segmentNetns: cluster.segment.host.netns,
  clientNetns: cluster.client.netns,
  routerNetns: cluster.router.host.netns,
  frrDir: cluster.router.dir,
  image,
  nodes: cluster.nodes.map((n) => ({
    index: n.index,
    name: n.name,
    netns: n.host.netns,
    ip4: n.ip4,
    ip6: n.ip6,
    mac: n.mac,
    port: n.port,
    cgroupRoot: n.runtime.cgroupRoot,
    proxyMode: n.proxyMode,
    socket: n.runtime.socket,
    logs: Object.fromEntries(n.runtime.daemons().map((d) => [d.name, d.logPath])),
  })),
})
