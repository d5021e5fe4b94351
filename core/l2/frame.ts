// The frames the L2 responder and announcer receive and send, as values: an ARP packet or an NDP
// message in its Ethernet (and, for NDP, IPv6) envelope. decodeFrame peels the layers and applies each
// layer's validity rules; encodeFrame builds bytes ready for a raw socket (IPv6 hop limit 255 and the
// ICMPv6 checksum filled in, Ethernet padded to its minimum). The ethertype and next header are
// implied by the variant, so a Frame cannot say one thing in its header and another in its body.
import { Result } from "effect"
import type { Address } from "../net/address.ts"
import { decodeArp, encodeArp, type ArpPacket } from "./arp.ts"
import { decodeError, type L2DecodeError } from "./errors.ts"
import {
  decodeEthernet,
  encodeEthernet,
  ethertypeArp,
  ethertypeIpv6,
  type EthernetHeader,
} from "./ethernet.ts"
import { decodeIpv6, encodeIpv6, nextHeaderIcmpv6 } from "./ipv6.ts"
import { decodeNdp, encodeNdp, ndpHopLimit, type NdpMessage } from "./ndp.ts"

export interface ArpFrame {
  readonly _tag: "ArpFrame"
  readonly ethernet: EthernetHeader
  readonly arp: ArpPacket
}

/** The IPv6 header fields an NDP message carries; hop limit (255) and next header (58) are implied. */
export interface NdpIpHeader {
  readonly source: Address
  readonly destination: Address
  readonly trafficClass: number
  readonly flowLabel: number
}

export interface NdpFrame {
  readonly _tag: "NdpFrame"
  readonly ethernet: EthernetHeader
  readonly ip: NdpIpHeader
  readonly ndp: NdpMessage
}

export type Frame = ArpFrame | NdpFrame

/** What the responder is given: a frame that passed every decoding check. */
export type DecodedFrame = Frame

const header = (frame: EthernetHeader): EthernetHeader => ({
  dst: frame.dst,
  src: frame.src,
  ...(frame.vlan === undefined ? {} : { vlan: frame.vlan }),
})

export const decodeFrame = (bytes: Uint8Array): Result.Result<Frame, L2DecodeError> => {
  const decoded = decodeEthernet(bytes)
  if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
  const ethernet = decoded.success
  if (ethernet.ethertype === ethertypeArp) {
    const arp = decodeArp(ethernet.payload)
    if (Result.isFailure(arp)) return Result.fail(arp.failure)
    return Result.succeed({ _tag: "ArpFrame", ethernet: header(ethernet), arp: arp.success })
  }
  if (ethernet.ethertype === ethertypeIpv6) {
    const packet = decodeIpv6(ethernet.payload)
    if (Result.isFailure(packet)) return Result.fail(packet.failure)
    const ndp = decodeNdp(packet.success)
    if (Result.isFailure(ndp)) return Result.fail(ndp.failure)
    const { source, destination, trafficClass, flowLabel } = packet.success
    return Result.succeed({
      _tag: "NdpFrame",
      ethernet: header(ethernet),
      ip: { source, destination, trafficClass, flowLabel },
      ndp: ndp.success,
    })
  }
  return Result.fail(decodeError("ethernet", "UnsupportedEthertype", `ethertype 0x${ethernet.ethertype.toString(16).padStart(4, "0")}`))
}

export const encodeFrame = (frame: Frame): Uint8Array => {
  switch (frame._tag) {
    case "ArpFrame":
      return encodeEthernet({ ...frame.ethernet, ethertype: ethertypeArp, payload: encodeArp(frame.arp) })
    case "NdpFrame": {
      const { source, destination, trafficClass, flowLabel } = frame.ip
      const payload = encodeIpv6({
        trafficClass,
        flowLabel,
        nextHeader: nextHeaderIcmpv6,
        hopLimit: ndpHopLimit,
        source,
        destination,
        payload: encodeNdp(source, destination, frame.ndp),
      })
      return encodeEthernet({ ...frame.ethernet, ethertype: ethertypeIpv6, payload })
    }
  }
}
