// L2Advertisement and BGPAdvertisement rules (MetalLB internal/config): list fields without duplicates,
// valid selectors, pools named or selected (none of either means every pool; an unknown pool name is
// accepted as MetalLB does, with a warning here), BGP aggregation lengths within the family and no
// shorter than any prefix of the pools it covers, communities as literals or known aliases, service
// selectors only with default aggregation, and no two advertisements of one pool with different
// LOCAL_PREF unless they cannot reach the same peer from the same node with the same aggregation.
import { formatAddress } from "../../net/address.ts"
import { type AddressRange, formatPrefix, type Prefix, summariseRange } from "../../net/prefix.ts"
import type { BgpAdvertisement, BgpCommunity, L2Advertisement, Pool } from "../config.ts"
import type { Located } from "../decode.ts"
import { type ConfigError, configError, type ObjectRef } from "../errors.ts"
import type { BGPAdvertisement } from "../kinds/bgp-advertisement.ts"
import type { L2Advertisement as L2AdvertisementObject } from "../kinds/l2-advertisement.ts"
import type { LabelSelector } from "../selector.ts"
import { anyMatches, parseSelector } from "../selector.ts"
import { checkNamespace, duplicateEntries, parseSelectorList, uniqueByName } from "./common.ts"
import { resolveCommunityRef } from "./communities.ts"
import type { ResolveContext } from "./context.ts"
import { nodeSetsMeet, whereTheyMeet } from "./node-sets.ts"

const selectPools = (
  ref: ObjectRef,
  names: ReadonlyArray<string> | undefined,
  selectors: ReadonlyArray<LabelSelector> | undefined,
  pools: ReadonlyMap<string, Pool>,
  invalidPools: ReadonlySet<string>,
): { readonly pools: ReadonlyArray<string>; readonly errors: ReadonlyArray<ConfigError> } => {
  const errors: Array<ConfigError> = [...duplicateEntries(ref, "spec.ipAddressPools", names ?? [])]
  const parsed = parseSelectorList(ref, "spec.ipAddressPoolSelectors", selectors)
  errors.push(...parsed.errors)
  if ((names ?? []).length === 0 && (selectors ?? []).length === 0) return { pools: [...pools.keys()].sort(), errors }
  const chosen = new Set<string>()
  ;(names ?? []).forEach((name, i) => {
    if (pools.has(name)) chosen.add(name)
    else if (!invalidPools.has(name)) { // an invalid pool has its own errors; "no pool of this name" would mislead
      errors.push(configError({
        code: "MissingField",
        severity: "warning",
        object: ref,
        field: `spec.ipAddressPools[${i}]`,
        value: name,
        message: "no IPAddressPool of this name; the entry is ignored until one exists",
      }))
    }
  })
  for (const pool of pools.values()) {
    if (parsed.selectors.some((s) => anyMatches([s], pool.labels))) chosen.add(pool.name)
  }
  return { pools: [...chosen].sort(), errors }
}

/** What both kinds of advertisement share: namespace, pools, node and service selectors. */
const resolveCommon = (
  ref: ObjectRef,
  spec: L2AdvertisementObject["spec"] | BGPAdvertisement["spec"],
  pools: ReadonlyMap<string, Pool>,
  context: ResolveContext,
  invalidPools: ReadonlySet<string>,
) => {
  const selected = selectPools(ref, spec.ipAddressPools, spec.ipAddressPoolSelectors, pools, invalidPools)
  const nodeSelectors = parseSelectorList(ref, "spec.nodeSelectors", spec.nodeSelectors)
  const serviceSelectors = parseSelectorList(ref, "spec.serviceSelectors", spec.serviceSelectors)
  return {
    pools: selected.pools,
    nodeSelectors: nodeSelectors.selectors,
    serviceSelectors: serviceSelectors.selectors,
    errors: [...checkNamespace(ref, context), ...selected.errors, ...nodeSelectors.errors, ...serviceSelectors.errors],
  }
}

