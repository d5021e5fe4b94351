import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { ArpPacket } from "../../../core/l2/arp.ts"
import { countAnnouncements, countResponse, noCounters } from "../../../core/l2/counters.ts"
import type { EthernetHeader } from "../../../core/l2/ethernet.ts"
import { decodeFrame, encodeFrame, type ArpFrame, type Frame, type NdpFrame } from "../../../core/l2/frame.ts"
import { allNodesAddress, multicastMacOf, solicitedNodeAddress } from "../../../core/l2/ipv6.ts"
import type { Mac } from "../../../core/l2/mac.ts"
import type { NdpOption } from "../../../core/l2/ndp.ts"
import { addressKey, ownershipOn, type L2Interface } from "../../../core/l2/ownership.ts"
import { applyOwnership, emptyResponder, respond, respondToBytes, type ResponderState } from "../../../core/l2/responder.ts"
import type { Address } from "../../../core/net/address.ts"
import { frameArb, mutate, mutationArb } from "./arbitraries.ts"
import { eth0, eth1, ip, mac, ok, vip4, vip6 } from "./fixtures.ts"

const peer = mac("02:00:00:00:00:99")
const other = mac("02:00:00:00:00:77")
const broadcast = mac("ff:ff:ff:ff:ff:ff")
const peer4 = ip("192.0.2.1")
const peer6 = ip("2001:db8::1")

const own = (state: ResponderState, address: Address, iface: L2Interface, owned = true): ResponderState =>
  applyOwnership(state, { _tag: "OwnershipChanged", address, iface, owned, nowMs: 0 })

const state = own(own(emptyResponder, vip4, eth0), vip6, eth0)

const arp = (ethernet: Partial<EthernetHeader> = {}, packet: Partial<ArpPacket> = {}): ArpFrame => ({
  _tag: "ArpFrame",
  ethernet: { dst: broadcast, src: peer, ...ethernet },
  arp: { operation: "request", senderMac: peer, senderIp: peer4, targetMac: mac("00:00:00:00:00:00"), targetIp: vip4, ...packet },
})

const slla = (m: Mac): NdpOption => ({ _tag: "SourceLinkLayerAddress", mac: m })

const ns = (
  over: { dst?: Mac; src?: Mac; source?: Address; destination?: Address; target?: Address; options?: ReadonlyArray<NdpOption> } = {},
): NdpFrame => {
  const target = over.target ?? vip6
  const destination = over.destination ?? solicitedNodeAddress(target)
  return {
    _tag: "NdpFrame",
    ethernet: { dst: over.dst ?? multicastMacOf(destination), src: over.src ?? peer },
    ip: { source: over.source ?? peer6, destination, trafficClass: 0, flowLabel: 0 },
    ndp: { _tag: "NeighborSolicitation", target, options: over.options ?? [slla(peer)] },
  }
}

const because = (frame: Frame, iface: L2Interface = eth0, s: ResponderState = state) => {
  const response = respond(s, frame, iface)
  expect(response.replies).toEqual([])
  expect(response.counters).toEqual({ requestsReceived: 0, responsesSent: 0, malformedDropped: 0 })
  return response.reason._tag === "Ignored" ? response.reason.because : response.reason._tag
}

