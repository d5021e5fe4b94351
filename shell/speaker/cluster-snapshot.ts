// The speaker's view of the cluster (core/speaker/view.ts) from the informers' caches: LoadBalancer
// Services of our class with their ingress addresses, where their endpoints run, and the nodes with
// their labels, NetworkUnavailable condition and InternalIP addresses. A speaker's `ClusterSnapshots`
// also says what changed since its previous snapshot (ClusterChanged.changes), so the node machine
// decides again only those services (issue 17).
import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node"
import { Result } from "effect"
import { allocatedFromPoolAnnotation } from "../../core/controller/service.ts"
import { type Address, parseAddress } from "../../core/net/address.ts"
import { LayeredMap } from "../../core/speaker/layered-map.ts"
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

const ingressIps = (s: V1Service): string => (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? "").join(" ")

const keyOf = (s: V1Service): string => `${s.metadata?.namespace}/${s.metadata?.name}`

/** The views of our Services, each marked when another of them holds one of its addresses. */
const serviceViewsOf = (services: ReadonlyArray<V1Service>, loadBalancerClass: string | undefined): Array<SpeakerService> => {
  const kept = services.filter((s) => ours(s, loadBalancerClass))
  const holders = new Map<string, number>()
  for (const s of kept) for (const i of s.status?.loadBalancer?.ingress ?? []) if (i.ip) holders.set(i.ip, (holders.get(i.ip) ?? 0) + 1)
  return kept.map((s) =>
    serviceView(s, (s.status?.loadBalancer?.ingress ?? []).some((i) => i.ip !== undefined && i.ip !== "" && (holders.get(i.ip) ?? 0) > 1)))
}

const groupSlices = (slices: ReadonlyArray<V1EndpointSlice>): Map<string, ReadonlyArray<V1EndpointSlice>> => {
  const byService = new Map<string, Array<V1EndpointSlice>>()
  for (const slice of slices) {
    const key = serviceKeyOf(slice)
    if (key === undefined) continue
    const list = byService.get(key)
    if (list === undefined) byService.set(key, [slice])
    else list.push(slice)
  }
  return byService
}

/** The positions where `next` holds another object than `before` (same length), at most `limit` of them; undefined past that. */
const replacedAt = <A>(before: ReadonlyArray<A>, next: ReadonlyArray<A>, limit: number): Array<number> | undefined => {
  if (before.length !== next.length) return undefined
  const replaced: Array<number> = []
  for (let i = 0; i < next.length; i++) {
    if (next[i] === before[i]) continue
    if (replaced.length >= limit) return undefined
    replaced.push(i)
  }
  return replaced
}

/** Replaced objects handled one by one, up to this many per snapshot; more are compared as whole lists. */
const patchLimit = 256

interface Built {
  readonly services: ReadonlyArray<V1Service>
  readonly slices: ReadonlyArray<V1EndpointSlice>
  readonly snapshot: ClusterSnapshot
  readonly endpoints: LayeredMap<string, ReadonlyArray<EndpointView>>
  /** Service key -> its position in snapshot.services. */
  readonly position: ReadonlyMap<string, number>
  /** Service key -> its EndpointSlices (a new array when one of them changed; owned by the builder). */
  readonly byService: Map<string, ReadonlyArray<V1EndpointSlice>>
}

/**
 * A speaker's snapshots, each with what changed since the one before (the informers hand over new lists
 * of mostly the same objects). Replaced objects in the same places are patched in: a replaced Service
 * gets a new view where it was, a replaced EndpointSlice its Service's endpoint list, and only those
 * Services are named as changed. Anything else (objects added or removed, an address taken or given
 * up, a Service's class or type changed) builds the views again from the lists, still sharing every
 * unchanged view and endpoint list by reference, and names the Services whose view or list is new.
 */
export class ClusterSnapshots {
  private readonly loadBalancerClass: string | undefined
  private last: Built | undefined

  constructor(loadBalancerClass: string | undefined) {
    this.loadBalancerClass = loadBalancerClass
  }

