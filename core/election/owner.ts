// Which node announces a service's IP in L2 mode: MetalLB's layer2 ShouldAnnounce as one pure function of
// a cluster view, so that every speaker holding the same view elects the same node without talking to the
// others. Rules, in MetalLB's order: at least one serving endpoint; a service sharing its IP refuses when any
// of the pool's L2Advertisements has serviceSelectors (siblings could match different ads and elect different
// nodes); the ads are those whose serviceSelectors match the service; candidates are the live members (every
// node when membership is off) minus NetworkUnavailable nodes, minus nodes labelled
// node.kubernetes.io/exclude-from-external-load-balancers (unless ignored), within some ad's node set, and for
// externalTrafficPolicy Local only nodes with a serving endpoint. Order: the summed weights of each ad's
// preferredNodeSelectors (an ad only scores nodes in its own node set), descending, then
// sha256(nodeName + "#" + firstIP) ascending bytewise; the first candidate announces. Dual-stack services
// hash their first IP, so both families land on the same node. Beyond MetalLB, data-path failover per
// interface: a node whose interfaces for the service (the union of the `interfaces` of the ads covering it;
// none listed means every usable one) are all down, as its membership metadata says, is no candidate, so
// only the addresses announced through a lost link move. The all-down case needs no rule here: such a node
// leaves the membership.
import type { L2Advertisement } from "../config/config.ts"
import { anyMatches, matches } from "../config/selector.ts"
import { type Address, formatAddress } from "../net/address.ts"
import { compareBytes, sha256 } from "./sha256.ts"

export interface ElectionService {
  /** namespace/name, for the caller's bookkeeping. */
  readonly key: string
  readonly ips: ReadonlyArray<Address>
  readonly labels: Readonly<Record<string, string>>
  readonly externalTrafficPolicy: "Cluster" | "Local"
  /** The service holds its IP together with other services (allow-shared-ip). */
  readonly sharedIp: boolean
}

export interface ElectionNode {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  /** The NetworkUnavailable condition is True. */
  readonly networkUnavailable: boolean
  /** Carries the node.kubernetes.io/exclude-from-external-load-balancers label. */
  readonly excluded: boolean
}

export interface ElectionEndpoint {
  /** Unset when the EndpointSlice names no node. */
  readonly node?: string
  readonly serving: boolean
}

export interface ElectionInput {
  readonly service: ElectionService
  readonly nodes: ReadonlyArray<ElectionNode>
  /** Nodes whose speaker membership holds alive (or suspect); omitted when membership is off. */
  readonly members?: ReadonlySet<string>
  readonly endpoints: ReadonlyArray<ElectionEndpoint>
  /** The L2Advertisements that apply to the service's pool. */
  readonly advertisements: ReadonlyArray<L2Advertisement>
  /** --ignore-exclude-lb */
  readonly ignoreExcludeLb: boolean
  /** Per node, its Layer 2 interfaces whose link is down (membership metadata); omitted: none known. */
  readonly downInterfaces?: ReadonlyMap<string, ReadonlyArray<string>>
}

export type ElectionReason =
  | "Elected"
  | "NoIp"
  | "NoServingEndpoint"
  | "SharedIpWithServiceSelectors"
  | "NoMatchingAdvertisement"
  | "NoAvailableNode"
  /** Some nodes were otherwise eligible, but every interface they would announce on is down. */
  | "AnnouncingInterfacesDown"

export interface Election {
  readonly owner?: string
  /** Every eligible node, best first; the owner is the head. */
  readonly candidates: ReadonlyArray<string>
  readonly reason: ElectionReason
}

const encoder = new TextEncoder()

/** The address as Go's net.IP.String() prints it: IPv4-mapped IPv6 addresses print as dotted quads. */
export const goIpString = (address: Address): string =>
  address.family === "ipv6" && address.value >> 32n === 0xffffn
    ? formatAddress({ family: "ipv4", value: address.value & 0xffff_ffffn })
    : formatAddress(address)

