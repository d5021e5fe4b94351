// Adj-RIB-Out planning: what a peer should hear -> the fewest UPDATE messages that take it from what it
// has heard. Prefixes sharing attributes travel in one UPDATE (MetalLB's native speaker sends one per
// prefix), packed up to the 4096-byte limit; withdrawals are batched the same way; IPv6 goes through
// MP_REACH/MP_UNREACH (RFC 4760). Attributes follow RFC 4271 §5 and MetalLB/FRR behaviour: ORIGIN IGP;
// AS_PATH empty to iBGP and our ASN to eBGP (with AS_TRANS + AS4_PATH on a 2-octet session, RFC 6793);
// NEXT_HOP the session's local address (a global IPv6 address for IPv6); LOCAL_PREF only to iBGP, 100
// unless an advertisement sets it (FRR's default); communities and large communities from the
// BGPAdvertisements, merged when several advertisements announce the same prefix. On a session
// without an IPv4 next hop that negotiated RFC 8950 extended next hop (BGP unnumbered), IPv4 routes
// go in MP_REACH_NLRI (AFI 1) with the IPv6 next hops instead of NEXT_HOP; their withdrawals stay in
// the body's Withdrawn Routes, which RFC 4271 defines for IPv4 unicast whatever the next hop.
import type { BgpAdvertisement, BgpCommunity } from "../config/config.ts"
import type { Address, Family } from "../net/address.ts"
import { makePrefix, type Prefix } from "../net/prefix.ts"
import { asTrans, type LargeCommunity, maxMessageLength, type PathAttributes, type Update } from "./messages.ts"

/** One prefix the speaker wants a peer to hear, with the attributes advertisements give it. */
export interface DesiredRoute {
  readonly prefix: Prefix
  readonly localPref?: number
  readonly communities: ReadonlyArray<BgpCommunity>
}

/** What the planner needs to know about an Established session. */
export interface PeerContext {
  readonly localAsn: number
  readonly peerAsn: number
  readonly fourOctetAsn: boolean
  /** Negotiated families; routes of other families are not sent. */
  readonly families: ReadonlyArray<Family>
  readonly nextHopV4?: Address
  /** Global IPv6 next hop, optionally followed by a link-local one. */
  readonly nextHopsV6?: ReadonlyArray<Address>
  /** RFC 8950 negotiated: without nextHopV4, IPv4 routes take nextHopsV6 in MP_REACH_NLRI. */
  readonly extendedNextHop?: boolean
}

/** IPv4 routes travel with an IPv6 next hop (RFC 8950): no IPv4 next hop, extended next hop negotiated. */
const ipv4OverIpv6 = (peer: PeerContext): boolean =>
  peer.nextHopV4 === undefined && peer.extendedNextHop === true && (peer.nextHopsV6?.length ?? 0) > 0

interface SentRoute {
  readonly prefix: Prefix
  readonly attributesKey: string
}

/** What has been sent to the peer, by prefix. */
export interface AdjRibOut {
  readonly routes: ReadonlyMap<string, SentRoute>
}

export const emptyAdjRibOut: AdjRibOut = { routes: new Map() }

// A cheap, unique key per prefix (formatting addresses costs more than everything else in a plan).
const prefixKey = (p: Prefix) => `${p.family === "ipv4" ? 4 : 6}/${p.network.toString(16)}/${p.length}`
/**
 * Desired prefixes not (yet) in the Adj-RIB-Out: all of them while the session is down, then those of
 * a family the peer did not negotiate (metallb_bgp_pending_prefixes_total).
 */
export const pendingPrefixes = (adjRibOut: AdjRibOut, desired: ReadonlyArray<DesiredRoute>): number =>
  desired.reduce((n, d) => (adjRibOut.routes.has(prefixKey(d.prefix)) ? n : n + 1), 0)

const comparePrefixes = (a: Prefix, b: Prefix) =>
  a.family !== b.family ? (a.family === "ipv4" ? -1 : 1) : a.network !== b.network ? (a.network < b.network ? -1 : 1) : a.length - b.length

/** Routes a service's addresses get from the advertisements that apply to it, merged per prefix. */
export const desiredRoutes = (addresses: ReadonlyArray<Address>, advertisements: ReadonlyArray<BgpAdvertisement>): ReadonlyArray<DesiredRoute> => {
  const routes = new Map<string, DesiredRoute>()
  for (const ad of advertisements) {
    for (const address of addresses) {
      const prefix = makePrefix(address.family, address.value, address.family === "ipv4" ? ad.aggregationLength : ad.aggregationLengthV6)
      const key = prefixKey(prefix)
      const existing = routes.get(key)
      const localPref = existing?.localPref ?? ad.localPref
      routes.set(key, {
        prefix,
        ...(localPref === undefined ? {} : { localPref }),
        communities: [...(existing?.communities ?? []), ...ad.communities],
      })
    }
  }
  return [...routes.values()]
}

