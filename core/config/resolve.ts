// resolve(documents, context): the whole metallb.io configuration in one pass. Decodes every document
// (Secrets and Nodes among them join the context's: the cluster's Secrets, and its Nodes when known),
// applies every rule of MetalLB's parser and validator (FRR-mode semantics, see METALLB.md §1), and
// returns either one Config or every error at once, each naming its object, field and value. The
// result does not depend on the order of the documents: rules that pick "the first" of two objects
// (duplicate names) use document order, everything else sorts.
import type { BgpCommunity, Config, Resolution } from "./config.ts"
import { decodeDocuments, type Document } from "./decode.ts"
import { type ConfigError, configError, type ObjectRef } from "./errors.ts"
import { resolveBgpAdvertisements, resolveL2Advertisements } from "./rules/advertisements.ts"
import { resolveBfdProfiles } from "./rules/bfd.ts"
import { resolveCommunityAliases } from "./rules/communities.ts"
import { defaultContext, type ResolveContext } from "./rules/context.ts"
import { resolvePeers } from "./rules/peers.ts"
import { resolvePools } from "./rules/pools.ts"

/** BFD echo mode is IPv4-only in FRR: refuse it on peers that are IPv6 or receive IPv6 routes. */
const echoModeOnIpv6 = (config: Config, refs: ReadonlyMap<string, ObjectRef>): ReadonlyArray<ConfigError> => {
  const errors: Array<ConfigError> = []
  for (const peer of config.peers.values()) {
    const profile = peer.bfdProfile === undefined ? undefined : config.bfdProfiles.get(peer.bfdProfile)
    if (profile === undefined || !profile.echoMode) continue
    const ipv6Pool = config.bgpAdvertisements
      .filter((ad) => ad.peers.length === 0 || ad.peers.includes(peer.name))
      .flatMap((ad) => ad.pools)
      .find((name) => config.pools.get(name)?.cidrs.some((c) => c.family === "ipv6"))
    if (peer.address?.family !== "ipv6" && ipv6Pool === undefined) continue
    errors.push(configError({
      code: "EchoModeWithIpv6",
      object: refs.get(`BGPPeer/${peer.name}`) ?? { kind: "BGPPeer", name: peer.name },
      field: "spec.bfdProfile",
      value: peer.bfdProfile,
      other: { object: refs.get(`BFDProfile/${profile.name}`) ?? { kind: "BFDProfile", name: profile.name }, field: "spec.echoMode", value: true },
      message: peer.address?.family === "ipv6"
        ? "BFD echo mode is not supported on an IPv6 session"
        : `BFD echo mode is not supported for a peer receiving IPv6 routes (pool ${JSON.stringify(ipv6Pool)})`,
    }))
  }
  return errors
}

const severityRank = { permanent: 0, transient: 1, warning: 2 } as const

/** A stable order for reporting: by severity, then object, then field. */
const byObjectAndField = (a: ConfigError, b: ConfigError): number =>
  severityRank[a.severity] - severityRank[b.severity] ||
  a.object.kind.localeCompare(b.object.kind) ||
  a.object.name.localeCompare(b.object.name) ||
  a.field.localeCompare(b.field, undefined, { numeric: true }) ||
  a.code.localeCompare(b.code) ||
  a.message.localeCompare(b.message)

export const resolve = (documents: ReadonlyArray<Document>, given: ResolveContext = defaultContext): Resolution => {
  const { objects, errors: decodeErrors } = decodeDocuments(documents)
  // Nodes among the documents (a file given to `validate`) count as known, beside the cluster's.
  const documentNodes = objects.nodes.map(({ object }) => ({ name: object.metadata.name, labels: object.metadata.labels ?? {} }))
  const context: ResolveContext = documentNodes.length === 0 ? given : { ...given, nodes: [...(given.nodes ?? []), ...documentNodes] }
  const secrets = [...objects.secrets, ...context.secrets]
  const bfd = resolveBfdProfiles(objects.bfdProfiles, context)
  const communities = resolveCommunityAliases(objects.communities, context)
  const pools = resolvePools(objects.pools, context)
  const peers = resolvePeers(objects.peers, bfd.profiles, secrets, context)
  const invalidPools = new Set(objects.pools.map((p) => p.ref.name).filter((name) => !pools.pools.has(name)))
  const l2 = resolveL2Advertisements(objects.l2Advertisements, pools.pools, context, invalidPools)
  const bgp = resolveBgpAdvertisements(objects.bgpAdvertisements, pools.pools, new Set(peers.peers.keys()), communities.aliases, context, invalidPools)
  const config: Config = {
    pools: pools.pools,
    peers: peers.peers,
    bfdProfiles: bfd.profiles,
    l2Advertisements: l2.advertisements,
    bgpAdvertisements: bgp.advertisements,
    communityAliases: communities.aliases as ReadonlyMap<string, BgpCommunity>,
  }
  const all = [
    ...decodeErrors,
    ...bfd.errors,
    ...communities.errors,
    ...pools.errors,
    ...peers.errors,
    ...l2.errors,
    ...bgp.errors,
    ...echoModeOnIpv6(config, new Map([...objects.peers, ...objects.bfdProfiles].map((o) => [`${o.ref.kind}/${o.ref.name}`, o.ref]))),
  ].sort(byObjectAndField)
  const warnings = all.filter((e) => e.severity === "warning")
  const errors = all.filter((e) => e.severity !== "warning")
  return errors.length === 0 ? { _tag: "Valid", config, warnings } : { _tag: "Invalid", errors, warnings }
}
