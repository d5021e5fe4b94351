// RFC 8950 (extended next hop, the IPv4 half of BGP unnumbered) across core: the capability we offer,
// what the OPEN check negotiates, how the planner sends IPv4 routes with an IPv6 next hop (in
// MP_REACH_NLRI, 16 or 32 octets of next hop, bytes checked through the codec) and how an unnumbered
// Peer becomes a session configuration.
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { decode, encode } from "../../../core/bgp/codec/index.ts"
import { ipv4OverIpv6NextHop, type Open, type Update } from "../../../core/bgp/messages.ts"
import { emptyAdjRibOut, type PeerContext, planUpdates } from "../../../core/bgp/rib.ts"
import { checkOpen } from "../../../core/bgp/session/open-check.ts"
import { localOpen } from "../../../core/bgp/session/open.ts"
import { makeSession, type SessionConfig } from "../../../core/bgp/session.ts"
import type { Peer } from "../../../core/config/config.ts"
import type { Address } from "../../../core/net/address.ts"
import { formatPrefix, makePrefix } from "../../../core/net/prefix.ts"
import { familiesOf, isUnnumbered, sessionConfigFor } from "../../../core/speaker/session-config.ts"
import { resolvedPeer } from "../speaker/peer-fixture.ts"
import { configWith, peerOpen as harnessOpen } from "./session-harness.ts"

const config: SessionConfig = configWith({ extendedNextHop: true })

const peerOpen = (capabilities: Open["capabilities"]): Open => harnessOpen({ capabilities })
const mp = (family: "ipv4" | "ipv6") => ({ _tag: "Multiprotocol" as const, family })

const session = (c: SessionConfig) => {
  const made = makeSession(c)
  if (Result.isFailure(made)) throw made.failure
  return made.success
}

