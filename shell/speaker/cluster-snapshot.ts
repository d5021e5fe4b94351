// The speaker's view of the cluster (core/speaker/view.ts) from the informers' caches: LoadBalancer
// Services of our class with their ingress addresses, where their endpoints run, and the nodes with
// their labels, NetworkUnavailable condition and InternalIP addresses. A speaker's `ClusterSnapshots`
// follows the informers' events and also says what changed since its previous snapshot
// (ClusterChanged.changes), so the node machine decides again only those services and a snapshot costs
// what changed, not the number of Services (issue 17).
import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node"
import { Result } from "effect"
import { allocatedFromPoolAnnotation } from "../../core/controller/service.ts"
import { type Address, parseAddress } from "../../core/net/address.ts"
import { LayeredMap } from "../../core/collections/layered-map.ts"
import type { ClusterChanges, ClusterSnapshot, EndpointView, NodeView, SpeakerService } from "../../core/speaker/view.ts"

const parseAll = (ips: ReadonlyArray<string>): ReadonlyArray<Address> =>
  ips.flatMap((ip) => {
    const p = parseAddress(ip)
    return Result.isSuccess(p) ? [p.success] : []
  })

// Views by the informer's object: an object the watch did not replace keeps its view, so consecutive
// snapshots share the views of everything unchanged by reference and the node machine's pass cache
// (core/speaker/node/pass-cache.ts) recomputes only what changed. Weak: a replaced object's view goes with it.
const serviceViews = new WeakMap<V1Service, SpeakerService>()
const nodeViews = new WeakMap<V1Node, NodeView>()
/** A service's endpoint list by its first EndpointSlice, valid while its slices are the same objects. */
const endpointLists = new WeakMap<V1EndpointSlice, { readonly slices: ReadonlyArray<V1EndpointSlice>; readonly list: ReadonlyArray<EndpointView> }>()

/** The namespace/name of the slice's Service (the same string object for the same slice). */
const sliceKeys = new WeakMap<V1EndpointSlice, string | undefined>()
const serviceKeyOf = (slice: V1EndpointSlice): string | undefined => {
  if (sliceKeys.has(slice)) return sliceKeys.get(slice)
  const service = slice.metadata?.labels?.["kubernetes.io/service-name"]
  const key = service === undefined ? undefined : `${slice.metadata?.namespace}/${service}`
  sliceKeys.set(slice, key)
  return key
}

const serviceView = (s: V1Service, sharedAddress: boolean): SpeakerService => {
  const known = serviceViews.get(s)
  if (known !== undefined && known.sharedAddress === sharedAddress) return known
  const ips = (s.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : []))
  const pool = s.metadata?.annotations?.[allocatedFromPoolAnnotation]
  const view: SpeakerService = {
    key: `${s.metadata?.namespace}/${s.metadata?.name}`,
    labels: s.metadata?.labels ?? {},
    addresses: parseAll(ips),
    ...(pool === undefined ? {} : { pool }),
    externalTrafficPolicy: s.spec?.externalTrafficPolicy === "Local" ? "Local" : "Cluster",
    sharedAddress,
  }
  serviceViews.set(s, view)
  return view
}

const endpointList = (slices: ReadonlyArray<V1EndpointSlice>): ReadonlyArray<EndpointView> => {
  const known = endpointLists.get(slices[0]!)
  if (known !== undefined && known.slices.length === slices.length && known.slices.every((x, i) => x === slices[i])) return known.list
  const list: Array<EndpointView> = []
  for (const slice of slices) {
    for (const e of slice.endpoints ?? []) {
      if (e.nodeName === undefined) continue
      list.push({ node: e.nodeName, serving: e.conditions?.serving ?? e.conditions?.ready ?? true })
    }
  }
  endpointLists.set(slices[0]!, { slices, list })
  return list
}

const nodeView = (n: V1Node): NodeView => {
  const known = nodeViews.get(n)
  if (known !== undefined) return known
  const view: NodeView = {
    name: n.metadata?.name ?? "",
    labels: n.metadata?.labels ?? {},
    networkUnavailable: (n.status?.conditions ?? []).some((c) => c.type === "NetworkUnavailable" && c.status === "True"),
    addresses: parseAll((n.status?.addresses ?? []).filter((a) => a.type === "InternalIP").map((a) => a.address)),
  }
  nodeViews.set(n, view)
  return view
}