export const electionHash = (nodeName: string, ip: Address): Uint8Array =>
  sha256(encoder.encode(`${nodeName}#${goIpString(ip)}`))

const refuse = (reason: ElectionReason): Election => ({ candidates: [], reason })

/** The interfaces a node announces on for ads covering it: their union, or none (every usable one) if any ad lists none. */
export const announcingInterfaces = (ads: ReadonlyArray<L2Advertisement>): ReadonlyArray<string> =>
  ads.some((ad) => ad.interfaces.length === 0) ? [] : [...new Set(ads.flatMap((ad) => ad.interfaces))].sort()

/** Every interface the node would announce on is down; "every usable interface" is never all down here. */
const cutOff = (covering: ReadonlyArray<L2Advertisement>, down: ReadonlyArray<string> | undefined): boolean => {
  if (down === undefined || down.length === 0) return false
  const interfaces = announcingInterfaces(covering)
  return interfaces.length > 0 && interfaces.every((name) => down.includes(name))
}

/** Why a node is no candidate for an address, or that it is one (with its preferredNodeSelectors score). */
export type NodeVerdict =
  | { readonly node: string; readonly _tag: "Candidate"; readonly score: number }
  | {
    readonly node: string
    readonly _tag: "Rejected"
    readonly reason:
      /** Not in the membership (no live speaker there, as far as the members know). */
      | "NotMember"
      /** A member the view has no Node object for. */
      | "NoNode"
      | "NetworkUnavailable"
      /** node.kubernetes.io/exclude-from-external-load-balancers (without --ignore-exclude-lb). */
      | "ExcludedLabel"
      /** No advertisement's nodeSelectors select it. */
      | "NodeSelector"
      /** externalTrafficPolicy Local and no serving endpoint on it. */
      | "NoLocalEndpoint"
      /** Every interface it would announce on is down. */
      | "InterfacesDown"
  }

export interface ElectionWithReasons {
  readonly election: Election
  /** One verdict per node seen (Nodes and members), in the order they were looked at; empty when refused before. */
  readonly verdicts: ReadonlyArray<NodeVerdict>
}

/**
 * The first 48 bits of a node's election hash for the service's first IP, as a number: the order of
 * these numbers is the hash order wherever they differ (equal ones fall back to the full digests). A
 * caller that elects the same service again (the speaker's pass cache) passes a memo of it, so a change
 * of the members reorders candidates without hashing them again.
 */
export type HashRank = (node: string) => number

export const hashRank = (nodeName: string, ip: Address): number => hashPrefix(electionHash(nodeName, ip))

const hashPrefix = (digest: Uint8Array): number =>
  ((((digest[0]! * 256 + digest[1]!) * 256 + digest[2]!) * 256 + digest[3]!) * 256 + digest[4]!) * 256 + digest[5]!

export const electOwner = (input: ElectionInput, rank?: HashRank): Election => elect(input, rank, false).election

/** The election, with each node's reason to be a candidate or not (what `explain` shows; the speaker uses electOwner). */
export const electOwnerWithReasons = (input: ElectionInput, rank?: HashRank): ElectionWithReasons => elect(input, rank, true)

/**
 * The nodes by name, built once per view: the speaker elects every service over the same nodes array.
 * A memo of a pure function, weak so that it goes with the view.
 */
const byName = new WeakMap<ReadonlyArray<ElectionNode>, ReadonlyMap<string, ElectionNode>>()
const nodesByName = (nodes: ReadonlyArray<ElectionNode>): ReadonlyMap<string, ElectionNode> => {
  let map = byName.get(nodes)
  if (map === undefined) {
    map = new Map(nodes.map((n) => [n.name, n]))
    byName.set(nodes, map)
  }
  return map
}

/**
 * Without verdicts (the speaker's pass), a Local service looks only at the nodes with a serving endpoint:
 * the others are rejected anyway, and the candidates' order does not depend on the order they are looked at.
 */
