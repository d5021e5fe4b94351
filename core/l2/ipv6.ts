// The fixed IPv6 header (RFC 8200 §3), the multicast addresses Neighbor Discovery uses (RFC 4291
// §2.7: all-nodes, solicited-node), their Ethernet mapping (RFC 2464 §7) and the ICMPv6 checksum
// over the pseudo-header (RFC 8200 §8.1, RFC 4443 §2.3). Extension headers are not followed: NDP
// messages are sent without them, and a frame whose next header is not ICMPv6 is not ours.
import { Result } from "effect"
import type { Address } from "../net/address.ts"
import { decodeError, type L2DecodeError } from "./errors.ts"
import type { Mac } from "./mac.ts"

export const nextHeaderIcmpv6 = 58
export const ipv6HeaderBytes = 40

export interface Ipv6Packet {
  readonly trafficClass: number
  /** 20 bits. */
  readonly flowLabel: number
  readonly nextHeader: number
  readonly hopLimit: number
  readonly source: Address
  readonly destination: Address
  /** Exactly payload-length octets: Ethernet padding after them is dropped. A view, not a copy. */
  readonly payload: Uint8Array
}

const v6 = (value: bigint): Address => ({ family: "ipv6", value })

export const unspecifiedAddress: Address = v6(0n)
export const allNodesAddress: Address = v6(0xff02_0000_0000_0000_0000_0000_0000_0001n)

const solicitedNodePrefix = 0xff02_0000_0000_0000_0000_0001_ff00_0000n
const low24Bits = 0xff_ffffn

export const isMulticast = (address: Address): boolean => address.value >> 120n === 0xffn

/** ff02::1:ffXX:XXXX carrying the low 24 bits of the address (RFC 4291 §2.7.1). */
export const solicitedNodeAddress = (address: Address): Address => v6(solicitedNodePrefix | (address.value & low24Bits))

export const isSolicitedNodeAddress = (address: Address): boolean => (address.value & ~low24Bits) === solicitedNodePrefix

/** 33:33 followed by the low 32 bits of the multicast group (RFC 2464 §7). */
export const multicastMacOf = (group: Address): Mac => {
  const low = group.value & 0xffff_ffffn
  const octets = [0x33, 0x33, Number(low >> 24n), Number((low >> 16n) & 0xffn), Number((low >> 8n) & 0xffn), Number(low & 0xffn)]
  return octets.map((o) => o.toString(16).padStart(2, "0")).join(":") as Mac
}

const readAddress = (view: DataView, offset: number): Address =>
  v6((view.getBigUint64(offset) << 64n) | view.getBigUint64(offset + 8))

const writeAddress = (view: DataView, offset: number, address: Address): void => {
  view.setBigUint64(offset, (address.value >> 64n) & 0xffff_ffff_ffff_ffffn)
  view.setBigUint64(offset + 8, address.value & 0xffff_ffff_ffff_ffffn)
}

export const decodeIpv6 = (bytes: Uint8Array): Result.Result<Ipv6Packet, L2DecodeError> => {
  if (bytes.length < ipv6HeaderBytes) {
    return Result.fail(decodeError("ipv6", "Truncated", `${bytes.length} octets, the header needs 40`))
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const first = view.getUint32(0)
  const version = first >>> 28
  if (version !== 6) return Result.fail(decodeError("ipv6", "IpVersion", `version ${version}`))
  const payloadLength = view.getUint16(4)
  if (ipv6HeaderBytes + payloadLength > bytes.length) {
    return Result.fail(
      decodeError("ipv6", "Truncated", `payload length ${payloadLength} but ${bytes.length - ipv6HeaderBytes} octets follow`),
    )
  }
  const source = readAddress(view, 8)
  if (isMulticast(source)) return Result.fail(decodeError("ipv6", "MulticastSource", "the source is a multicast address"))
  return Result.succeed({
    trafficClass: (first >>> 20) & 0xff,
    flowLabel: first & 0xf_ffff,
    nextHeader: bytes[6] ?? 0,
    hopLimit: bytes[7] ?? 0,
    source,
    destination: readAddress(view, 24),
    payload: bytes.subarray(ipv6HeaderBytes, ipv6HeaderBytes + payloadLength),
  })
}

/** The payload must fit the 16-bit payload length (no jumbograms). */
export const encodeIpv6 = (packet: Ipv6Packet): Uint8Array => {
  const bytes = new Uint8Array(ipv6HeaderBytes + packet.payload.length)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, ((6 << 28) | ((packet.trafficClass & 0xff) << 20) | (packet.flowLabel & 0xf_ffff)) >>> 0)
  view.setUint16(4, packet.payload.length)
  bytes[6] = packet.nextHeader
  bytes[7] = packet.hopLimit
  writeAddress(view, 8, packet.source)
  writeAddress(view, 24, packet.destination)
  bytes.set(packet.payload, ipv6HeaderBytes)
  return bytes
}

const sumAddress = (address: Address): number => {
  let sum = 0
  for (let shift = 112n; shift >= 0n; shift -= 16n) sum += Number((address.value >> shift) & 0xffffn)
  return sum
}

const onesComplementSum = (source: Address, destination: Address, message: Uint8Array, withChecksumField: boolean): number => {
  let sum = sumAddress(source) + sumAddress(destination)
  sum += Math.floor(message.length / 0x10000) + (message.length & 0xffff) + nextHeaderIcmpv6
  for (let i = 0; i < message.length; i += 2) {
    if (i === 2 && !withChecksumField) continue
    sum += ((message[i] ?? 0) << 8) | (message[i + 1] ?? 0)
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000)
  return sum
}

/**
 * The checksum an ICMPv6 message must carry, computed as if its checksum field (octets 2..3) were
 * zero: the one's complement of the one's complement sum of the pseudo-header (source, destination,
 * 32-bit upper-layer length, next header 58) and the message, an odd final octet padded with zero.
 */
export const icmpv6Checksum = (source: Address, destination: Address, message: Uint8Array): number =>
  ~onesComplementSum(source, destination, message, false) & 0xffff

/**
 * Verification sums the field too and expects all ones, so both encodings of a zero checksum
 * (0x0000 and 0xffff) are accepted; the pseudo-header's next header keeps the sum from being zero.
 */
export const icmpv6ChecksumValid = (source: Address, destination: Address, message: Uint8Array): boolean =>
  message.length >= 4 && onesComplementSum(source, destination, message, true) === 0xffff