describe("ARP responder (MetalLB's rules)", () => {
  it("answers a broadcast request for an owned address with a unicast reply from our MAC", () => {
    const response = respond(state, arp(), eth0)
    expect(response.reason).toEqual({ _tag: "Answered", address: vip4, protocol: "arp", probe: false })
    expect(response.counters).toEqual({ address: vip4, requestsReceived: 1, responsesSent: 1, malformedDropped: 0 })
    expect(response.replies).toEqual([
      {
        _tag: "ArpFrame",
        ethernet: { dst: peer, src: eth0.mac },
        arp: { operation: "reply", senderMac: eth0.mac, senderIp: vip4, targetMac: peer, targetIp: peer4 },
      },
    ])
  })

  it("answers a request unicast to our MAC (a neighbour re-validating its entry)", () => {
    expect(respond(state, arp({ dst: eth0.mac }), eth0).reason._tag).toBe("Answered")
  })

  it("ignores a request unicast to another MAC", () => {
    expect(because(arp({ dst: other }))).toBe("EthernetDestination")
  })

  it("ignores unowned targets, and owned targets on an interface the address is not announced on", () => {
    expect(because(arp({}, { targetIp: ip("192.0.2.11") }))).toBe("NotOwned")
    expect(because(arp(), eth1)).toBe("OwnedOnOtherInterface")
    expect(because(arp(), eth0, own(state, vip4, eth0, false))).toBe("NotOwned")
  })

  it("ignores what we sent ourselves, by Ethernet source or by sender hardware address", () => {
    expect(because(arp({ src: eth0.mac }))).toBe("SelfSent")
    expect(because(arp({}, { senderMac: eth0.mac }))).toBe("SelfSent")
  })

  it("ignores replies, but reports another station claiming our address as a conflict", () => {
    expect(because(arp({ dst: eth0.mac }, { operation: "reply", senderIp: peer4, targetIp: vip4 }))).toBe("NotARequest")
    const gratuitous = arp({}, { senderMac: other, senderIp: vip4, targetIp: vip4 })
    expect(respond(state, gratuitous, eth0)).toEqual({
      replies: [],
      counters: { requestsReceived: 0, responsesSent: 0, malformedDropped: 0 },
      reason: { _tag: "Conflict", address: vip4, claimant: other },
    })
    const claimReply = arp({ src: other }, { operation: "reply", senderMac: other, senderIp: vip4 })
    expect(respond(state, claimReply, eth0).reason).toEqual({ _tag: "Conflict", address: vip4, claimant: other })
  })

  it("answers an RFC 5227 probe (sender 0.0.0.0) to the prober, as Linux does", () => {
    const response = respond(state, arp({}, { senderIp: ip("0.0.0.0") }), eth0)
    expect(response.reason).toEqual({ _tag: "Answered", address: vip4, protocol: "arp", probe: true })
    expect(response.replies[0]).toMatchObject({ ethernet: { dst: peer }, arp: { targetIp: ip("0.0.0.0"), senderIp: vip4 } })
  })

  it("does not reply to a broadcast or multicast sender address, which would flood the reply", () => {
    expect(because(arp({}, { senderMac: broadcast }))).toBe("GroupSenderAddress")
    expect(because(arp({}, { senderMac: mac("01:00:5e:00:00:01") }))).toBe("GroupSenderAddress")
    expect(because(ns({ options: [slla(mac("33:33:00:00:00:01"))] }))).toBe("GroupSenderAddress")
  })

  it("keeps the 802.1Q tag of the request on the reply", () => {
    const vlan = { pcp: 0, dei: false, vid: 42 }
    expect(respond(state, arp({ vlan }), eth0).replies[0]?.ethernet).toEqual({ dst: peer, src: eth0.mac, vlan })
  })
})

