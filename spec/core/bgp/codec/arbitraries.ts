// fast-check arbitraries for valid BGP messages: values the codec must round-trip exactly. "Valid"
// follows what decoding yields: prefixes with host bits zero, non-zero ASNs, AS_PATH segments of
// 1..255 ASNs, non-empty community lists, unknown attributes optional transitive with the Partial bit
// and sorted by code (encoding orders by code), the well-known attributes present whenever the UPDATE
// carries reachable NLRI, and an OPEN whose ASN above 65535 comes with the 4-octet AS capability.
import fc from "fast-check"
import type { Address, Family } from "../../../../core/net/address.ts"
import { makePrefix, type Prefix } from "../../../../core/net/prefix.ts"
import type {
  AsPathSegment,
  Capability,
  Keepalive,
  LargeCommunity,
  Message,
  MpReach,
  MpUnreach,
  Notification,
  Open,
  PathAttributes,
  RouteRefresh,
  UnknownAttribute,
  Update,
} from "../../../../core/bgp/messages.ts"

export const familyArb: fc.Arbitrary<Family> = fc.constantFrom("ipv4", "ipv6")

export const addressArb = (family: Family): fc.Arbitrary<Address> =>
  fc.bigInt({ min: 0n, max: (1n << (family === "ipv4" ? 32n : 128n)) - 1n }).map((value) => ({ family, value }))

export const prefixArb = (family: Family): fc.Arbitrary<Prefix> =>
  fc
    .tuple(addressArb(family), fc.integer({ min: 0, max: family === "ipv4" ? 32 : 128 }))
    .map(([address, length]) => makePrefix(family, address.value, length))

const u32 = fc.integer({ min: 0, max: 0xffffffff })
const asnArb = fc.oneof(fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 1, max: 0xffffffff }))

export const asPathArb: fc.Arbitrary<ReadonlyArray<AsPathSegment>> = fc.array(
  fc.record({ type: fc.constantFrom("set" as const, "sequence" as const), asns: fc.array(asnArb, { minLength: 1, maxLength: 12 }) }),
  { maxLength: 4 },
)

const largeCommunityArb: fc.Arbitrary<LargeCommunity> = fc.record({ globalAdministrator: u32, localData1: u32, localData2: u32 })

const knownCodes = new Set([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 17, 18, 32])
const unknownArb: fc.Arbitrary<ReadonlyArray<UnknownAttribute>> = fc
  .uniqueArray(
    fc.record({
      flags: fc.constant(0xe0),
      code: fc.integer({ min: 0, max: 255 }).filter((code) => !knownCodes.has(code)),
      // Long values take the Extended Length form (more than 255 bytes).
      value: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 250, maxLength: 400 })),
    }),
    { selector: (a) => a.code, maxLength: 3 },
  )
  .map((list) => [...list].sort((a, b) => a.code - b.code))

const nextHopsArb = (family: Family): fc.Arbitrary<ReadonlyArray<Address>> =>
  fc.oneof(
    family === "ipv4" ? addressArb("ipv4").map((a) => [a]) : addressArb("ipv6").map((a) => [a]),
    addressArb("ipv6").map((a) => [a]),
    fc.tuple(addressArb("ipv6"), addressArb("ipv6")).map(([a, b]) => [a, b]),
  )

const mpReachArb: fc.Arbitrary<MpReach> = familyArb.chain((family) =>
  fc.record({ family: fc.constant(family), nextHops: nextHopsArb(family), nlri: fc.array(prefixArb(family), { maxLength: 15 }) })
)

const mpUnreachArb: fc.Arbitrary<MpUnreach> = familyArb.chain((family) =>
  fc.record({ family: fc.constant(family), withdrawn: fc.array(prefixArb(family), { maxLength: 15 }) })
)

const attributesArb: fc.Arbitrary<PathAttributes> = fc.record(
  {
    origin: fc.constantFrom("igp" as const, "egp" as const, "incomplete" as const),
    asPath: asPathArb,
    nextHop: addressArb("ipv4"),
    med: u32,
    localPref: u32,
    atomicAggregate: fc.constant(true),
    communities: fc.array(u32, { minLength: 1, maxLength: 20 }),
    largeCommunities: fc.array(largeCommunityArb, { minLength: 1, maxLength: 8 }),
    mpReach: mpReachArb,
    mpUnreach: mpUnreachArb,
    unknown: unknownArb.filter((list) => list.length > 0),
  },
  { requiredKeys: [] },
)

