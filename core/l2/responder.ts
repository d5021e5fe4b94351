// What to answer to a received ARP request or Neighbor Solicitation, and why not when silent. Follows
// MetalLB's responders (MetalLB §4): ARP is answered only for an address owned on the receiving
// interface, when the request is broadcast or sent to our MAC and not sent by us; NS likewise, and
// must carry a Source Link-Layer Address option (RFC 4861 §7.2.4 needs it to reply without resolving
// the asker). Beyond MetalLB: a DAD probe (NS from ::, RFC 4861 §5.4.3) for an owned address gets an NA
// to all-nodes with S=0 (§7.2.4) so the prober sees the address in use, and a frame in which another
// station claims an owned address (gratuitous ARP, an ARP reply, an NA) is reported as a Conflict, the
// split-brain symptom MetalLB never surfaces.
import { Result } from "effect"
import type { Address } from "../net/address.ts"
import { isUnrelatedTraffic, type L2DecodeError } from "./errors.ts"
import { decodeFrame, type ArpFrame, type Frame, type NdpFrame } from "./frame.ts"
import { allNodesAddress, isMulticast, multicastMacOf, solicitedNodeAddress } from "./ipv6.ts"
import { broadcastMac, isGroupMac, type Mac } from "./mac.ts"
import { linkLayerAddressOption } from "./ndp.ts"
import {
  applyOwnershipChange,
  noOwnership,
  ownershipOn,
  type L2Interface,
  type Ownership,
  type OwnershipChanged,
} from "./ownership.ts"

export interface ResponderState {
  readonly ownership: Ownership
}

export const emptyResponder: ResponderState = { ownership: noOwnership }

export const applyOwnership = (state: ResponderState, change: OwnershipChanged): ResponderState => {
  const ownership = applyOwnershipChange(state.ownership, change)
  return ownership === state.ownership ? state : { ownership }
}

export type IgnoredBecause =
  | "NotARequest" // an ARP reply or an NA that claims nothing of ours
  | "SelfSent" // our own MAC as the Ethernet source or the sender/link-layer address
  | "EthernetDestination" // neither broadcast, nor our MAC, nor the IPv6 destination's multicast MAC
  | "IpDestination" // an NS sent neither to the target nor to the target's solicited-node group
  | "NotOwned"
  | "OwnedOnOtherInterface" // owned, but this interface is not among the advertisement's interfaces
  | "NoSourceLinkLayerAddress" // an NS (not DAD) without the option MetalLB requires
  | "GroupSenderAddress" // the asker's MAC is multicast/broadcast: a reply would flood the link
  | "UnrelatedTraffic" // well-formed, but not ARP or NDP (another ethertype, ICMPv6 type, ...)

export type ResponseReason =
  | {
    readonly _tag: "Answered"
    readonly address: Address
    readonly protocol: "arp" | "ndp"
    /** An RFC 5227 ARP probe (sender 0.0.0.0) or an NDP DAD probe (source ::). */
    readonly probe: boolean
  }
  | { readonly _tag: "Ignored"; readonly because: IgnoredBecause }
  /** Another station says it has an address we own on this interface. */
  | { readonly _tag: "Conflict"; readonly address: Address; readonly claimant: Mac }
  | { readonly _tag: "Malformed"; readonly error: L2DecodeError }

/**
 * Increments for MetalLB's metallb_layer2_requests_received{ip} and responses_sent{ip}, and for the
 * malformed-frame counter of the interface. responsesSent counts replies decided; the shell subtracts
 * any it fails to write, as MetalLB counts only successful writes.
 */
export interface CounterDelta {
  /** The address the request asked for; present when requestsReceived or responsesSent is non-zero. */
  readonly address?: Address
  readonly requestsReceived: number
  readonly responsesSent: number
  readonly malformedDropped: number
}

export interface Response {
  readonly replies: ReadonlyArray<Frame>
  readonly counters: CounterDelta
  readonly reason: ResponseReason
}

const noCounts: CounterDelta = { requestsReceived: 0, responsesSent: 0, malformedDropped: 0 }

const silent = (reason: ResponseReason): Response => ({ replies: [], counters: noCounts, reason })

const ignored = (because: IgnoredBecause): Response => silent({ _tag: "Ignored", because })

const notAnswered = (where: "ownedElsewhere" | "notOwned"): Response =>
  ignored(where === "ownedElsewhere" ? "OwnedOnOtherInterface" : "NotOwned")

const answered = (address: Address, protocol: "arp" | "ndp", probe: boolean, reply: Frame): Response => ({
  replies: [reply],
  counters: { address, requestsReceived: 1, responsesSent: 1, malformedDropped: 0 },
  reason: { _tag: "Answered", address, protocol, probe },
})

