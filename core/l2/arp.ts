// ARP for IPv4 over Ethernet (RFC 826): the only combination spoken is htype 1, ptype 0x0800, hlen 6,
// plen 4, with op 1 (request) or 2 (reply); everything else is refused with a typed reason. Decides
// what a 28-octet ARP body says; trailing Ethernet padding is ignored.
import { Result } from "effect"
import type { Address } from "../net/address.ts"
import { decodeError, type L2DecodeError } from "./errors.ts"
import { macFromBytes, writeMac, type Mac } from "./mac.ts"

export type ArpOperation = "request" | "reply"

export interface ArpPacket {
  readonly operation: ArpOperation
  readonly senderMac: Mac
  /** An IPv4 address; 0.0.0.0 in an RFC 5227 probe. */
  readonly senderIp: Address
  readonly targetMac: Mac
  readonly targetIp: Address
}

export const arpBytes = 28

const ipv4 = (value: number): Address => ({ family: "ipv4", value: BigInt(value) })

export const decodeArp = (bytes: Uint8Array): Result.Result<ArpPacket, L2DecodeError> => {
  if (bytes.length < arpBytes) {
    return Result.fail(decodeError("arp", "Truncated", `${bytes.length} octets, ARP for IPv4 over Ethernet needs 28`))
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const htype = view.getUint16(0)
  if (htype !== 1) return Result.fail(decodeError("arp", "ArpHardwareType", `htype ${htype}, expected 1 (Ethernet)`))
  const ptype = view.getUint16(2)
  if (ptype !== 0x0800) {
    return Result.fail(decodeError("arp", "ArpProtocolType", `ptype 0x${ptype.toString(16)}, expected 0x0800 (IPv4)`))
  }
  const hlen = bytes[4] ?? 0
  const plen = bytes[5] ?? 0
  if (hlen !== 6 || plen !== 4) {
    return Result.fail(decodeError("arp", "ArpAddressLength", `hlen ${hlen} plen ${plen}, expected 6 and 4`))
  }
  const op = view.getUint16(6)
  if (op !== 1 && op !== 2) return Result.fail(decodeError("arp", "ArpOperation", `op ${op}, expected 1 or 2`))
  return Result.succeed({
    operation: op === 1 ? "request" : "reply",
    senderMac: macFromBytes(bytes, 8),
    senderIp: ipv4(view.getUint32(14)),
    targetMac: macFromBytes(bytes, 18),
    targetIp: ipv4(view.getUint32(24)),
  })
}

/** The addresses must be IPv4 (their value is written as 32 bits). */
export const encodeArp = (packet: ArpPacket): Uint8Array => {
  const bytes = new Uint8Array(arpBytes)
  const view = new DataView(bytes.buffer)
  view.setUint16(0, 1)
  view.setUint16(2, 0x0800)
  bytes[4] = 6
  bytes[5] = 4
  view.setUint16(6, packet.operation === "request" ? 1 : 2)
  writeMac(packet.senderMac, bytes, 8)
  view.setUint32(14, Number(packet.senderIp.value & 0xffffffffn))
  writeMac(packet.targetMac, bytes, 18)
  view.setUint32(24, Number(packet.targetIp.value & 0xffffffffn))
  return bytes
}