const ours = (s: V1Service, loadBalancerClass: string | undefined): boolean =>
  s.spec?.type === "LoadBalancer" && (loadBalancerClass === undefined ? s.spec.loadBalancerClass === undefined : s.spec.loadBalancerClass === loadBalancerClass)

const ingressIps = (s: V1Service | undefined): ReadonlyArray<string> => (s?.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : []))

const objectKey = (o: { readonly metadata?: { readonly namespace?: string; readonly name?: string } }): string => `${o.metadata?.namespace}/${o.metadata?.name}`

/** A snapshot whose services list is made from its views only when someone reads it (a full pass, the simulator's tools). */
class LayeredSnapshot implements ClusterSnapshot {
  readonly views: LayeredMap<string, SpeakerService>
  readonly endpoints: LayeredMap<string, ReadonlyArray<EndpointView>>
  readonly nodes: ReadonlyArray<NodeView>
  #services: ReadonlyArray<SpeakerService> | undefined

  constructor(views: LayeredMap<string, SpeakerService>, endpoints: LayeredMap<string, ReadonlyArray<EndpointView>>, nodes: ReadonlyArray<NodeView>) {
    this.views = views
    this.endpoints = endpoints
    this.nodes = nodes
  }

  get services(): ReadonlyArray<SpeakerService> {
    this.#services ??= [...this.views.values()]
    return this.#services
  }
}

/**
 * Cuts an EndpointSlice down, in place, to what the snapshot reads (which node each endpoint is on and
 * whether it serves) and what the informer compares (resourceVersion): the speaker's cache of every
 * slice drops the addresses, ports, target references, zones and hints.
 */
export const projectEndpointSlice = (slice: V1EndpointSlice): void => {
  const { name, namespace, uid, resourceVersion, labels } = slice.metadata ?? {}
  slice.metadata = { name, namespace, uid, resourceVersion, labels } as NonNullable<V1EndpointSlice["metadata"]>
  slice.endpoints = (slice.endpoints ?? []).map((e) => ({
    addresses: [],
    ...(e.nodeName === undefined ? {} : { nodeName: e.nodeName }),
    conditions: { ...(e.conditions?.ready === undefined ? {} : { ready: e.conditions.ready }), ...(e.conditions?.serving === undefined ? {} : { serving: e.conditions.serving }) },
  }))
  delete slice.ports
}

export type ObjectEvent = "add" | "update" | "delete"

/**
 * A speaker's snapshots, kept from the informers' events (`service`, `slice`: each add, update and
 * delete), each with what changed since the one before: the Services whose view or endpoint list is a
 * new object, added or removed. A Service's view says whether another of ours holds one of its
 * addresses, so a change of addresses marks the other holders too. Building a snapshot costs the
 * objects changed since the last one (the services list is made only when read).
 */
export class ClusterSnapshots {
  private readonly loadBalancerClass: string | undefined
  private readonly objects = new Map<string, V1Service>()
  /** Address -> the keys of our Services holding it. */
  private readonly holders = new Map<string, Set<string>>()
  /** Service key -> its EndpointSlices by slice key; slice key -> the Service key it was filed under. */
  private readonly slices = new Map<string, Map<string, V1EndpointSlice>>()
  private readonly sliceOwner = new Map<string, string>()
  /** Keys whose view or endpoint list must be made again at the next snapshot. */
  private readonly pendingViews = new Set<string>()
  private readonly pendingEndpoints = new Set<string>()
  private last: LayeredSnapshot | undefined

  constructor(loadBalancerClass: string | undefined) {
    this.loadBalancerClass = loadBalancerClass
  }