export const resolveL2Advertisements = (
  ads: ReadonlyArray<Located<L2AdvertisementObject>>,
  pools: ReadonlyMap<string, Pool>,
  context: ResolveContext,
  /** Pools declared but refused (their errors are reported): naming one is not "no pool of this name". */
  invalidPools: ReadonlySet<string> = new Set(),
): { readonly advertisements: ReadonlyArray<L2Advertisement>; readonly errors: ReadonlyArray<ConfigError> } => {
  const { unique, errors: nameErrors } = uniqueByName(ads)
  const errors: Array<ConfigError> = [...nameErrors]
  const advertisements: Array<L2Advertisement> = []
  for (const ad of unique) {
    const spec = ad.object.spec
    const common = resolveCommon(ad.ref, spec, pools, context, invalidPools)
    const local: Array<ConfigError> = [...common.errors, ...duplicateEntries(ad.ref, "spec.interfaces", spec.interfaces ?? [])]
    const preferred: Array<L2Advertisement["preferredNodeSelectors"][number]> = []
    ;(spec.preferredNodeSelectors ?? []).forEach((p, i) => {
      const { selector, problems } = parseSelector(p.preference)
      for (const problem of problems) {
        local.push(configError({ code: "InvalidSelector", object: ad.ref, field: `spec.preferredNodeSelectors[${i}].preference.${problem.field}`, value: problem.value, message: problem.message }))
      }
      if (selector !== undefined) preferred.push({ weight: p.weight, selector })
    })
    errors.push(...local)
    if (local.some((e) => e.severity !== "warning")) continue
    advertisements.push({
      name: ad.ref.name,
      pools: common.pools,
      nodeSelectors: common.nodeSelectors,
      interfaces: spec.interfaces ?? [],
      serviceSelectors: common.serviceSelectors,
      preferredNodeSelectors: preferred,
    })
  }
  return { advertisements, errors }
}

const defaultAggregationLength = 32
const defaultAggregationLengthV6 = 128

const checkAggregation = (ad: Located<BGPAdvertisement>, pools: ReadonlyArray<Pool>): ReadonlyArray<ConfigError> => {
  const errors: Array<ConfigError> = []
  const v4 = ad.object.spec.aggregationLength ?? defaultAggregationLength
  const v6 = ad.object.spec.aggregationLengthV6 ?? defaultAggregationLengthV6
  if (v4 < 1 || v4 > 32) {
    errors.push(configError({ code: "InvalidAggregationLength", object: ad.ref, field: "spec.aggregationLength", value: v4, message: "must be between 1 and 32" }))
  }
  if (v6 < 1 || v6 > 128) {
    errors.push(configError({ code: "InvalidAggregationLength", object: ad.ref, field: "spec.aggregationLengthV6", value: v6, message: "must be between 1 and 128" }))
  }
  if (errors.length > 0) return errors
  // MetalLB (validateBGPAdvPerPool): each spec.addresses entry of the pool is compared by the shortest
  // of the prefixes that make it up (a CIDR is one; a range is summarised into several). Per pool and
  // family, the entry needing the longest aggregation is reported, with the least length that is valid.
  for (const pool of pools) {
    for (const [family, length, field] of [["ipv4", v4, "aggregationLength"], ["ipv6", v6, "aggregationLengthV6"]] as const) {
      let worst: { readonly index: number; readonly shortest: Prefix } | undefined
      pool.ranges.forEach((range, index) => {
        if (range.family !== family) return
        const shortest = summariseRange(range.family, range.first, range.last).reduce((a, b) => (b.length < a.length ? b : a))
        if (shortest.length > length && (worst === undefined || shortest.length > worst.shortest.length)) worst = { index, shortest }
      })
      if (worst === undefined) continue
      const { index, shortest } = worst
      const entry = describeRange(pool.ranges[index])
      errors.push(configError({
        code: "InvalidAggregationLength",
        object: ad.ref,
        field: `spec.${field}`,
        value: length,
        other: { object: { kind: "IPAddressPool", name: pool.name }, field: `spec.addresses[${index}]`, value: entry },
        message: `${field} ${length} is shorter than ${entry === formatPrefix(shortest) ? entry : `${formatPrefix(shortest)}, the largest CIDR of ${entry},`} ` +
          `in pool ${JSON.stringify(pool.name)}: the aggregated routes would cover addresses beyond it; set ${field} to at least ${shortest.length}`,
      }))
    }
  }
  return errors
}

