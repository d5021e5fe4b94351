import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { BgpCommunity } from "../../../core/config/config.ts"
import { asTrans, type Update } from "../../../core/bgp/messages.ts"
import { type DesiredRoute, desiredRoutes, emptyAdjRibOut, type PeerContext, planOnePerPrefix, planUpdates } from "../../../core/bgp/rib.ts"
import type { Address } from "../../../core/net/address.ts"
import { formatPrefix, makePrefix } from "../../../core/net/prefix.ts"

const v4 = (n: number): Address => ({ family: "ipv4", value: 0xc6120000n + BigInt(n) }) // 198.18.0.0 + n
const v6 = (n: number): Address => ({ family: "ipv6", value: 0x20010db8000000000000000000000000n + BigInt(n) })
const route = (address: Address, extra: Partial<DesiredRoute> = {}): DesiredRoute =>
  ({ prefix: makePrefix(address.family, address.value, address.family === "ipv4" ? 32 : 128), communities: [], ...extra })

const ebgp: PeerContext = {
  localAsn: 64500,
  peerAsn: 64501,
  fourOctetAsn: true,
  families: ["ipv4", "ipv6"],
  nextHopV4: { family: "ipv4", value: 0xc0000201n },
  nextHopsV6: [{ family: "ipv6", value: 0x20010db8000000000000000000000001n }],
}
const ibgp: PeerContext = { ...ebgp, peerAsn: 64500 }

/** The receiving side: applies UPDATEs to a table of prefix -> attributes (as text). */
const receive = (table: Map<string, string>, updates: ReadonlyArray<Update>) => {
  for (const u of updates) {
    const { mpReach, mpUnreach, ...attributes } = u.attributes
    const text = JSON.stringify(attributes, (_, v) => (typeof v === "bigint" ? v.toString() : v))
    for (const p of u.withdrawn) table.delete(formatPrefix(p))
    for (const p of mpUnreach?.withdrawn ?? []) table.delete(formatPrefix(p))
    for (const p of u.nlri) table.set(formatPrefix(p), text)
    for (const p of mpReach?.nlri ?? []) table.set(formatPrefix(p), text)
  }
  return table
}