describe("RFC 8950 extended next hop", () => {
  it("is offered for IPv4 unicast over IPv6 when configured, and only then", () => {
    expect(localOpen(session(config)).capabilities).toContainEqual({ _tag: "ExtendedNextHop", entries: [ipv4OverIpv6NextHop] })
    const { extendedNextHop: _, ...without } = config
    expect(localOpen(session(without)).capabilities.some((c) => c._tag === "ExtendedNextHop")).toBe(false)
    // Nothing to offer on an IPv6-only session.
    expect(localOpen(session({ ...config, families: ["ipv6"] })).capabilities.some((c) => c._tag === "ExtendedNextHop")).toBe(false)
  })

  it("is negotiated only when both sides offer the IPv4-unicast-over-IPv6 entry", () => {
    const negotiated = (c: SessionConfig, caps: Open["capabilities"]) => {
      const result = checkOpen(c, peerOpen(caps))
      if (Result.isFailure(result)) throw new Error("OPEN refused")
      return result.success.extendedNextHop
    }
    const both = [mp("ipv4"), mp("ipv6")]
    expect(negotiated(config, [...both, { _tag: "ExtendedNextHop", entries: [ipv4OverIpv6NextHop] }])).toBe(true)
    // Another entry (IPv4 VPN over IPv6) does not make IPv4 unicast acceptable.
    expect(negotiated(config, [...both, { _tag: "ExtendedNextHop", entries: [{ afi: 1, safi: 128, nextHopAfi: 2 }] }])).toBe(false)
    expect(negotiated(config, both)).toBe(false)
    const { extendedNextHop: _, ...notOffered } = config
    expect(negotiated(notOffered, [...both, { _tag: "ExtendedNextHop", entries: [ipv4OverIpv6NextHop] }])).toBe(false)
    // IPv4 not negotiated at all: nothing to carry.
    expect(negotiated(config, [mp("ipv6"), { _tag: "ExtendedNextHop", entries: [ipv4OverIpv6NextHop] }])).toBe(false)
  })

  const linkLocal: Address = { family: "ipv6", value: 0xfe80_0000_0000_0000_0000_0000_0000_000an }
  const global: Address = { family: "ipv6", value: 0x2001_0db8_0000_0000_0000_0000_0000_000an }
  const unnumbered: PeerContext = { localAsn: 64500, peerAsn: 64501, fourOctetAsn: true, families: ["ipv4", "ipv6"], nextHopsV6: [linkLocal], extendedNextHop: true }
  const v4Route = (n: number) => ({ prefix: makePrefix("ipv4", 0xc6336400n + BigInt(n), 32), communities: [] })

  it("sends IPv4 routes in MP_REACH_NLRI (AFI 1) with the IPv6 next hop, 16 or 32 octets on the wire", () => {
    for (const nextHops of [[linkLocal], [global, linkLocal]]) {
      const peer = { ...unnumbered, nextHopsV6: nextHops }
      const { updates, unsendable } = planUpdates(emptyAdjRibOut, [v4Route(1), v4Route(2)], peer)
      expect(unsendable).toEqual([])
      expect(updates).toHaveLength(1)
      const update = updates[0] as Update
      expect(update.nlri).toEqual([])
      expect(update.attributes.nextHop).toBeUndefined()
      expect(update.attributes.mpReach).toEqual({ family: "ipv4", nextHops, nlri: [v4Route(1).prefix, v4Route(2).prefix] })
      const bytes = encode(update, { fourOctetAsn: true })
      // MP_REACH_NLRI: flags 0x80, code 14, length, AFI 1, SAFI 1, next-hop length 16 or 32.
      const at = bytes.findIndex((b, i) => b === 0x80 && bytes[i + 1] === 14)
      expect([...bytes.subarray(at + 3, at + 7)]).toEqual([0, 1, 1, 16 * nextHops.length])
      const back = decode(bytes, { fourOctetAsn: true })
      expect(Result.isSuccess(back) && back.success).toEqual(update)
    }
  })

  it("keeps the IPv4 NEXT_HOP when the session has one, and cannot send IPv4 without either", () => {
    const withV4 = { ...unnumbered, nextHopV4: { family: "ipv4" as const, value: 0xc000020an } }
    const classic = planUpdates(emptyAdjRibOut, [v4Route(1)], withV4).updates[0]
    expect(classic?.nlri).toHaveLength(1)
    expect(classic?.attributes.mpReach).toBeUndefined()
    const { extendedNextHop: _, ...notNegotiated } = unnumbered
    expect(planUpdates(emptyAdjRibOut, [v4Route(1)], notNegotiated).unsendable.map(formatPrefix)).toEqual(["198.51.100.1/32"])
  })

  it("withdraws IPv4 routes sent with an IPv6 next hop in the body's Withdrawn Routes (property)", () => {
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }), fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }), (before, after) => {
      const first = planUpdates(emptyAdjRibOut, before.map(v4Route), unnumbered)
      const second = planUpdates(first.adjRibOut, after.map(v4Route), unnumbered)
      const table = new Set<string>()
      for (const u of [...first.updates, ...second.updates]) {
        for (const p of u.withdrawn) table.delete(formatPrefix(p))
        expect(u.nlri).toEqual([])
        for (const p of u.attributes.mpReach?.nlri ?? []) table.add(formatPrefix(p))
      }
      expect([...table].sort()).toEqual(after.map((n) => formatPrefix(v4Route(n).prefix)).sort())
    }))
  })

  const peer = (fields: Partial<Peer>): Peer => resolvedPeer({ name: "tor", myAsn: 64500, peerAsn: 64501, ...fields })

  it("an unnumbered Peer offers both families and extended next hop; a numbered one neither", () => {
    const tor = peer({ interface: "eth1" })
    expect(isUnnumbered(tor)).toBe(true)
    expect(familiesOf(tor)).toEqual(["ipv4", "ipv6"])
    const c = sessionConfigFor(tor, { routerId: { family: "ipv4", value: 0xc000020an } })
    expect(Result.isSuccess(c) && c.success).toMatchObject({ families: ["ipv4", "ipv6"], extendedNextHop: true })
    const numbered = sessionConfigFor(peer({ address: { family: "ipv6", value: 1n } }), { routerId: { family: "ipv4", value: 1n } })
    expect(Result.isSuccess(numbered) && numbered.success.extendedNextHop).toBeUndefined()
    // Neither an address nor an interface: a clear error, not a session.
    const neither = sessionConfigFor(peer({}), { routerId: { family: "ipv4", value: 1n } })
    expect(Result.isFailure(neither) && neither.failure.message).toBe("peer tor: neither peerAddress nor interface")
  })
})
