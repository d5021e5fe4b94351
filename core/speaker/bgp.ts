// Which routes this node announces to which BGP peer (MetalLB speaker, BGP mode): a service's
// addresses go to every peer selected for this node, through every BGPAdvertisement that covers the
// service's pool, selects this node (nodeSelectors) and the service (serviceSelectors), and names the
// peer (or no peer at all, meaning every peer). With externalTrafficPolicy Local, only nodes with a
// serving endpoint announce; with Cluster, any node with one serving endpoint anywhere. A node that is
// excluded (label or NetworkUnavailable) announces nothing.
import type { Config, Pool } from "../config/config.ts"
import { anyMatches } from "../config/selector.ts"
import { type DesiredRoute, desiredRoutes, mergeRoutes } from "../bgp/rib.ts"
import { type ClusterSnapshot, excludeLabel, hasServingEndpoint, type NodeView, type SpeakerService } from "./view.ts"

export interface BgpAnnouncementOptions {
  /** --ignore-exclude-lb: announce even from nodes carrying the exclusion label. */
  readonly ignoreExcludeLb?: boolean
}

/** The pool a service's addresses come from: its pool annotation, else the pool holding its first address. */
export const poolOf = (config: Config, service: SpeakerService): Pool | undefined => {
  if (service.pool !== undefined) return config.pools.get(service.pool)
  const [first] = service.addresses
  if (first === undefined) return undefined
  return [...config.pools.values()].find((p) => p.ranges.some((r) => r.family === first.family && first.value >= r.first && first.value <= r.last))
}

/** Peers this node keeps a session with: those whose nodeSelectors select it. */
export const peersForNode = (config: Config, node: NodeView): ReadonlyArray<string> =>
  [...config.peers.values()].filter((p) => anyMatches(p.nodeSelectors, node.labels)).map((p) => p.name).sort()

export const nodeExcluded = (node: NodeView, options: BgpAnnouncementOptions): boolean =>
  node.networkUnavailable || (!options.ignoreExcludeLb && Object.hasOwn(node.labels, excludeLabel))

/** Why this node sends a service's addresses to no peer. */
export type NoRoutesReason =
  | "NetworkUnavailable"
  /** node.kubernetes.io/exclude-from-external-load-balancers (without --ignore-exclude-lb). */
  | "ExcludedLabel"
  /** No pool of the configuration holds the service's addresses. */
  | "NoPool"
  /** externalTrafficPolicy Cluster and no serving endpoint anywhere. */
  | "NoServingEndpoint"
  /** externalTrafficPolicy Local and no serving endpoint on this node. */
  | "NoLocalEndpoint"
  /** No BGPAdvertisement names the service's pool. */
  | "NoAdvertisement"
  /** Advertisements name the pool, but none's serviceSelectors match the service. */
  | "ServiceSelector"
  /** Advertisements name the pool and match the service, but none's nodeSelectors select this node. */
  | "NodeSelector"
  /** No BGPPeer's nodeSelectors select this node. */
  | "NoPeerForNode"
  /** The matching advertisements name only peers this node has no session with. */
  | "PeerNotSelected"

export type ServiceRoutes =
  | {
    readonly _tag: "Routes"
    /** Per peer, this service's routes (advertisement order, not yet merged). */
    readonly perPeer: ReadonlyMap<string, ReadonlyArray<DesiredRoute>>
    /** The advertisements that carry them. */
    readonly advertisements: ReadonlyArray<string>
  }
  | { readonly _tag: "None"; readonly reason: NoRoutesReason; readonly pool?: string }

/**
 * What this node sends for one service, or why nothing: the speaker's decision per service
 * (bgpAnnouncements collects it), with its reason kept for `explain`.
 */
export const serviceRoutesForNode = (
  config: Config,
  snapshot: ClusterSnapshot,
  service: SpeakerService,
  node: NodeView,
  peers: ReadonlyArray<string>,
  options: BgpAnnouncementOptions = {},
): ServiceRoutes => {
  if (node.networkUnavailable) return { _tag: "None", reason: "NetworkUnavailable" }
  if (nodeExcluded(node, options)) return { _tag: "None", reason: "ExcludedLabel" }
  const pool = poolOf(config, service)
  if (pool === undefined) return { _tag: "None", reason: "NoPool" }
  const none = (reason: NoRoutesReason): ServiceRoutes => ({ _tag: "None", reason, pool: pool.name })
  const local = service.externalTrafficPolicy === "Local"
  if (!hasServingEndpoint(snapshot, service.key, local ? node.name : undefined)) return none(local ? "NoLocalEndpoint" : "NoServingEndpoint")
  const forPool = config.bgpAdvertisements.filter((ad) => ad.pools.includes(pool.name))
  if (forPool.length === 0) return none("NoAdvertisement")
  const forService = forPool.filter((ad) => anyMatches(ad.serviceSelectors, service.labels))
  if (forService.length === 0) return none("ServiceSelector")
  const ads = forService.filter((ad) => anyMatches(ad.nodeSelectors, node.labels))
  if (ads.length === 0) return none("NodeSelector")
  if (peers.length === 0) return none("NoPeerForNode")
  const perPeer = new Map<string, Array<DesiredRoute>>()
  const carrying: Array<string> = []
  for (const ad of ads) {
    const routes = desiredRoutes(service.addresses, [ad])
    const to = ad.peers.length === 0 ? peers : ad.peers.filter((p) => peers.includes(p))
    if (to.length > 0) carrying.push(ad.name)
    for (const peer of to) perPeer.set(peer, [...(perPeer.get(peer) ?? []), ...routes])
  }
  return perPeer.size === 0 ? none("PeerNotSelected") : { _tag: "Routes", perPeer, advertisements: carrying }
}

/** Routes per peer name, for this node. */
export const bgpAnnouncements = (
  config: Config,
  snapshot: ClusterSnapshot,
  node: NodeView,
  options: BgpAnnouncementOptions = {},
): ReadonlyMap<string, ReadonlyArray<DesiredRoute>> => {
  const peers = peersForNode(config, node)
  const perPeer = new Map<string, Array<DesiredRoute>>(peers.map((p) => [p, []]))
  if (nodeExcluded(node, options)) return perPeer
  for (const service of snapshot.services) {
    if (service.addresses.length === 0) continue
    const routes = serviceRoutesForNode(config, snapshot, service, node, peers, options)
    if (routes._tag === "None") continue
    for (const [peer, rs] of routes.perPeer) perPeer.get(peer)?.push(...rs)
  }
  return new Map([...perPeer].map(([peer, routes]) => [peer, mergeRoutes(routes)]))
}