export const updateArb: fc.Arbitrary<Update> = fc
  .record({
    withdrawn: fc.array(prefixArb("ipv4"), { maxLength: 15 }),
    attributes: attributesArb,
    nlri: fc.array(prefixArb("ipv4"), { maxLength: 15 }),
    origin: fc.constantFrom("igp" as const, "egp" as const, "incomplete" as const),
    asPath: asPathArb,
    nextHop: addressArb("ipv4"),
  })
  .map(({ withdrawn, attributes, nlri, origin, asPath, nextHop }): Update => {
    const reachable = nlri.length > 0 || (attributes.mpReach?.nlri.length ?? 0) > 0
    const required: PathAttributes = reachable
      ? {
        origin: attributes.origin ?? origin,
        asPath: attributes.asPath ?? asPath,
        ...(nlri.length > 0 ? { nextHop: attributes.nextHop ?? nextHop } : {}),
      }
      : {}
    return { _tag: "Update", withdrawn, attributes: { ...attributes, ...required }, nlri }
  })

const unicast = new Set(["1/1", "2/1"])
const capabilityArb: fc.Arbitrary<Capability> = fc.oneof(
  familyArb.map((family): Capability => ({ _tag: "Multiprotocol", family })),
  fc.constant<Capability>({ _tag: "RouteRefresh" }),
  fc.record({
    _tag: fc.constant("GracefulRestart" as const),
    restarting: fc.boolean(),
    restartTimeSeconds: fc.integer({ min: 0, max: 4095 }),
    families: fc.array(fc.record({ family: familyArb, forwardingPreserved: fc.boolean() }), { maxLength: 3 }),
  }),
  fc.record({
    _tag: fc.constant("ExtendedNextHop" as const),
    // RFC 8950 entries: mostly the IPv4-over-IPv6 one, any values otherwise (kept as sent).
    entries: fc.array(
      fc.oneof(
        fc.constant({ afi: 1, safi: 1, nextHopAfi: 2 }),
        fc.record({ afi: fc.integer({ min: 0, max: 0xffff }), safi: fc.integer({ min: 0, max: 0xffff }), nextHopAfi: fc.integer({ min: 0, max: 0xffff }) }),
      ),
      { maxLength: 6 },
    ),
  }),
  fc
    .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }))
    .filter(([afi, , safi]) => !unicast.has(`${afi}/${safi}`))
    .map(([afi, reserved, safi]): Capability => ({ _tag: "UnknownCapability", code: 1, value: Uint8Array.of(afi >> 8, afi & 0xff, reserved, safi) })),
  fc.record({
    _tag: fc.constant("UnknownCapability" as const),
    code: fc.integer({ min: 3, max: 255 }).filter((code) => code !== 5 && code !== 64 && code !== 65),
    // Long values push the capabilities past 253 bytes, into RFC 9072 extended parameters.
    value: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 150, maxLength: 255 })),
  }),
)

export const openArb: fc.Arbitrary<Open> = fc
  .record({
    asn: asnArb,
    holdTimeSeconds: fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 0xffff })),
    bgpIdentifier: fc.integer({ min: 1, max: 0xffffffff }),
    capabilities: fc.array(capabilityArb, { maxLength: 6 }),
    announceAsn: fc.boolean(),
    position: fc.nat(),
  })
  .map(({ asn, holdTimeSeconds, bgpIdentifier, capabilities, announceAsn, position }): Open => {
    const withAsn = [...capabilities]
    if (announceAsn || asn > 0xffff) withAsn.splice(position % (withAsn.length + 1), 0, { _tag: "FourOctetAsn", asn })
    return { _tag: "Open", asn, holdTimeSeconds, bgpIdentifier, capabilities: withAsn }
  })

export const notificationArb: fc.Arbitrary<Notification> = fc.record({
  _tag: fc.constant("Notification" as const),
  code: fc.integer({ min: 0, max: 255 }),
  subcode: fc.integer({ min: 0, max: 255 }),
  data: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 4000, maxLength: 4075 })),
})

export const keepaliveArb: fc.Arbitrary<Keepalive> = fc.constant({ _tag: "Keepalive" })

export const routeRefreshArb: fc.Arbitrary<RouteRefresh> = fc.record({
  _tag: fc.constant("RouteRefresh" as const),
  family: familyArb,
  subtype: fc.integer({ min: 0, max: 2 }),
})

export const messageArb: fc.Arbitrary<Message> = fc.oneof(openArb, updateArb, notificationArb, keepaliveArb, routeRefreshArb)