  service(event: ObjectEvent, object: V1Service): void {
    const key = objectKey(object)
    const before = this.objects.get(key)
    const now = event === "delete" ? undefined : object
    if (now === undefined) this.objects.delete(key)
    else this.objects.set(key, now)
    const held = (s: V1Service | undefined) => (s !== undefined && ours(s, this.loadBalancerClass) ? ingressIps(s) : [])
    const [was, is] = [held(before), held(now)]
    for (const ip of was) if (!is.includes(ip)) this.holders.get(ip)?.delete(key)
    for (const ip of is) {
      const keys = this.holders.get(ip) ?? new Set<string>()
      keys.add(key)
      this.holders.set(ip, keys)
    }
    this.pendingViews.add(key)
    // The other holders of an address taken or given up: their shared mark may change.
    for (const ip of new Set([...was, ...is])) {
      const keys = this.holders.get(ip)
      if (keys === undefined) continue
      for (const other of keys) this.pendingViews.add(other)
      if (keys.size === 0) this.holders.delete(ip)
    }
  }

  slice(event: ObjectEvent, object: V1EndpointSlice): void {
    const key = objectKey(object)
    const filed = this.sliceOwner.get(key)
    const owner = event === "delete" ? undefined : serviceKeyOf(object)
    // Replaced under the same Service: in its place (the informer's list order).
    if (filed !== undefined && filed !== owner) {
      this.slices.get(filed)?.delete(key)
      this.pendingEndpoints.add(filed)
    }
    if (owner === undefined) {
      this.sliceOwner.delete(key)
      return
    }
    this.sliceOwner.set(key, owner)
    const list = this.slices.get(owner) ?? new Map<string, V1EndpointSlice>()
    list.set(key, object)
    this.slices.set(owner, list)
    this.pendingEndpoints.add(owner)
  }

  /** The snapshot now, with the changes since the previous one (none for the first). */
  next(nodes: ReadonlyArray<V1Node>): { readonly snapshot: ClusterSnapshot; readonly changes?: ClusterChanges } {
    const last = this.last
    const views = last?.views ?? LayeredMap.of<string, SpeakerService>([])
    const endpoints = last?.endpoints ?? LayeredMap.of<string, ReadonlyArray<EndpointView>>([])
    const viewChanges: Array<readonly [string, SpeakerService | undefined]> = []
    for (const key of this.pendingViews) {
      const object = this.objects.get(key)
      const view = object === undefined || !ours(object, this.loadBalancerClass)
        ? undefined
        : serviceView(object, ingressIps(object).some((ip) => (this.holders.get(ip)?.size ?? 0) > 1))
      if (view !== views.get(key)) viewChanges.push([key, view])
    }
    const endpointChanges: Array<readonly [string, ReadonlyArray<EndpointView> | undefined]> = []
    for (const key of this.pendingEndpoints) {
      const slices = this.slices.get(key)
      if (slices !== undefined && slices.size === 0) this.slices.delete(key)
      const list = slices === undefined || slices.size === 0 ? undefined : endpointList([...slices.values()])
      if (list !== endpoints.get(key)) endpointChanges.push([key, list])
    }
    this.pendingViews.clear()
    this.pendingEndpoints.clear()
    const nextViews = views.with(viewChanges)
    const snapshot = new LayeredSnapshot(nextViews, endpoints.with(endpointChanges), nodes.map(nodeView))
    this.last = snapshot
    if (last === undefined) return { snapshot }
    const changed = new Map<string, SpeakerService | undefined>(viewChanges)
    // A list changed for a Service of ours (before or now): named with its view now.
    for (const [key] of endpointChanges) if (!changed.has(key) && (nextViews.has(key) || views.has(key))) changed.set(key, nextViews.get(key))
    return { snapshot, changes: { since: last, services: changed } }
  }
}

/** One snapshot of these lists (the operator tools' cluster read once, tests). */
export const snapshotOf = (
  services: ReadonlyArray<V1Service>,
  slices: ReadonlyArray<V1EndpointSlice>,
  nodes: ReadonlyArray<V1Node>,
  loadBalancerClass: string | undefined,
): ClusterSnapshot => {
  const snapshots = new ClusterSnapshots(loadBalancerClass)
  for (const s of services) snapshots.service("add", s)
  for (const s of slices) snapshots.slice("add", s)
  return snapshots.next(nodes).snapshot
}