describe("NDP responder", () => {
  it("answers an NS to the solicited-node group with a solicited NA: S=1, O=0, Target-LLA, unicast to the asker", () => {
    const response = respond(state, ns(), eth0)
    expect(response.reason).toEqual({ _tag: "Answered", address: vip6, protocol: "ndp", probe: false })
    expect(response.counters).toEqual({ address: vip6, requestsReceived: 1, responsesSent: 1, malformedDropped: 0 })
    expect(response.replies).toEqual([
      {
        _tag: "NdpFrame",
        ethernet: { dst: peer, src: eth0.mac },
        ip: { source: vip6, destination: peer6, trafficClass: 0, flowLabel: 0 },
        ndp: {
          _tag: "NeighborAdvertisement",
          router: false,
          solicited: true,
          override: false,
          target: vip6,
          options: [{ _tag: "TargetLinkLayerAddress", mac: eth0.mac }],
        },
      },
    ])
  })

  it("answers a unicast NS (neighbour unreachability detection) sent to our MAC and the target", () => {
    expect(respond(state, ns({ dst: eth0.mac, destination: vip6 }), eth0).reason._tag).toBe("Answered")
  })

  it("ignores an NS unicast to another MAC, or to a group that is not the target's", () => {
    expect(because(ns({ dst: other, destination: vip6 }))).toBe("EthernetDestination")
    expect(because(ns({ dst: mac("33:33:ff:00:00:99") }))).toBe("EthernetDestination")
    expect(because(ns({ destination: solicitedNodeAddress(ip("2001:db8::99")) }))).toBe("IpDestination")
    expect(because(ns({ destination: ip("2001:db8::99"), dst: eth0.mac }))).toBe("IpDestination")
  })

  it("requires a Source-LLA option outside DAD (MetalLB's rule)", () => {
    expect(because(ns({ options: [] }))).toBe("NoSourceLinkLayerAddress")
    expect(because(ns({ options: [{ _tag: "TargetLinkLayerAddress", mac: peer }] }))).toBe("NoSourceLinkLayerAddress")
  })

  it("answers a DAD probe for an owned address with an NA to all-nodes, S=0 (RFC 4861 §7.2.4)", () => {
    const response = respond(state, ns({ source: ip("::"), options: [{ _tag: "Nonce", nonce: new Uint8Array(6).fill(9) }] }), eth0)
    expect(response.reason).toEqual({ _tag: "Answered", address: vip6, protocol: "ndp", probe: true })
    expect(response.replies).toEqual([
      {
        _tag: "NdpFrame",
        ethernet: { dst: "33:33:00:00:00:01", src: eth0.mac },
        ip: { source: vip6, destination: allNodesAddress, trafficClass: 0, flowLabel: 0 },
        ndp: {
          _tag: "NeighborAdvertisement",
          router: false,
          solicited: false,
          override: true,
          target: vip6,
          options: [{ _tag: "TargetLinkLayerAddress", mac: eth0.mac }],
        },
      },
    ])
  })

  it("ignores unowned targets, the wrong interface, and our own solicitations", () => {
    expect(because(ns({ target: ip("2001:db8::11") }))).toBe("NotOwned")
    expect(because(ns({ source: ip("::"), options: [], target: ip("2001:db8::11") }))).toBe("NotOwned")
    expect(because(ns(), eth1)).toBe("OwnedOnOtherInterface")
    expect(because(ns({ src: eth0.mac }))).toBe("SelfSent")
    expect(because(ns({ options: [slla(eth0.mac)] }))).toBe("SelfSent")
  })

  it("reports an NA for our address from another station as a conflict and ignores other NAs", () => {
    const na = (target: Address, options: ReadonlyArray<NdpOption>, src = other): NdpFrame => ({
      _tag: "NdpFrame",
      ethernet: { dst: mac("33:33:00:00:00:01"), src },
      ip: { source: ip("fe80::77"), destination: allNodesAddress, trafficClass: 0, flowLabel: 0 },
      ndp: { _tag: "NeighborAdvertisement", router: false, solicited: false, override: true, target, options },
    })
    expect(respond(state, na(vip6, [{ _tag: "TargetLinkLayerAddress", mac: other }]), eth0).reason).toEqual({ _tag: "Conflict", address: vip6, claimant: other })
    expect(respond(state, na(vip6, []), eth0).reason).toEqual({ _tag: "Conflict", address: vip6, claimant: other })
    expect(because(na(ip("2001:db8::11"), []))).toBe("NotARequest")
    expect(because(na(vip6, [{ _tag: "TargetLinkLayerAddress", mac: eth0.mac }], eth0.mac))).toBe("SelfSent")
  })
})

describe("bytes in: malformed frames are counted, never thrown", () => {
  it("drops an NS for a multicast target as malformed (RFC 4861 §7.1.1)", () => {
    const bytes = encodeFrame(ns({ target: ip("ff02::1"), destination: solicitedNodeAddress(ip("ff02::1")) }))
    const response = respondToBytes(state, bytes, eth0)
    expect(response.replies).toEqual([])
    expect(response.counters).toEqual({ requestsReceived: 0, responsesSent: 0, malformedDropped: 1 })
    expect(response.reason._tag === "Malformed" && response.reason.error.reason).toBe("MulticastTarget")
  })

  it("answers from bytes exactly as from the decoded frame", () => {
    expect(respondToBytes(state, encodeFrame(arp()), eth0)).toEqual(respond(state, arp(), eth0))
    expect(respondToBytes(state, encodeFrame(ns()), eth0)).toEqual(respond(state, ns(), eth0))
  })

  it("does not count other traffic (IPv4, ICMPv6 echo) as malformed", () => {
    const ipv4 = new Uint8Array(60)
    ipv4.set([0x08, 0x00], 12)
    expect(respondToBytes(state, ipv4, eth0)).toEqual({
      replies: [],
      counters: { requestsReceived: 0, responsesSent: 0, malformedDropped: 0 },
      reason: { _tag: "Ignored", because: "UnrelatedTraffic" },
    })
  })

  it("never throws on random or mutated frames, and counts each malformed one once (property, 20,000 runs)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 120 }), fc.tuple(frameArb, fc.array(mutationArb, { maxLength: 3 })).map(([f, m]) => mutate(encodeFrame(f), m))), (bytes) => {
        const response = respondToBytes(state, bytes, eth0)
        expect(response.counters.malformedDropped).toBe(response.reason._tag === "Malformed" ? 1 : 0)
      }),
      { numRuns: 20_000 },
    )
  })
})

