// Which routes this node announces to which BGP peer (MetalLB speaker, BGP mode): a service's
// addresses go to every peer selected for this node, through every BGPAdvertisement that covers the
// service's pool, selects this node (nodeSelectors) and the service (serviceSelectors), and names the
// peer (or no peer at all, meaning every peer). With externalTrafficPolicy Local, only nodes with a
// serving endpoint announce; with Cluster, any node with one serving endpoint anywhere. A node that is
// excluded (label or NetworkUnavailable) announces nothing.
import type { BgpAdvertisement, Config, Pool } from "../config/config.ts"
import { anyMatches } from "../config/selector.ts"
import { type DesiredRoute, desiredRoutes, mergeRoutes } from "../bgp/rib.ts"
import type { Address } from "../net/address.ts"
import { type ClusterSnapshot, excludeLabel, hasServingEndpoint, type NodeView, type SpeakerService } from "./view.ts"

export interface BgpAnnouncementOptions {
  /** --ignore-exclude-lb: announce even from nodes carrying the exclusion label. */
  readonly ignoreExcludeLb?: boolean
}

const poolOf = (config: Config, service: SpeakerService): Pool | undefined => {
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

const advertisementsFor = (config: Config, service: SpeakerService, pool: Pool, node: NodeView): ReadonlyArray<BgpAdvertisement> =>
  config.bgpAdvertisements.filter((ad) =>
    ad.pools.includes(pool.name) && anyMatches(ad.nodeSelectors, node.labels) && anyMatches(ad.serviceSelectors, service.labels))

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
    const pool = poolOf(config, service)
    if (pool === undefined) continue
    const serving = service.externalTrafficPolicy === "Local"
      ? hasServingEndpoint(snapshot, service.key, node.name)
      : hasServingEndpoint(snapshot, service.key)
    if (!serving) continue
    const addresses: ReadonlyArray<Address> = service.addresses
    for (const ad of advertisementsFor(config, service, pool, node)) {
      const routes = desiredRoutes(addresses, [ad])
      for (const peer of ad.peers.length === 0 ? peers : ad.peers.filter((p) => perPeer.has(p))) perPeer.get(peer)?.push(...routes)
    }
  }
  return new Map([...perPeer].map(([peer, routes]) => [peer, mergeRoutes(routes)]))
}
