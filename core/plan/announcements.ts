// What every node would announce for every service, by the speaker's own decisions: core/speaker/l2.ts
// (the election over core/election/owner.ts, and the interfaces) and core/speaker/bgp.ts (routes per
// peer, with aggregation, LOCAL_PREF and communities), called for each node as each speaker calls them.
// The diff of two such lists is what appears and disappears when a configuration is applied.
import { formatCommunity } from "../config/rules/communities.ts"
import type { Config } from "../config/config.ts"
import type { Election } from "../election/owner.ts"
import { formatAddress } from "../net/address.ts"
import { formatPrefix } from "../net/prefix.ts"
import { bgpAnnouncements } from "../speaker/bgp.ts"
import { l2Announcements } from "../speaker/l2.ts"
import type { ClusterSnapshot } from "../speaker/view.ts"

export interface Announcement {
  readonly protocol: "layer2" | "bgp"
  /** namespace/name */
  readonly service: string
  readonly node: string
  /** layer2: the address; bgp: the prefix announced (an aggregate with aggregationLength). */
  readonly target: string
  /** layer2: the interfaces answered on (empty: every usable interface). */
  readonly interfaces?: ReadonlyArray<string>
  /** bgp: the peer (BGPPeer name) the route goes to. */
  readonly peer?: string
  readonly localPref?: number
  readonly communities?: ReadonlyArray<string>
}

export interface AnnouncementOptions {
  /** Nodes whose speaker runs (the membership); undefined: every node, as with membership off. */
  readonly members?: ReadonlySet<string>
  readonly ignoreExcludeLb?: boolean
}

export const announcementsOf = (config: Config, snapshot: ClusterSnapshot, options: AnnouncementOptions = {}): ReadonlyArray<Announcement> => {
  const out: Array<Announcement> = []
  const ignoreExcludeLb = options.ignoreExcludeLb ?? false
  // Every speaker elects the same owner for a service, whichever node asks; each owner is then asked
  // for its claims (interfaces) over its own services only: two elections per service, not one per node.
  const [anyNode] = snapshot.nodes
  const elections: ReadonlyMap<string, Election> = anyNode === undefined ? new Map() : l2Announcements(config, snapshot, anyNode.name, options.members, { ignoreExcludeLb }).elections
  const owned = new Map<string, Set<string>>()
  for (const [service, election] of elections) if (election.owner !== undefined) owned.set(election.owner, (owned.get(election.owner) ?? new Set()).add(service))
  for (const node of snapshot.nodes) {
    const mine = owned.get(node.name)
    if (mine !== undefined) {
      const l2 = l2Announcements(config, { ...snapshot, services: snapshot.services.filter((s) => mine.has(s.key)) }, node.name, options.members, { ignoreExcludeLb })
      for (const claim of l2.claims) {
        out.push({ protocol: "layer2", service: claim.service, node: node.name, target: formatAddress(claim.address), interfaces: claim.interfaces })
      }
    }
    // A speaker whose pod does not run announces nothing over BGP either.
    if (options.members !== undefined && !options.members.has(node.name)) continue
    for (const service of snapshot.services) {
      if (service.addresses.length === 0) continue
      // One service at a time, as the speaker reports each service's peers (ServiceBGPStatus).
      const perPeer = bgpAnnouncements(config, { ...snapshot, services: [service] }, node, { ignoreExcludeLb })
      for (const [peer, routes] of perPeer) {
        for (const route of routes) {
          out.push({
            protocol: "bgp",
            service: service.key,
            node: node.name,
            target: formatPrefix(route.prefix),
            peer,
            ...(route.localPref === undefined ? {} : { localPref: route.localPref }),
            communities: route.communities.map(formatCommunity),
          })
        }
      }
    }
  }
  return out.sort(compareAnnouncements)
}

const announcementKey = (a: Announcement): string => JSON.stringify([a.protocol, a.service, a.node, a.peer ?? "", a.target])
const announcementText = (a: Announcement): string => JSON.stringify([a.interfaces ?? [], a.localPref ?? null, a.communities ?? []])

export const compareAnnouncements = (a: Announcement, b: Announcement): number =>
  a.service.localeCompare(b.service) || a.protocol.localeCompare(b.protocol) || a.node.localeCompare(b.node) ||
  (a.peer ?? "").localeCompare(b.peer ?? "") || a.target.localeCompare(b.target)

export interface AnnouncementDiff {
  readonly appearing: ReadonlyArray<Announcement>
  readonly disappearing: ReadonlyArray<Announcement>
  /** Same node, peer and target, other interfaces or attributes: [before, after]. */
  readonly changing: ReadonlyArray<readonly [Announcement, Announcement]>
}

export const diffAnnouncements = (before: ReadonlyArray<Announcement>, after: ReadonlyArray<Announcement>): AnnouncementDiff => {
  const old = new Map(before.map((a) => [announcementKey(a), a]))
  const next = new Map(after.map((a) => [announcementKey(a), a]))
  const appearing = after.filter((a) => !old.has(announcementKey(a)))
  const disappearing = before.filter((a) => !next.has(announcementKey(a)))
  const changing: Array<readonly [Announcement, Announcement]> = []
  for (const [key, a] of next) {
    const b = old.get(key)
    if (b !== undefined && announcementText(a) !== announcementText(b)) changing.push([b, a])
  }
  return { appearing, disappearing, changing }
}