/** A pool entry as CIDR when it is one, else as first-last. */
const describeRange = (range: AddressRange | undefined): string => {
  if (range === undefined) return ""
  const parts = summariseRange(range.family, range.first, range.last)
  const [only] = parts
  return parts.length === 1 && only !== undefined
    ? formatPrefix(only)
    : `${formatAddress({ family: range.family, value: range.first })}-${formatAddress({ family: range.family, value: range.last })}`
}

const resolveCommunities = (
  ad: Located<BGPAdvertisement>,
  aliases: ReadonlyMap<string, BgpCommunity>,
): { readonly communities: ReadonlyArray<BgpCommunity>; readonly errors: ReadonlyArray<ConfigError> } => {
  const texts = ad.object.spec.communities ?? []
  const errors: Array<ConfigError> = [...duplicateEntries(ad.ref, "spec.communities", texts)]
  const communities: Array<BgpCommunity> = []
  const seen = new Set<string>()
  texts.forEach((text, i) => {
    const { community, error } = resolveCommunityRef(text, aliases, ad.ref, `spec.communities[${i}]`)
    if (error !== undefined) errors.push(error)
    if (community === undefined) return
    const key = JSON.stringify(community)
    if (!seen.has(key)) {
      seen.add(key)
      communities.push(community)
    }
  })
  return { communities, errors }
}

interface Candidate {
  readonly located: Located<BGPAdvertisement>
  readonly advertisement: BgpAdvertisement
}

const disjoint = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => a.every((x) => !b.includes(x))

/**
 * MetalLB (isAggrLengthDifferent): the two advertisements never announce the same prefix of this pool
 * when their aggregation lengths differ in every family the pool has (an IPv4-only pool only needs
 * different IPv4 lengths).
 */
const aggregationTellsApart = (a: BgpAdvertisement, b: BgpAdvertisement, pool: Pool | undefined): boolean => {
  const hasV4 = pool?.ranges.some((r) => r.family === "ipv4") ?? true
  const hasV6 = pool?.ranges.some((r) => r.family === "ipv6") ?? true
  return (!hasV4 || a.aggregationLength !== b.aggregationLength) && (!hasV6 || a.aggregationLengthV6 !== b.aggregationLengthV6)
}

const familiesText = (pool: Pool | undefined): string => {
  const families = [...new Set((pool?.ranges ?? []).map((r) => r.family))]
  return families.length === 1 ? (families[0] === "ipv4" ? "aggregationLength (the pool is IPv4 only)" : "aggregationLengthV6 (the pool is IPv6 only)") : "both aggregationLength and aggregationLengthV6"
}

/**
 * MetalLB refuses two advertisements of one pool, both without service selectors, whose LOCAL_PREF
 * differ, unless they can never produce the same route to the same peer: aggregation lengths that
 * differ in every family of that pool, disjoint non-empty peer lists, or node selections that cannot
 * meet. Each advertisement is reported once, against the first (by name) it conflicts with.
 */