const elect = (input: ElectionInput, rank: HashRank | undefined, withVerdicts: boolean): ElectionWithReasons => {
  const { service } = input
  const refused = (reason: ElectionReason, verdicts: ReadonlyArray<NodeVerdict> = []): ElectionWithReasons => ({ election: refuse(reason), verdicts })
  const firstIp = service.ips[0]
  if (firstIp === undefined) return refused("NoIp")
  if (!input.endpoints.some((e) => e.serving)) return refused("NoServingEndpoint")
  if (service.sharedIp && input.advertisements.some((ad) => ad.serviceSelectors.length > 0)) {
    return refused("SharedIpWithServiceSelectors")
  }
  const ads = input.advertisements.filter((ad) => anyMatches(ad.serviceSelectors, service.labels))
  if (ads.length === 0) return refused("NoMatchingAdvertisement")

  const nodes = nodesByName(input.nodes)
  const withEndpoint = new Set(input.endpoints.flatMap((e) => (e.serving && e.node !== undefined ? [e.node] : [])))
  const members = input.members
  const pool = !withVerdicts && service.externalTrafficPolicy === "Local"
    ? [...withEndpoint].filter((name) => (members === undefined ? nodes.has(name) : members.has(name)))
    : members === undefined ? [...nodes.keys()] : [...members]
  const verdicts: Array<NodeVerdict> = []
  const reject = (node: string, reason: Extract<NodeVerdict, { _tag: "Rejected" }>["reason"]) => {
    if (withVerdicts) verdicts.push({ node, _tag: "Rejected", reason })
  }
  const scores = new Map<string, number>()
  let linksDown = false
  for (const name of new Set(pool)) {
    const node = nodes.get(name)
    // A member the view has no Node for has no labels to match an ad's node set, as in MetalLB.
    if (node === undefined) {
      reject(name, "NoNode")
      continue
    }
    if (node.networkUnavailable) {
      reject(name, "NetworkUnavailable")
      continue
    }
    if (node.excluded && !input.ignoreExcludeLb) {
      reject(name, "ExcludedLabel")
      continue
    }
    const covering = ads.filter((ad) => anyMatches(ad.nodeSelectors, node.labels))
    if (covering.length === 0) {
      reject(name, "NodeSelector")
      continue
    }
    if (service.externalTrafficPolicy === "Local" && !withEndpoint.has(name)) {
      reject(name, "NoLocalEndpoint")
      continue
    }
    if (cutOff(covering, input.downInterfaces?.get(name))) {
      linksDown = true
      reject(name, "InterfacesDown")
      continue
    }
    const score = covering.reduce((sum, ad) => sum + preferenceScore(ad, node.labels), 0)
    scores.set(name, score)
    if (withVerdicts) verdicts.push({ node: name, _tag: "Candidate", score })
  }
  if (withVerdicts && members !== undefined) for (const name of nodes.keys()) if (!members.has(name)) reject(name, "NotMember")
  if (scores.size === 0) return refused(linksDown ? "AnnouncingInterfacesDown" : "NoAvailableNode", verdicts)

  const ranks = new Map([...scores.keys()].map((name) => [name, rank === undefined ? hashRank(name, firstIp) : rank(name)]))
  // Equal 48-bit prefixes (rare) are ordered by the whole digests, so the order is exactly the hash order.
  const byHash = (a: string, b: string) => ranks.get(a)! - ranks.get(b)! || compareBytes(electionHash(a, firstIp), electionHash(b, firstIp))
  const candidates = [...scores.keys()].sort((a, b) => scores.get(b)! - scores.get(a)! || byHash(a, b) || (a < b ? -1 : a > b ? 1 : 0))
  return { election: { owner: candidates[0]!, candidates, reason: "Elected" }, verdicts }
}

const preferenceScore = (ad: L2Advertisement, labels: Readonly<Record<string, string>>): number =>
  ad.preferredNodeSelectors.reduce((sum, p) => (matches(p.selector, labels) ? sum + p.weight : sum), 0)

export const announces = (election: Election, nodeName: string): boolean => election.owner === nodeName
