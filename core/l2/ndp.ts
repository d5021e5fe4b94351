// Neighbor Solicitation and Neighbor Advertisement (RFC 4861 §4.3, §4.4) with their options: Source and
// Target Link-Layer Address (§4.6.1, 8 octets for Ethernet per RFC 2464 §6) and Nonce (RFC 3971
// §5.3.2, which RFC 7527 enhanced DAD puts in probes); other options are kept as opaque bytes. Decoding
// applies every validity check of §7.1.1 and §7.1.2 (checksum, hop limit 255, code 0, length, target
// not multicast, option lengths, the DAD and multicast-destination rules), so a message that comes
// out of decodeNdp is one a conforming node would process. Reserved bits are ignored on receipt and
// sent as zero.
import { Result } from "effect"
import type { Address } from "../net/address.ts"
import { decodeError, type L2DecodeError, type L2DecodeReason } from "./errors.ts"
import {
  icmpv6Checksum,
  icmpv6ChecksumValid,
  isMulticast,
  isSolicitedNodeAddress,
  nextHeaderIcmpv6,
  type Ipv6Packet,
} from "./ipv6.ts"
import { macFromBytes, writeMac, type Mac } from "./mac.ts"

export const icmpv6NeighborSolicitation = 135
export const icmpv6NeighborAdvertisement = 136
export const ndpHopLimit = 255

export const optionSourceLinkLayerAddress = 1
export const optionTargetLinkLayerAddress = 2
export const optionNonce = 14

export type NdpOption =
  | { readonly _tag: "SourceLinkLayerAddress"; readonly mac: Mac }
  | { readonly _tag: "TargetLinkLayerAddress"; readonly mac: Mac }
  /** 8k-2 octets (6 in RFC 7527 probes); other lengths are zero-padded on encode. */
  | { readonly _tag: "Nonce"; readonly nonce: Uint8Array }
  /** data is everything after the type and length octets: 8k-2 octets, zero-padded on encode. */
  | { readonly _tag: "UnknownOption"; readonly type: number; readonly data: Uint8Array }

export interface NeighborSolicitation {
  readonly _tag: "NeighborSolicitation"
  readonly target: Address
  readonly options: ReadonlyArray<NdpOption>
}

export interface NeighborAdvertisement {
  readonly _tag: "NeighborAdvertisement"
  readonly router: boolean
  readonly solicited: boolean
  readonly override: boolean
  readonly target: Address
  readonly options: ReadonlyArray<NdpOption>
}

export type NdpMessage = NeighborSolicitation | NeighborAdvertisement

const fail = (reason: L2DecodeReason, detail: string) => Result.fail(decodeError("ndp", reason, detail))

const decodeOptions = (bytes: Uint8Array): Result.Result<ReadonlyArray<NdpOption>, L2DecodeError> => {
  const options: Array<NdpOption> = []
  let offset = 0
  while (offset < bytes.length) {
    if (offset + 2 > bytes.length) return fail("OptionLength", `one octet left at option offset ${offset}`)
    const type = bytes[offset] ?? 0
    const units = bytes[offset + 1] ?? 0
    if (units === 0) return fail("OptionLength", `option type ${type} has length 0`)
    const end = offset + units * 8
    if (end > bytes.length) return fail("OptionLength", `option type ${type} of ${units * 8} octets runs past the end`)
    if (type === optionSourceLinkLayerAddress || type === optionTargetLinkLayerAddress) {
      if (units !== 1) return fail("LinkLayerAddressLength", `link-layer address option of ${units * 8} octets, Ethernet uses 8`)
      const mac = macFromBytes(bytes, offset + 2)
      options.push(type === optionSourceLinkLayerAddress ? { _tag: "SourceLinkLayerAddress", mac } : { _tag: "TargetLinkLayerAddress", mac })
    } else if (type === optionNonce) {
      options.push({ _tag: "Nonce", nonce: bytes.slice(offset + 2, end) })
    } else {
      options.push({ _tag: "UnknownOption", type, data: bytes.slice(offset + 2, end) })
    }
    offset = end
  }
  return Result.succeed(options)
}

const readTarget = (view: DataView): Address => ({
  family: "ipv6",
  value: (view.getBigUint64(8) << 64n) | view.getBigUint64(16),
})

