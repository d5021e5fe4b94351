// Why a received frame was not turned into an ARP or NDP message. Every decoder in core/l2 returns one
// of these instead of throwing, so a responder facing hostile or broken traffic counts and drops it.
// Three reasons mean "not ours to parse" rather than "broken" (another ethertype, another IPv6 upper
// layer, another ICMPv6 type): a raw socket sees that traffic routinely and it must not inflate the
// malformed-frame counter.
import { Data } from "effect"

export type L2Layer = "ethernet" | "arp" | "ipv6" | "icmpv6" | "ndp"

export type L2DecodeReason =
  | "Truncated" // fewer bytes than the header or the declared length needs
  | "NotEthernetII" // the type field is an 802.3 length (< 0x0600)
  | "UnsupportedEthertype" // neither ARP nor IPv6
  | "ArpHardwareType" // htype is not 1 (Ethernet)
  | "ArpProtocolType" // ptype is not 0x0800 (IPv4)
  | "ArpAddressLength" // hlen is not 6 or plen is not 4
  | "ArpOperation" // op is neither 1 (request) nor 2 (reply)
  | "IpVersion" // the version nibble is not 6
  | "MulticastSource" // RFC 4291 §2.7: a multicast address is never a source
  | "NotIcmpv6" // next header is not 58 (extension headers are not followed)
  | "NotNdp" // an ICMPv6 type other than 135 (NS) or 136 (NA)
  | "Icmpv6Checksum" // RFC 4443 §2.3, pseudo-header included
  | "NdpHopLimit" // RFC 4861 §7.1: must be 255, proof the sender is on-link
  | "NdpCode" // ICMP code is not 0
  | "NdpLength" // ICMP length below 24 octets
  | "MulticastTarget" // the Target Address is a multicast address
  | "SolicitedToMulticast" // an NA with S=1 sent to a multicast destination (§7.1.2)
  | "OptionLength" // an option with length 0, or one running past the end
  | "LinkLayerAddressLength" // a Source/Target Link-Layer Address option not 8 octets long (RFC 2464 §6)
  | "DadWithSourceLinkLayerAddress" // NS from :: carrying a Source-LLA (§7.1.1)
  | "DadNotToSolicitedNode" // NS from :: not sent to a solicited-node multicast address (§7.1.1)

export class L2DecodeError extends Data.TaggedError("L2DecodeError")<{
  readonly layer: L2Layer
  readonly reason: L2DecodeReason
  readonly detail: string
}> {
  override get message(): string {
    return `${this.layer}: ${this.reason}: ${this.detail}`
  }
}

export const decodeError = (layer: L2Layer, reason: L2DecodeReason, detail: string): L2DecodeError =>
  new L2DecodeError({ layer, reason, detail })

const unrelated: ReadonlySet<L2DecodeReason> = new Set(["UnsupportedEthertype", "NotIcmpv6", "NotNdp"])

/** True when the frame is well-formed traffic of another kind rather than a broken ARP/NDP frame. */
export const isUnrelatedTraffic = (error: L2DecodeError): boolean => unrelated.has(error.reason)