const localPrefConflicts = (candidates: ReadonlyArray<Candidate>, pools: ReadonlyMap<string, Pool>, context: ResolveContext): ReadonlyArray<ConfigError> => {
  const errors: Array<ConfigError> = []
  const sorted = [...candidates].sort((a, b) => (a.advertisement.name < b.advertisement.name ? -1 : 1))
  sorted.forEach((later, j) => {
    for (const earlier of sorted.slice(0, j)) {
      const [a, b] = [earlier.advertisement, later.advertisement]
      if (a.serviceSelectors.length > 0 || b.serviceSelectors.length > 0) continue
      if ((a.localPref ?? 0) === (b.localPref ?? 0)) continue
      const pool = a.pools.find((p) => b.pools.includes(p) && !aggregationTellsApart(a, b, pools.get(p)))
      if (pool === undefined) continue
      if (a.peers.length > 0 && b.peers.length > 0 && disjoint(a.peers, b.peers)) continue
      const meeting = nodeSetsMeet(a.nodeSelectors, b.nodeSelectors, context.nodes)
      if (meeting === undefined) continue
      errors.push(configError({
        code: "ConflictingLocalPref",
        object: later.located.ref,
        field: "spec.localPref",
        value: b.localPref ?? 0,
        other: { object: earlier.located.ref, field: "spec.localPref", value: a.localPref ?? 0 },
        message: `pool ${JSON.stringify(pool)} would be announced with LOCAL_PREF ${b.localPref ?? 0} here and ${a.localPref ?? 0} by BGPAdvertisement ${JSON.stringify(a.name)} ` +
          `to the same peers; they ${whereTheyMeet(meeting)}. Give both the same localPref, or tell them apart: a different ${familiesText(pools.get(pool))}, ` +
          "peers lists with no peer in common, nodeSelectors that select no common node, or serviceSelectors",
      }))
      return
    }
  })
  return errors
}

export const resolveBgpAdvertisements = (
  ads: ReadonlyArray<Located<BGPAdvertisement>>,
  pools: ReadonlyMap<string, Pool>,
  peerNames: ReadonlySet<string>,
  aliases: ReadonlyMap<string, BgpCommunity>,
  context: ResolveContext,
  invalidPools: ReadonlySet<string> = new Set(),
): { readonly advertisements: ReadonlyArray<BgpAdvertisement>; readonly errors: ReadonlyArray<ConfigError> } => {
  const { unique, errors: nameErrors } = uniqueByName(ads)
  const errors: Array<ConfigError> = [...nameErrors]
  const candidates: Array<Candidate> = []
  for (const ad of unique) {
    const spec = ad.object.spec
    const common = resolveCommon(ad.ref, spec, pools, context, invalidPools)
    const communities = resolveCommunities(ad, aliases)
    const local: Array<ConfigError> = [...common.errors, ...communities.errors, ...duplicateEntries(ad.ref, "spec.peers", spec.peers ?? [])]
    ;(spec.peers ?? []).forEach((peer, i) => {
      if (!peerNames.has(peer)) {
        local.push(configError({ code: "MissingField", severity: "warning", object: ad.ref, field: `spec.peers[${i}]`, value: peer, message: "no BGPPeer of this name; the entry is ignored until one exists" }))
      }
    })
    const nonDefaultAggregation = (spec.aggregationLength ?? defaultAggregationLength) !== defaultAggregationLength ||
      (spec.aggregationLengthV6 ?? defaultAggregationLengthV6) !== defaultAggregationLengthV6
    if (common.serviceSelectors.length > 0 && nonDefaultAggregation) {
      local.push(configError({
        code: "ConflictingFields",
        object: ad.ref,
        field: "spec.serviceSelectors",
        value: spec.serviceSelectors,
        message: "serviceSelectors can only be used with the default aggregation lengths (32 and 128)",
      }))
    }
    local.push(...checkAggregation(ad, common.pools.flatMap((name) => pools.get(name) ?? [])))
    errors.push(...local)
    if (local.some((e) => e.severity !== "warning")) continue
    candidates.push({
      located: ad,
      advertisement: {
        name: ad.ref.name,
        pools: common.pools,
        aggregationLength: spec.aggregationLength ?? defaultAggregationLength,
        aggregationLengthV6: spec.aggregationLengthV6 ?? defaultAggregationLengthV6,
        ...(spec.localPref === undefined ? {} : { localPref: spec.localPref }),
        communities: communities.communities,
        nodeSelectors: common.nodeSelectors,
        // Unknown names stay: dropping them could turn "only peer X" into "every peer".
        peers: spec.peers ?? [],
        serviceSelectors: common.serviceSelectors,
      },
    })
  }
  errors.push(...localPrefConflicts(candidates, pools, context))
  return { advertisements: candidates.map((c) => c.advertisement), errors }
}
