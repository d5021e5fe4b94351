// The speaker's view of the cluster (core/speaker/view.ts) from the informers' caches: LoadBalancer
// Services of our class with their ingress addresses, where their endpoints run, and the nodes with
// their labels, NetworkUnavailable condition and InternalIP addresses.
import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node"
import { Result } from "effect"
import { allocatedFromPoolAnnotation } from "../../core/controller/service.ts"
import { type Address, parseAddress } from "../../core/net/address.ts"
import type { ClusterSnapshot, EndpointView, NodeView, SpeakerService } from "../../core/speaker/view.ts"

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

const sameRefs = <A>(a: ReadonlyArray<A>, b: ReadonlyArray<A>): boolean => a.length === b.length && a.every((x, i) => x === b[i])

/**
 * The previous call's parts: the informers hand over new lists of mostly the same objects, so the
 * Services' part is reused when every Service object is the same, and the endpoints are patched for a
 * few replaced EndpointSlices instead of grouping every slice again.
 */
let last: {
  readonly services: ReadonlyArray<V1Service>
  readonly loadBalancerClass: string | undefined
  readonly views: ReadonlyArray<SpeakerService>
  readonly slices: ReadonlyArray<V1EndpointSlice>
  readonly byService: ReadonlyMap<string, ReadonlyArray<V1EndpointSlice>>
  readonly endpoints: ReadonlyMap<string, ReadonlyArray<EndpointView>>
} | undefined

const servicesPart = (services: ReadonlyArray<V1Service>, loadBalancerClass: string | undefined): ReadonlyArray<SpeakerService> => {
  if (last !== undefined && last.loadBalancerClass === loadBalancerClass && sameRefs(services, last.services)) return last.views
  const ours = services.filter((s) =>
    s.spec?.type === "LoadBalancer" && (loadBalancerClass === undefined ? s.spec.loadBalancerClass === undefined : s.spec.loadBalancerClass === loadBalancerClass))
  const holders = new Map<string, number>()
  for (const s of ours) for (const i of s.status?.loadBalancer?.ingress ?? []) if (i.ip) holders.set(i.ip, (holders.get(i.ip) ?? 0) + 1)
  return ours.map((s) =>
    serviceView(s, (s.status?.loadBalancer?.ingress ?? []).some((i) => i.ip !== undefined && i.ip !== "" && (holders.get(i.ip) ?? 0) > 1)))
}

const groupSlices = (slices: ReadonlyArray<V1EndpointSlice>): Map<string, Array<V1EndpointSlice>> => {
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

/** Slices replaced in place (same position, same Service): their Services' lists patched; otherwise undefined. */
const patchSlices = (slices: ReadonlyArray<V1EndpointSlice>) => {
  if (last === undefined || slices.length !== last.slices.length) return undefined
  const previous = last
  const replaced: Array<number> = []
  for (let i = 0; i < slices.length; i++) {
    if (slices[i] === previous.slices[i]) continue
    if (serviceKeyOf(slices[i]!) !== serviceKeyOf(previous.slices[i]!) || replaced.length >= 64) return undefined
    replaced.push(i)
  }
  if (replaced.length === 0) return { byService: previous.byService, endpoints: previous.endpoints }
  const byService = new Map(previous.byService)
  const endpoints = new Map(previous.endpoints)
  for (const i of replaced) {
    const key = serviceKeyOf(slices[i]!)
    if (key === undefined) continue
    const list = byService.get(key)!.map((x) => (x === previous.slices[i] ? slices[i]! : x))
    byService.set(key, list)
    endpoints.set(key, endpointList(list))
  }
  return { byService, endpoints }
}

export const snapshotOf = (
  services: ReadonlyArray<V1Service>,
  slices: ReadonlyArray<V1EndpointSlice>,
  nodes: ReadonlyArray<V1Node>,
  loadBalancerClass: string | undefined,
): ClusterSnapshot => {
  const views = servicesPart(services, loadBalancerClass)
  let part = patchSlices(slices)
  if (part === undefined) {
    const byService = groupSlices(slices)
    const endpoints = new Map<string, ReadonlyArray<EndpointView>>()
    for (const [key, list] of byService) endpoints.set(key, endpointList(list))
    part = { byService, endpoints }
  }
  last = { services: [...services], loadBalancerClass, views, slices: [...slices], byService: part.byService, endpoints: part.endpoints }
  return { services: views, endpoints: part.endpoints, nodes: nodes.map(nodeView) }
}