describe("responder properties", () => {
  const targetOf = (frame: Frame): Address => (frame._tag === "ArpFrame" ? frame.arp.targetIp : frame.ndp.target)

  /** Points a random frame at us: a request form, sent to broadcast/our MAC or the target's group. */
  const addressedToUs = (frame: Frame, how: "asIs" | "ourMac" | "request"): Frame => {
    if (how === "asIs") return frame
    if (how === "ourMac") return { ...frame, ethernet: { ...frame.ethernet, dst: eth0.mac } }
    const unicast = (m: Mac) => ((Number.parseInt(m.slice(0, 2), 16) & 0xfe).toString(16).padStart(2, "0") + m.slice(2)) as Mac
    if (frame._tag === "ArpFrame") {
      return { ...frame, ethernet: { ...frame.ethernet, dst: broadcast }, arp: { ...frame.arp, operation: "request", senderMac: unicast(frame.arp.senderMac) } }
    }
    const group = solicitedNodeAddress(frame.ndp.target)
    const dad = frame.ip.source.value === 0n
    return {
      ...frame,
      ethernet: { ...frame.ethernet, dst: multicastMacOf(group) },
      ip: { ...frame.ip, destination: group },
      ndp: { _tag: "NeighborSolicitation", target: frame.ndp.target, options: dad ? [] : [slla(unicast(frame.ethernet.src))] },
    }
  }

  it("answers only owned addresses on the receiving interface, from our MAC, with frames that decode back (property)", () => {
    let answered = 0
    fc.assert(
      fc.property(frameArb, fc.constantFrom("eth0", "eth1", "none"), fc.constantFrom("asIs" as const, "ourMac" as const, "request" as const), (frame, owner, how) => {
        const addressed = addressedToUs(frame, how)
        const target = targetOf(addressed)
        const s = owner === "none" ? emptyResponder : own(emptyResponder, target, owner === "eth0" ? eth0 : eth1)
        const response = respond(s, addressed, eth0)
        expect(response.counters.responsesSent).toBe(response.replies.length)
        if (response.reason._tag !== "Answered") {
          expect(response.replies).toEqual([])
          return
        }
        answered++
        expect(ownershipOn(s.ownership, target, "eth0")).toBe("owned")
        expect(addressed.ethernet.src).not.toBe(eth0.mac)
        for (const reply of response.replies) {
          expect(reply.ethernet.src).toBe(eth0.mac)
          expect(ok(decodeFrame(encodeFrame(reply)))).toEqual(reply)
        }
      }),
      { numRuns: 2000 },
    )
    // The generator must reach the answering path often enough for the property to mean something.
    expect(answered).toBeGreaterThan(70)
  })
})

describe("counters", () => {
  it("accumulates requests, responses and gratuitous frames per address and malformed frames per interface", () => {
    let counters = countResponse(noCounters, "eth0", respond(state, arp(), eth0).counters)
    counters = countResponse(counters, "eth0", respond(state, arp(), eth0).counters)
    counters = countResponse(counters, "eth0", respond(state, arp({ dst: other }), eth0).counters)
    counters = countResponse(counters, "eth1", respondToBytes(state, new Uint8Array(5), eth1).counters)
    counters = countAnnouncements(counters, [
      { _tag: "Send", iface: "eth0", address: vip4, frame: arp() },
      { _tag: "WakeAt", atMs: 5 },
    ])
    expect(counters.byAddress.get(addressKey(vip4))).toEqual({ address: vip4, requestsReceived: 2, responsesSent: 2, gratuitousSent: 1 })
    expect(counters.byAddress.size).toBe(1)
    expect([...counters.malformedDroppedByInterface]).toEqual([["eth1", 1]])
  })
})