/** Merges routes for one peer coming from several services (same prefix: communities unioned). */
export const mergeRoutes = (routes: ReadonlyArray<DesiredRoute>): ReadonlyArray<DesiredRoute> => {
  const merged = new Map<string, DesiredRoute>()
  for (const route of routes) {
    const key = prefixKey(route.prefix)
    const existing = merged.get(key)
    if (existing === undefined) {
      merged.set(key, route)
      continue
    }
    const localPref = existing.localPref ?? route.localPref
    merged.set(key, {
      prefix: route.prefix,
      ...(localPref === undefined ? {} : { localPref }),
      communities: [...existing.communities, ...route.communities],
    })
  }
  return [...merged.values()]
}

const defaultLocalPref = 100

const standardValue = (c: Extract<BgpCommunity, { kind: "standard" }>) => ((c.asn << 16) | c.value) >>> 0

/** The path attributes a route carries on this session (without NLRI-carrying MP attributes). */
export const attributesFor = (route: DesiredRoute, peer: PeerContext): PathAttributes => {
  const ibgp = peer.localAsn === peer.peerAsn
  const standard = [...new Set(route.communities.flatMap((c) => (c.kind === "standard" ? [standardValue(c)] : [])))].sort((a, b) => a - b)
  const large: Array<LargeCommunity> = []
  const seenLarge = new Set<string>()
  for (const c of route.communities) {
    if (c.kind !== "large") continue
    const key = `${c.globalAdministrator}:${c.localData1}:${c.localData2}`
    if (seenLarge.has(key)) continue
    seenLarge.add(key)
    large.push({ globalAdministrator: c.globalAdministrator, localData1: c.localData1, localData2: c.localData2 })
  }
  large.sort((a, b) => a.globalAdministrator - b.globalAdministrator || a.localData1 - b.localData1 || a.localData2 - b.localData2)
  const needsAs4 = !ibgp && !peer.fourOctetAsn && peer.localAsn > 0xffff
  return {
    origin: "igp",
    asPath: ibgp ? [] : [{ type: "sequence", asns: [needsAs4 ? asTrans : peer.localAsn] }],
    ...(needsAs4 ? { as4Path: [{ type: "sequence" as const, asns: [peer.localAsn] }] } : {}),
    ...(route.prefix.family === "ipv4" && peer.nextHopV4 !== undefined ? { nextHop: peer.nextHopV4 } : {}),
    ...(ibgp ? { localPref: route.localPref ?? defaultLocalPref } : {}),
    ...(standard.length > 0 ? { communities: standard } : {}),
    ...(large.length > 0 ? { largeCommunities: large } : {}),
  }
}

const communityText = (c: BgpCommunity) =>
  c.kind === "standard" ? `${c.asn}:${c.value}` : `L${c.globalAdministrator}:${c.localData1}:${c.localData2}`

const attributesKeyOf = (attributes: PathAttributes) =>
  JSON.stringify(attributes, (_, v) => (typeof v === "bigint" ? v.toString() : v))

// Encoded sizes (RFC 4271 §4.3): an attribute is 3 header bytes (4 with extended length) + value.
const prefixBytes = (p: Prefix) => 1 + Math.ceil(p.length / 8)
const attributeBytes = (valueLength: number) => (valueLength > 255 ? 4 : 3) + valueLength
const segmentBytes = (asns: number, asnWidth: number) => 2 + asns * asnWidth

const baseAttributesBytes = (a: PathAttributes, fourOctetAsn: boolean): number => {
  const asnWidth = fourOctetAsn ? 4 : 2
  let total = 0
  if (a.origin !== undefined) total += attributeBytes(1)
  if (a.asPath !== undefined) total += attributeBytes(a.asPath.reduce((n, s) => n + segmentBytes(s.asns.length, asnWidth), 0))
  if (a.nextHop !== undefined) total += attributeBytes(4)
  if (a.localPref !== undefined) total += attributeBytes(4)
  if (a.communities !== undefined) total += attributeBytes(4 * a.communities.length)
  if (a.as4Path !== undefined) total += attributeBytes(a.as4Path.reduce((n, s) => n + segmentBytes(s.asns.length, 4), 0))
  if (a.largeCommunities !== undefined) total += attributeBytes(12 * a.largeCommunities.length)
  return total
}

/** Bytes of an UPDATE: header, withdrawn-routes length, withdrawn, attributes length, attributes, NLRI. */
const fixedUpdateBytes = 19 + 2 + 2

