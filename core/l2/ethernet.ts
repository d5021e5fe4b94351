// Ethernet II framing (IEEE 802.3 with the DIX type field) with an optional single IEEE 802.1Q tag.
// Decides what the two MACs, the tag and the ethertype of a frame are; the FCS is never seen (the
// NIC strips it on receive and adds it on send). Encoding pads to the 60-octet minimum so the bytes
// handed to a raw socket are a legal frame whatever the driver does; decoders of the payload ignore
// that padding because ARP and IPv6 carry their own lengths.
import { Result } from "effect"
import { decodeError, type L2DecodeError } from "./errors.ts"
import { macFromBytes, writeMac, type Mac } from "./mac.ts"

export const ethertypeArp = 0x0806
export const ethertypeIpv6 = 0x86dd
export const ethertypeVlan = 0x8100

/** Without FCS: 64 on the wire minus 4. */
export const minimumFrameBytes = 60

export interface VlanTag {
  /** Priority code point, 0..7. */
  readonly pcp: number
  /** Drop eligible indicator. */
  readonly dei: boolean
  /** VLAN identifier, 0..4095. */
  readonly vid: number
}

export interface EthernetHeader {
  readonly dst: Mac
  readonly src: Mac
  readonly vlan?: VlanTag
}

export interface EthernetFrame extends EthernetHeader {
  readonly ethertype: number
  /** A view into the decoded bytes (not a copy), padding included. */
  readonly payload: Uint8Array
}

const fail = (reason: "Truncated" | "NotEthernetII", detail: string) => Result.fail(decodeError("ethernet", reason, detail))

export const decodeEthernet = (bytes: Uint8Array): Result.Result<EthernetFrame, L2DecodeError> => {
  if (bytes.length < 14) return fail("Truncated", `${bytes.length} octets, a header needs 14`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const dst = macFromBytes(bytes, 0)
  const src = macFromBytes(bytes, 6)
  const outer = view.getUint16(12)
  if (outer !== ethertypeVlan) {
    if (outer < 0x0600) return fail("NotEthernetII", `type field ${outer} is an 802.3 length`)
    return Result.succeed({ dst, src, ethertype: outer, payload: bytes.subarray(14) })
  }
  if (bytes.length < 18) return fail("Truncated", `${bytes.length} octets, a tagged header needs 18`)
  const tci = view.getUint16(14)
  const ethertype = view.getUint16(16)
  if (ethertype < 0x0600) return fail("NotEthernetII", `inner type field ${ethertype} is an 802.3 length`)
  const vlan: VlanTag = { pcp: tci >> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0x0fff }
  return Result.succeed({ dst, src, vlan, ethertype, payload: bytes.subarray(18) })
}

export const encodeEthernet = (frame: EthernetFrame): Uint8Array => {
  const headerBytes = frame.vlan === undefined ? 14 : 18
  const bytes = new Uint8Array(Math.max(minimumFrameBytes, headerBytes + frame.payload.length))
  const view = new DataView(bytes.buffer)
  writeMac(frame.dst, bytes, 0)
  writeMac(frame.src, bytes, 6)
  if (frame.vlan !== undefined) {
    const { pcp, dei, vid } = frame.vlan
    view.setUint16(12, ethertypeVlan)
    view.setUint16(14, ((pcp & 7) << 13) | (dei ? 0x1000 : 0) | (vid & 0x0fff))
  }
  view.setUint16(headerBytes - 2, frame.ethertype)
  bytes.set(frame.payload, headerBytes)
  return bytes
}
