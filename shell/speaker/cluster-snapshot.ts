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

export const snapshotOf = (
  services: ReadonlyArray<V1Service>,
  slices: ReadonlyArray<V1EndpointSlice>,
  nodes: ReadonlyArray<V1Node>,
  loadBalancerClass: string | undefined,
): ClusterSnapshot => {
  const ours = services.filter((s) =>
    s.spec?.type === "LoadBalancer" && (loadBalancerClass === undefined ? s.spec.loadBalancerClass === undefined : s.spec.loadBalancerClass === loadBalancerClass))
  const holders = new Map<string, number>()
  for (const s of ours) for (const i of s.status?.loadBalancer?.ingress ?? []) if (i.ip) holders.set(i.ip, (holders.get(i.ip) ?? 0) + 1)
  const speakerServices: Array<SpeakerService> = ours.map((s) => {
    const ips = (s.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : []))
    const pool = s.metadata?.annotations?.[allocatedFromPoolAnnotation]
    return {
      key: `${s.metadata?.namespace}/${s.metadata?.name}`,
      labels: s.metadata?.labels ?? {},
      addresses: parseAll(ips),
      ...(pool === undefined ? {} : { pool }),
      externalTrafficPolicy: s.spec?.externalTrafficPolicy === "Local" ? "Local" : "Cluster",
      sharedAddress: ips.some((ip) => (holders.get(ip) ?? 0) > 1),
    }
  })
  const endpoints = new Map<string, Array<EndpointView>>()
  for (const slice of slices) {
    const service = slice.metadata?.labels?.["kubernetes.io/service-name"]
    if (service === undefined) continue
    const key = `${slice.metadata?.namespace}/${service}`
    const list = endpoints.get(key) ?? []
    for (const e of slice.endpoints ?? []) {
      if (e.nodeName === undefined) continue
      list.push({ node: e.nodeName, serving: e.conditions?.serving ?? e.conditions?.ready ?? true })
    }
    endpoints.set(key, list)
  }
  const nodeViews: Array<NodeView> = nodes.map((n) => ({
    name: n.metadata?.name ?? "",
    labels: n.metadata?.labels ?? {},
    networkUnavailable: (n.status?.conditions ?? []).some((c) => c.type === "NetworkUnavailable" && c.status === "True"),
    addresses: parseAll((n.status?.addresses ?? []).filter((a) => a.type === "InternalIP").map((a) => a.address)),
  }))
  return { services: speakerServices, endpoints, nodes: nodeViews }
}