/** Splits prefixes into runs whose encoded size, added to `overhead`, stays within one message. */
const pack = (prefixes: ReadonlyArray<Prefix>, overhead: (chunk: number) => number): Array<Array<Prefix>> => {
  const chunks: Array<Array<Prefix>> = []
  let current: Array<Prefix> = []
  let bytes = 0
  for (const prefix of prefixes) {
    const size = prefixBytes(prefix)
    if (current.length > 0 && overhead(bytes + size) > maxMessageLength) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(prefix)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

const mpReachBytes = (nlriBytes: number, nextHops: number) => attributeBytes(5 + 16 * nextHops + nlriBytes)
const mpUnreachBytes = (withdrawnBytes: number) => attributeBytes(3 + withdrawnBytes)

const announcements = (family: Family, prefixes: ReadonlyArray<Prefix>, attributes: PathAttributes, peer: PeerContext): Array<Update> => {
  const base = baseAttributesBytes(attributes, peer.fourOctetAsn)
  if (family === "ipv4" && !ipv4OverIpv6(peer)) {
    return pack(prefixes, (nlri) => fixedUpdateBytes + base + nlri).map((nlri) => ({ _tag: "Update", withdrawn: [], attributes, nlri }))
  }
  const nextHops = peer.nextHopsV6 ?? []
  return pack(prefixes, (nlri) => fixedUpdateBytes + base + mpReachBytes(nlri, nextHops.length)).map((nlri) => ({
    _tag: "Update",
    withdrawn: [],
    attributes: { ...attributes, mpReach: { family, nextHops, nlri } },
    nlri: [],
  }))
}

const withdrawals = (family: Family, prefixes: ReadonlyArray<Prefix>): Array<Update> =>
  family === "ipv4"
    ? pack(prefixes, (bytes) => fixedUpdateBytes + bytes).map((withdrawn) => ({ _tag: "Update", withdrawn, attributes: {}, nlri: [] }))
    : pack(prefixes, (bytes) => fixedUpdateBytes + mpUnreachBytes(bytes)).map((withdrawn) => ({
      _tag: "Update",
      withdrawn: [],
      attributes: { mpUnreach: { family: "ipv6", withdrawn } },
      nlri: [],
    }))

const canSend = (family: Family, peer: PeerContext) =>
  peer.families.includes(family) && (family === "ipv4" ? peer.nextHopV4 !== undefined || ipv4OverIpv6(peer) : (peer.nextHopsV6?.length ?? 0) > 0)

export interface Plan {
  readonly updates: ReadonlyArray<Update>
  readonly adjRibOut: AdjRibOut
  /** Desired prefixes not sent because the session cannot carry their family (not negotiated, or no next hop). */
  readonly unsendable: ReadonlyArray<Prefix>
}

/**
 * The UPDATEs that move the peer from `sent` to `desired`: withdrawals first (batched), then one group
 * of UPDATEs per distinct attribute set, prefixes in ascending order. Deterministic for a given input.
 */
export const planUpdates = (sent: AdjRibOut, desired: ReadonlyArray<DesiredRoute>, peer: PeerContext): Plan => {
  const wanted = new Map<string, { readonly prefix: Prefix; readonly attributes: PathAttributes; readonly key: string }>()
  const unsendable: Array<Prefix> = []
  // Routes share a handful of attribute sets: compute each set (and its key) once.
  const computed = new Map<string, { readonly attributes: PathAttributes; readonly key: string }>()
  for (const route of mergeRoutes(desired)) {
    if (!canSend(route.prefix.family, peer)) {
      unsendable.push(route.prefix)
      continue
    }
    const inputs = `${route.prefix.family}|${route.localPref ?? ""}|${route.communities.map(communityText).join(",")}`
    let shared = computed.get(inputs)
    if (shared === undefined) {
      const attributes = attributesFor(route, peer)
      shared = { attributes, key: attributesKeyOf(attributes) }
      computed.set(inputs, shared)
    }
    wanted.set(prefixKey(route.prefix), { prefix: route.prefix, ...shared })
  }
  const withdrawn = [...sent.routes.entries()].filter(([key]) => !wanted.has(key)).map(([, r]) => r.prefix).sort(comparePrefixes)
  const groups = new Map<string, { readonly family: Family; readonly attributes: PathAttributes; readonly prefixes: Array<Prefix> }>()
  for (const [key, route] of wanted) {
    if (sent.routes.get(key)?.attributesKey === route.key) continue
    const groupKey = `${route.prefix.family}|${route.key}`
    const group = groups.get(groupKey) ?? { family: route.prefix.family, attributes: route.attributes, prefixes: [] }
    group.prefixes.push(route.prefix)
    groups.set(groupKey, group)
  }
  const updates: Array<Update> = []
  for (const family of ["ipv4", "ipv6"] as const) {
    const ofFamily = withdrawn.filter((p) => p.family === family)
    if (ofFamily.length > 0) updates.push(...withdrawals(family, ofFamily))
  }
  const orderedGroups = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g)
  for (const group of orderedGroups) {
    updates.push(...announcements(group.family, [...group.prefixes].sort(comparePrefixes), group.attributes, peer))
  }
  const routes = new Map<string, SentRoute>()
  for (const [key, route] of wanted) routes.set(key, { prefix: route.prefix, attributesKey: route.key })
  return { updates, adjRibOut: { routes }, unsendable }
}

/** MetalLB's native behaviour, kept as the benchmark baseline: one UPDATE per announced prefix. */
export const planOnePerPrefix = (desired: ReadonlyArray<DesiredRoute>, peer: PeerContext): ReadonlyArray<Update> =>
  mergeRoutes(desired)
    .filter((r) => canSend(r.prefix.family, peer))
    .sort((a, b) => comparePrefixes(a.prefix, b.prefix))
    .flatMap((route) => announcements(route.prefix.family, [route.prefix], attributesFor(route, peer), peer))