const respondArp = (state: ResponderState, frame: ArpFrame, iface: L2Interface): Response => {
  const { ethernet, arp } = frame
  if (ethernet.src === iface.mac || arp.senderMac === iface.mac) return ignored("SelfSent")
  const claims = arp.senderIp.value !== 0n && ownershipOn(state.ownership, arp.senderIp, iface.name) === "owned"
  if (arp.operation === "reply") {
    return claims ? silent({ _tag: "Conflict", address: arp.senderIp, claimant: arp.senderMac }) : ignored("NotARequest")
  }
  if (ethernet.dst !== broadcastMac && ethernet.dst !== iface.mac) return ignored("EthernetDestination")
  if (claims) return silent({ _tag: "Conflict", address: arp.senderIp, claimant: arp.senderMac })
  const target = ownershipOn(state.ownership, arp.targetIp, iface.name)
  if (target !== "owned") return notAnswered(target)
  if (isGroupMac(arp.senderMac)) return ignored("GroupSenderAddress")
  // Linux answers an RFC 5227 probe the same way: unicast to the prober, target IP 0.0.0.0.
  return answered(arp.targetIp, "arp", arp.senderIp.value === 0n, {
    _tag: "ArpFrame",
    ethernet: { dst: arp.senderMac, src: iface.mac, ...(ethernet.vlan === undefined ? {} : { vlan: ethernet.vlan }) },
    arp: { operation: "reply", senderMac: iface.mac, senderIp: arp.targetIp, targetMac: arp.senderMac, targetIp: arp.senderIp },
  })
}

const respondNdp = (state: ResponderState, frame: NdpFrame, iface: L2Interface): Response => {
  const { ethernet, ip, ndp } = frame
  const vlan = ethernet.vlan === undefined ? {} : { vlan: ethernet.vlan }
  if (ndp._tag === "NeighborAdvertisement") {
    const advertised = linkLayerAddressOption(ndp.options, "TargetLinkLayerAddress")
    if (ethernet.src === iface.mac || advertised === iface.mac) return ignored("SelfSent")
    if (ownershipOn(state.ownership, ndp.target, iface.name) === "owned") {
      return silent({ _tag: "Conflict", address: ndp.target, claimant: advertised ?? ethernet.src })
    }
    return ignored("NotARequest")
  }
  const asker = linkLayerAddressOption(ndp.options, "SourceLinkLayerAddress")
  if (ethernet.src === iface.mac || asker === iface.mac) return ignored("SelfSent")
  const toGroup = isMulticast(ip.destination)
  if (ethernet.dst !== iface.mac && !(toGroup && ethernet.dst === multicastMacOf(ip.destination))) {
    return ignored("EthernetDestination")
  }
  if (ip.destination.value !== ndp.target.value && ip.destination.value !== solicitedNodeAddress(ndp.target).value) {
    return ignored("IpDestination")
  }
  const target = ownershipOn(state.ownership, ndp.target, iface.name)
  if (target !== "owned") return notAnswered(target)
  const dad = ip.source.value === 0n
  if (dad) {
    return answered(ndp.target, "ndp", true, {
      _tag: "NdpFrame",
      ethernet: { dst: multicastMacOf(allNodesAddress), src: iface.mac, ...vlan },
      ip: { source: ndp.target, destination: allNodesAddress, trafficClass: 0, flowLabel: 0 },
      ndp: {
        _tag: "NeighborAdvertisement",
        router: false,
        solicited: false,
        override: true,
        target: ndp.target,
        options: [{ _tag: "TargetLinkLayerAddress", mac: iface.mac }],
      },
    })
  }
  if (asker === undefined) return ignored("NoSourceLinkLayerAddress")
  if (isGroupMac(asker)) return ignored("GroupSenderAddress")
  // The NA comes from the target itself, as Linux sends it for its own addresses: an address we
  // hold on this link is "an address assigned to the interface" in §7.2.4's sense.
  // O=0, like MetalLB and like a proxy (§7.2.8): the address is not configured on the interface, and
  // if two nodes answer during a hand-over the asker keeps the first answer instead of flapping
  // between them (§7.2.5: S=1, O=0 never replaces a cached link-layer address). Unsolicited NAs (the
  // announcer's, and the DAD reply above) use O=1: their purpose is to replace the previous owner's
  // MAC in neighbours' caches, which O=0 cannot do.
  return answered(ndp.target, "ndp", false, {
    _tag: "NdpFrame",
    ethernet: { dst: asker, src: iface.mac, ...vlan },
    ip: { source: ndp.target, destination: ip.source, trafficClass: 0, flowLabel: 0 },
    ndp: {
      _tag: "NeighborAdvertisement",
      router: false,
      solicited: true,
      override: false,
      target: ndp.target,
      options: [{ _tag: "TargetLinkLayerAddress", mac: iface.mac }],
    },
  })
}

/** Decides the reply to one decoded frame received on iface. */
export const respond = (state: ResponderState, frame: Frame, iface: L2Interface): Response => {
  switch (frame._tag) {
    case "ArpFrame":
      return respondArp(state, frame, iface)
    case "NdpFrame":
      return respondNdp(state, frame, iface)
  }
}

/** Decodes and responds; bytes that do not decode are counted as malformed unless merely unrelated. */
export const respondToBytes = (state: ResponderState, bytes: Uint8Array, iface: L2Interface): Response => {
  const decoded = decodeFrame(bytes)
  if (Result.isSuccess(decoded)) return respond(state, decoded.success, iface)
  if (isUnrelatedTraffic(decoded.failure)) return ignored("UnrelatedTraffic")
  return { replies: [], counters: { ...noCounts, malformedDropped: 1 }, reason: { _tag: "Malformed", error: decoded.failure } }
}