describe("UPDATE planning", () => {
  it("packs every prefix sharing attributes into as few UPDATEs as fit in 4096 bytes", () => {
    const routes = Array.from({ length: 2000 }, (_, i) => route(v4(i)))
    const { updates } = planUpdates(emptyAdjRibOut, routes, ebgp)
    // A /32 NLRI is 5 bytes; about 800 fit beside the header and attributes.
    expect(updates.length).toBe(3)
    expect(updates.reduce((n, u) => n + u.nlri.length, 0)).toBe(2000)
    expect(planOnePerPrefix(routes, ebgp).length).toBe(2000)
  })

  it("sends eBGP our AS and no LOCAL_PREF; iBGP an empty AS_PATH and LOCAL_PREF (100 unless set)", () => {
    const [e] = planUpdates(emptyAdjRibOut, [route(v4(1), { localPref: 300 })], ebgp).updates
    expect(e?.attributes).toMatchObject({ origin: "igp", asPath: [{ type: "sequence", asns: [64500] }], nextHop: ebgp.nextHopV4 })
    expect(e?.attributes.localPref).toBeUndefined()
    const [i] = planUpdates(emptyAdjRibOut, [route(v4(1))], ibgp).updates
    expect(i?.attributes).toMatchObject({ asPath: [], localPref: 100 })
    const [i300] = planUpdates(emptyAdjRibOut, [route(v4(1), { localPref: 300 })], ibgp).updates
    expect(i300?.attributes.localPref).toBe(300)
  })

  it("uses AS_TRANS and AS4_PATH for a 4-octet ASN on a 2-octet session", () => {
    const [u] = planUpdates(emptyAdjRibOut, [route(v4(1))], { ...ebgp, localAsn: 4200000000, fourOctetAsn: false }).updates
    expect(u?.attributes.asPath).toEqual([{ type: "sequence", asns: [asTrans] }])
    expect(u?.attributes.as4Path).toEqual([{ type: "sequence", asns: [4200000000] }])
  })

  it("sends IPv6 through MP_REACH with the global next hop, and withdraws through MP_UNREACH", () => {
    const plan = planUpdates(emptyAdjRibOut, [route(v6(1)), route(v6(2))], ebgp)
    expect(plan.updates).toHaveLength(1)
    expect(plan.updates[0]?.attributes.mpReach).toMatchObject({ family: "ipv6", nextHops: ebgp.nextHopsV6 })
    expect(plan.updates[0]?.attributes.mpReach?.nlri.map(formatPrefix)).toEqual(["2001:db8::1/128", "2001:db8::2/128"])
    const withdraw = planUpdates(plan.adjRibOut, [route(v6(2))], ebgp)
    expect(withdraw.updates).toEqual([{ _tag: "Update", withdrawn: [], nlri: [], attributes: { mpUnreach: { family: "ipv6", withdrawn: [makePrefix("ipv6", v6(1).value, 128)] } } }])
  })

  it("turns advertisements into routes: aggregation length, communities merged per prefix", () => {
    const standard: BgpCommunity = { kind: "standard", asn: 64500, value: 1 }
    const large: BgpCommunity = { kind: "large", globalAdministrator: 64500, localData1: 1, localData2: 2 }
    const ad = (name: string, aggregationLength: number, communities: Array<BgpCommunity>) => ({
      name, pools: ["p"], aggregationLength, aggregationLengthV6: 128, communities, nodeSelectors: [], peers: [], serviceSelectors: [],
    })
    const routes = desiredRoutes([v4(5)], [ad("a", 24, [standard]), ad("b", 24, [large]), ad("c", 32, [])])
    expect(routes.map((r) => formatPrefix(r.prefix))).toEqual(["198.18.0.0/24", "198.18.0.5/32"])
    expect(routes[0]?.communities).toEqual([standard, large])
    const [u] = planUpdates(emptyAdjRibOut, [routes[0]!], ebgp).updates
    expect(u?.attributes.communities).toEqual([64500 * 65536 + 1])
    expect(u?.attributes.largeCommunities).toEqual([{ globalAdministrator: 64500, localData1: 1, localData2: 2 }])
  })

  it("does not send families the session cannot carry", () => {
    const plan = planUpdates(emptyAdjRibOut, [route(v4(1)), route(v6(1))], { ...ebgp, families: ["ipv4"] })
    expect(plan.updates).toHaveLength(1)
    expect(plan.unsendable.map(formatPrefix)).toEqual(["2001:db8::1/128"])
  })

  const routeArb = fc.record({
    n: fc.nat(300),
    family: fc.constantFrom("ipv4" as const, "ipv6" as const),
    localPref: fc.option(fc.constantFrom(100, 200), { nil: undefined }),
    community: fc.option(fc.constantFrom(1, 2, 3), { nil: undefined }),
  }).map(({ n, family, localPref, community }): DesiredRoute => ({
    ...route(family === "ipv4" ? v4(n) : v6(n)),
    ...(localPref === undefined ? {} : { localPref }),
    communities: community === undefined ? [] : [{ kind: "standard", asn: 64500, value: community }],
  }))
  const uniqueRoutes = fc.uniqueArray(routeArb, { selector: (r) => formatPrefix(r.prefix), maxLength: 120 })

  it("brings the peer exactly to the desired routes from any previous state (property)", () => {
    fc.assert(
      fc.property(uniqueRoutes, uniqueRoutes, fc.constantFrom(ebgp, ibgp), (before, after, peer) => {
        const first = planUpdates(emptyAdjRibOut, before, peer)
        const table = receive(new Map(), first.updates)
        const second = planUpdates(first.adjRibOut, after, peer)
        receive(table, second.updates)
        const expected = receive(new Map(), planUpdates(emptyAdjRibOut, after, peer).updates)
        expect([...table.entries()].sort()).toEqual([...expected.entries()].sort())
        expect(new Set(table.keys())).toEqual(new Set(after.map((r) => formatPrefix(r.prefix))))
      }),
      { numRuns: 1000 },
    )
  })

  it("sends nothing when nothing changed, and never repeats a prefix within one plan (property)", () => {
    fc.assert(
      fc.property(uniqueRoutes, fc.constantFrom(ebgp, ibgp), (routes, peer) => {
        const first = planUpdates(emptyAdjRibOut, routes, peer)
        expect(planUpdates(first.adjRibOut, routes, peer).updates).toEqual([])
        const announced = first.updates.flatMap((u) => [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])]).map(formatPrefix)
        expect(new Set(announced).size).toBe(announced.length)
      }),
      { numRuns: 1000 },
    )
  })
})