  next(services: ReadonlyArray<V1Service>, slices: ReadonlyArray<V1EndpointSlice>, nodes: ReadonlyArray<V1Node>): { readonly snapshot: ClusterSnapshot; readonly changes?: ClusterChanges } {
    const last = this.last
    const changed = new Map<string, SpeakerService | undefined>()
    const views = last === undefined ? undefined : this.patchServices(last, services, changed)
    if (views === undefined) changed.clear()
    const built = views === undefined ? this.buildServices(last, services, changed) : { views, position: last!.position }
    const sliceChanges = last === undefined ? undefined : patchSlices(last, slices)
    const endpointsPart = sliceChanges ?? regroup(last, slices)
    for (const key of endpointsPart.changedKeys) {
      const at = built.position.get(key)
      if (at !== undefined) changed.set(key, built.views[at])
      // A Service gone with its slices is named by the Services' part.
    }
    const snapshot: ClusterSnapshot = { services: built.views, endpoints: endpointsPart.endpoints, nodes: nodes.map(nodeView) }
    this.last = { services: services.slice(), slices: slices.slice(), snapshot, endpoints: endpointsPart.endpoints, position: built.position, byService: endpointsPart.byService }
    return last === undefined ? { snapshot } : { snapshot, changes: { since: last.snapshot, services: changed } }
  }

  /** Services replaced in place, keeping their key, class and addresses: their new views; undefined otherwise. */
  private patchServices(last: Built, services: ReadonlyArray<V1Service>, changed: Map<string, SpeakerService | undefined>): ReadonlyArray<SpeakerService> | undefined {
    const replaced = replacedAt(last.services, services, patchLimit)
    if (replaced === undefined) return undefined
    if (replaced.length === 0) return last.snapshot.services
    const views = [...last.snapshot.services]
    for (const i of replaced) {
      const [before, now] = [last.services[i]!, services[i]!]
      const key = keyOf(now)
      if (keyOf(before) !== key || ours(before, this.loadBalancerClass) !== ours(now, this.loadBalancerClass) || ingressIps(before) !== ingressIps(now)) return undefined
      const at = last.position.get(key)
      if (at === undefined) continue
      const view = serviceView(now, views[at]!.sharedAddress)
      views[at] = view
      changed.set(key, view)
    }
    return views
  }

  /** Every view again (unchanged objects keep theirs), naming the Services whose view is new, added or gone. */
  private buildServices(last: Built | undefined, services: ReadonlyArray<V1Service>, changed: Map<string, SpeakerService | undefined>) {
    const views = serviceViewsOf(services, this.loadBalancerClass)
    const position = new Map(views.map((v, i) => [v.key, i]))
    if (last !== undefined) {
      const before = last.snapshot.services
      for (const view of views) {
        const at = last.position.get(view.key)
        if (at === undefined || before[at] !== view) changed.set(view.key, view)
      }
      for (const view of before) if (!position.has(view.key)) changed.set(view.key, undefined)
    }
    return { views, position }
  }
}

interface EndpointsPart {
  readonly endpoints: LayeredMap<string, ReadonlyArray<EndpointView>>
  readonly byService: Map<string, ReadonlyArray<V1EndpointSlice>>
  readonly changedKeys: Iterable<string>
}

/** Slices replaced in place (same position, same Service): their Services' lists patched; otherwise undefined. */
const patchSlices = (last: Built, slices: ReadonlyArray<V1EndpointSlice>): EndpointsPart | undefined => {
  const replaced = replacedAt(last.slices, slices, patchLimit)
  if (replaced === undefined) return undefined
  const lists = new Map<string, ReadonlyArray<EndpointView>>()
  for (const i of replaced) {
    const [before, now] = [last.slices[i]!, slices[i]!]
    const key = serviceKeyOf(now)
    if (serviceKeyOf(before) !== key) return undefined
    if (key === undefined) continue
    const list = last.byService.get(key)!.map((x) => (x === before ? now : x))
    last.byService.set(key, list)
    lists.set(key, endpointList(list))
  }
  const endpoints = last.endpoints.with(lists)
  return { endpoints, byService: last.byService, changedKeys: lists.keys() }
}

/** Every slice grouped again (unchanged groups keep their lists), naming the Services whose list is new or gone. */
const regroup = (last: Built | undefined, slices: ReadonlyArray<V1EndpointSlice>): EndpointsPart => {
  const byService = groupSlices(slices)
  const endpoints = LayeredMap.of([...byService].map(([key, list]) => [key, endpointList(list)] as const))
  const changedKeys = new Set<string>()
  if (last !== undefined) {
    for (const [key, list] of endpoints) if (last.snapshot.endpoints.get(key) !== list) changedKeys.add(key)
    for (const key of last.snapshot.endpoints.keys()) if (!endpoints.has(key)) changedKeys.add(key)
  }
  return { endpoints, byService, changedKeys }
}

/** One snapshot of these lists (the operator tools' cluster read once, tests). */
export const snapshotOf = (
  services: ReadonlyArray<V1Service>,
  slices: ReadonlyArray<V1EndpointSlice>,
  nodes: ReadonlyArray<V1Node>,
  loadBalancerClass: string | undefined,
): ClusterSnapshot => new ClusterSnapshots(loadBalancerClass).next(services, slices, nodes).snapshot
