// What a speaker knows of the cluster: services that hold addresses, where their endpoints run, and
// the nodes. Immutable snapshots built by the shell from informers (or by the simulator).
import type { Address } from "../net/address.ts"

export interface SpeakerService {
  /** namespace/name */
  readonly key: string
  readonly labels: Readonly<Record<string, string>>
  /** status.loadBalancer.ingress addresses. */
  readonly addresses: ReadonlyArray<Address>
  /** The pool the controller allocated from (metallb.io/ip-allocated-from-pool), when known. */
  readonly pool?: string
  readonly externalTrafficPolicy: "Cluster" | "Local"
  /** True when another service holds the same address (allow-shared-ip). */
  readonly sharedAddress: boolean
}

export interface EndpointView {
  readonly node: string
  /** EndpointSlice conditions.serving (falling back to ready). */
  readonly serving: boolean
}

export interface NodeView {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  /** The NetworkUnavailable condition is True. */
  readonly networkUnavailable: boolean
  /** Its InternalIP addresses (the BGP router ID of peers without routerID). */
  readonly addresses?: ReadonlyArray<Address>
}

export const excludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

export interface ClusterSnapshot {
  readonly services: ReadonlyArray<SpeakerService>
  readonly endpoints: ReadonlyMap<string, ReadonlyArray<EndpointView>>
  readonly nodes: ReadonlyArray<NodeView>
}

/**
 * What changed from one snapshot to the next, as the shell's informers saw it: the node machine decides
 * again only these services when it holds `since` (issue 17: a pass costs what changed). Every service of
 * the new snapshot not named here has the very view object and endpoint list object it had in `since`.
 */
export interface ClusterChanges {
  readonly since: ClusterSnapshot
  /** Services (namespace/name) updated, added or removed, or whose endpoint list is a new object: each with its view now (undefined: gone). */
  readonly services: ReadonlyMap<string, SpeakerService | undefined>
}

export const hasServingEndpoint = (snapshot: ClusterSnapshot, service: string, node?: string): boolean =>
  (snapshot.endpoints.get(service) ?? []).some((e) => e.serving && (node === undefined || e.node === node))

/**
 * The changes from `since` to `snapshot` found by comparing them (for a shell that does not follow the
 * objects one by one: the simulator): every service whose view or endpoint list is another object, added
 * or removed. Costs a comparison of references per service, not a decision.
 */
export const changesBetween = (since: ClusterSnapshot, snapshot: ClusterSnapshot): ClusterChanges => {
  const services = new Map<string, SpeakerService | undefined>()
  const [before, now] = [since.services, snapshot.services]
  const aligned = before.length === now.length && now.every((v, i) => v.key === before[i]!.key)
  const previous = aligned ? undefined : new Map(before.map((v) => [v.key, v]))
  now.forEach((view, i) => {
    const was = aligned ? before[i] : previous!.get(view.key)
    if (was !== view || since.endpoints.get(view.key) !== snapshot.endpoints.get(view.key)) services.set(view.key, view)
  })
  if (!aligned) {
    const present = new Set(now.map((v) => v.key))
    for (const view of before) if (!present.has(view.key)) services.set(view.key, undefined)
  }
  return { since, services }
}