/** Decodes the ICMPv6 body of an IPv6 packet; the header supplies the checksum and validity context. */
export const decodeNdp = (packet: Ipv6Packet): Result.Result<NdpMessage, L2DecodeError> => {
  if (packet.nextHeader !== nextHeaderIcmpv6) {
    return Result.fail(decodeError("ipv6", "NotIcmpv6", `next header ${packet.nextHeader}`))
  }
  const icmp = packet.payload
  if (icmp.length < 4) return Result.fail(decodeError("icmpv6", "Truncated", `${icmp.length} octets, ICMPv6 needs 4`))
  const type = icmp[0] ?? 0
  if (type !== icmpv6NeighborSolicitation && type !== icmpv6NeighborAdvertisement) {
    return Result.fail(decodeError("icmpv6", "NotNdp", `ICMPv6 type ${type}`))
  }
  if (!icmpv6ChecksumValid(packet.source, packet.destination, icmp)) {
    return Result.fail(decodeError("icmpv6", "Icmpv6Checksum", "checksum does not match the pseudo-header and message"))
  }
  if (packet.hopLimit !== ndpHopLimit) return fail("NdpHopLimit", `hop limit ${packet.hopLimit}, must be 255`)
  if (icmp[1] !== 0) return fail("NdpCode", `code ${icmp[1] ?? 0}, must be 0`)
  if (icmp.length < 24) return fail("NdpLength", `ICMP length ${icmp.length}, must be at least 24`)
  const view = new DataView(icmp.buffer, icmp.byteOffset, icmp.byteLength)
  const target = readTarget(view)
  if (isMulticast(target)) return fail("MulticastTarget", "the target address is multicast")
  const decoded = decodeOptions(icmp.subarray(24))
  if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
  const options = decoded.success
  if (type === icmpv6NeighborSolicitation) {
    if (packet.source.value === 0n) {
      if (!isSolicitedNodeAddress(packet.destination)) {
        return fail("DadNotToSolicitedNode", "a solicitation from :: must go to a solicited-node multicast address")
      }
      if (options.some((o) => o._tag === "SourceLinkLayerAddress")) {
        return fail("DadWithSourceLinkLayerAddress", "a solicitation from :: must not carry a source link-layer address")
      }
    }
    return Result.succeed({ _tag: "NeighborSolicitation", target, options })
  }
  const flags = icmp[4] ?? 0
  const solicited = (flags & 0x40) !== 0
  if (solicited && isMulticast(packet.destination)) {
    return fail("SolicitedToMulticast", "an advertisement with S=1 was sent to a multicast address")
  }
  return Result.succeed({
    _tag: "NeighborAdvertisement",
    router: (flags & 0x80) !== 0,
    solicited,
    override: (flags & 0x20) !== 0,
    target,
    options,
  })
}

const optionUnits = (dataBytes: number): number => Math.max(1, Math.ceil((2 + dataBytes) / 8))

const optionBytes = (option: NdpOption): number => {
  switch (option._tag) {
    case "SourceLinkLayerAddress":
    case "TargetLinkLayerAddress":
      return 8
    case "Nonce":
      return optionUnits(option.nonce.length) * 8
    case "UnknownOption":
      return optionUnits(option.data.length) * 8
  }
}

const writeOption = (option: NdpOption, into: Uint8Array, offset: number): void => {
  into[offset + 1] = optionBytes(option) / 8
  switch (option._tag) {
    case "SourceLinkLayerAddress":
    case "TargetLinkLayerAddress":
      into[offset] = option._tag === "SourceLinkLayerAddress" ? optionSourceLinkLayerAddress : optionTargetLinkLayerAddress
      writeMac(option.mac, into, offset + 2)
      return
    case "Nonce":
      into[offset] = optionNonce
      into.set(option.nonce, offset + 2)
      return
    case "UnknownOption":
      into[offset] = option.type
      into.set(option.data, offset + 2)
      return
  }
}

/** The ICMPv6 message with its checksum, for an IPv6 packet from source to destination. */
export const encodeNdp = (source: Address, destination: Address, message: NdpMessage): Uint8Array => {
  const length = 24 + message.options.reduce((sum, o) => sum + optionBytes(o), 0)
  const bytes = new Uint8Array(length)
  const view = new DataView(bytes.buffer)
  if (message._tag === "NeighborSolicitation") {
    bytes[0] = icmpv6NeighborSolicitation
  } else {
    bytes[0] = icmpv6NeighborAdvertisement
    bytes[4] = (message.router ? 0x80 : 0) | (message.solicited ? 0x40 : 0) | (message.override ? 0x20 : 0)
  }
  view.setBigUint64(8, (message.target.value >> 64n) & 0xffff_ffff_ffff_ffffn)
  view.setBigUint64(16, message.target.value & 0xffff_ffff_ffff_ffffn)
  let offset = 24
  for (const option of message.options) {
    writeOption(option, bytes, offset)
    offset += optionBytes(option)
  }
  view.setUint16(2, icmpv6Checksum(source, destination, bytes))
  return bytes
}

/** The MAC in the first option of the given kind, if any. */
export const linkLayerAddressOption = (
  options: ReadonlyArray<NdpOption>,
  kind: "SourceLinkLayerAddress" | "TargetLinkLayerAddress",
): Mac | undefined => {
  for (const option of options) if (option._tag === kind) return option.mac
  return undefined
}
