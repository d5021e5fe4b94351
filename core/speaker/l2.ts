// Which addresses this node answers for in Layer 2 mode, and on which interfaces (MetalLB speaker,
// layer2 ShouldAnnounce plus interface selection): every speaker runs the same election over the same
// view (core/election/owner.ts), so exactly one node claims each address without talking to the
// others. The interfaces are the union of the `interfaces` of the advertisements that select this node
// and the service; none listed means every usable interface. With the members' down interfaces (membership
// metadata), a node that could announce an address only through down links is passed over for it.
import type { Config, L2Advertisement, Pool } from "../config/config.ts"
import { anyMatches } from "../config/selector.ts"
import { announcingInterfaces, type Election, type ElectionInput, type ElectionNode, electOwner } from "../election/owner.ts"
import type { Address } from "../net/address.ts"
import { nodeExcluded } from "./bgp.ts"
import { type ClusterSnapshot, excludeLabel, type NodeView, type SpeakerService } from "./view.ts"

export interface L2Options {
  readonly ignoreExcludeLb?: boolean
  /** Per live member, its Layer 2 interfaces whose link is down (membership metadata). */
  readonly downInterfaces?: ReadonlyMap<string, ReadonlyArray<string>>
}

export interface L2Claim {
  readonly service: string
  readonly address: Address
  /** Interface names; empty means every usable interface. */
  readonly interfaces: ReadonlyArray<string>
}

export interface L2Decision {
  readonly claims: ReadonlyArray<L2Claim>
  /** The election of every service with addresses in an L2-advertised pool, for status and events. */
  readonly elections: ReadonlyMap<string, Election>
}

const poolOf = (config: Config, service: SpeakerService): Pool | undefined => {
  if (service.pool !== undefined) return config.pools.get(service.pool)
  const [first] = service.addresses
  if (first === undefined) return undefined
  return [...config.pools.values()].find((p) => p.ranges.some((r) => r.family === first.family && first.value >= r.first && first.value <= r.last))
}

/** What the election of one service is run on: its pool, the pool's L2Advertisements, and the input. */
export interface L2ElectionSetup {
  readonly pool: Pool
  readonly advertisements: ReadonlyArray<L2Advertisement>
  readonly input: ElectionInput
}

export const electionNodes = (snapshot: ClusterSnapshot): ReadonlyArray<ElectionNode> =>
  snapshot.nodes.map((n) => ({
    name: n.name,
    labels: n.labels,
    networkUnavailable: n.networkUnavailable,
    excluded: Object.hasOwn(n.labels, excludeLabel),
  }))

/**
 * The election input for one service, or undefined when it has no address, no pool of the configuration
 * holds it, or no L2Advertisement names the pool (the speaker does not announce it in Layer 2 then).
 */
export const l2ElectionSetup = (
  config: Config,
  snapshot: ClusterSnapshot,
  service: SpeakerService,
  members: ReadonlySet<string> | undefined,
  options: L2Options = {},
  nodes: ReadonlyArray<ElectionNode> = electionNodes(snapshot),
): L2ElectionSetup | undefined => {
  if (service.addresses.length === 0) return undefined
  const pool = poolOf(config, service)
  if (pool === undefined) return undefined
  const ads = config.l2Advertisements.filter((ad) => ad.pools.includes(pool.name))
  if (ads.length === 0) return undefined
  return {
    pool,
    advertisements: ads,
    input: {
      service: { key: service.key, ips: service.addresses, labels: service.labels, externalTrafficPolicy: service.externalTrafficPolicy, sharedIp: service.sharedAddress },
      nodes,
      ...(members === undefined ? {} : { members }),
      endpoints: snapshot.endpoints.get(service.key) ?? [],
      advertisements: ads,
      ignoreExcludeLb: options.ignoreExcludeLb ?? false,
      ...(options.downInterfaces === undefined ? {} : { downInterfaces: options.downInterfaces }),
    },
  }
}

/** The interfaces the owner announces on: those of the ads selecting it and the service (empty: every usable one). */
export const ownerInterfaces = (ads: ReadonlyArray<L2Advertisement>, owner: NodeView, service: SpeakerService): ReadonlyArray<string> =>
  announcingInterfaces(ads.filter((ad) => anyMatches(ad.nodeSelectors, owner.labels) && anyMatches(ad.serviceSelectors, service.labels)))

export const l2Announcements = (
  config: Config,
  snapshot: ClusterSnapshot,
  nodeName: string,
  members: ReadonlySet<string> | undefined,
  options: L2Options = {},
): L2Decision => {
  const nodes = electionNodes(snapshot)
  const self = snapshot.nodes.find((n) => n.name === nodeName)
  const claims: Array<L2Claim> = []
  const elections = new Map<string, Election>()
  for (const service of snapshot.services) {
    const setup = l2ElectionSetup(config, snapshot, service, members, options, nodes)
    if (setup === undefined) continue
    const election = electOwner(setup.input)
    elections.set(service.key, election)
    if (election.owner !== nodeName || self === undefined || nodeExcluded(self, options)) continue
    const interfaces = ownerInterfaces(setup.advertisements, self, service)
    for (const address of service.addresses) claims.push({ service: service.key, address, interfaces })
  }
  return { claims, elections }
}
