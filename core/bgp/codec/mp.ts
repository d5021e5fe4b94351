// MP_REACH_NLRI and MP_UNREACH_NLRI values (RFC 4760 §3, §4) for IPv4 and IPv6 unicast. The next hop is
// one address (4 bytes for IPv4; 16 for IPv6) or, for IPv6, a global address followed by a link-local
// one (32 bytes, RFC 2545 §3); IPv4 NLRI with an IPv6 next hop (RFC 8950) is accepted too. Any other
// next-hop length, a truncated value or an unparseable NLRI makes the attribute malformed, which
// RFC 7606 §7.11 and §5.3 resolve by session reset. An AFI/SAFI other than IPv4/IPv6 unicast is
// reported as unsupported so the caller can discard it: we hold no routes of such a family, which is
// all RFC 4760 §7's disabling of the family would achieve.
import { Result } from "effect"
import type { Address } from "../../net/address.ts"
import { afiOf, type MpReach, type MpUnreach, safiUnicast } from "../messages.ts"
import { familyOf } from "./capabilities.ts"
import { addressLength, readAddress, readPrefixes, writeAddress, writePrefixes } from "./nlri.ts"
import { u16, u8, type Writer } from "./wire.ts"

export type MpDecoded<A> =
  | { readonly _tag: "Decoded"; readonly value: A }
  | { readonly _tag: "Unsupported"; readonly afi: number; readonly safi: number }
  | { readonly _tag: "Malformed"; readonly reason: string }

const malformed = (reason: string): MpDecoded<never> => ({ _tag: "Malformed", reason })

const decodeNextHops = (value: Uint8Array, start: number, length: number, family: "ipv4" | "ipv6"): Array<Address> | undefined => {
  if (length === 4 && family === "ipv4") return [readAddress(value, start, "ipv4")]
  if (length === 16) return [readAddress(value, start, "ipv6")]
  if (length === 32) return [readAddress(value, start, "ipv6"), readAddress(value, start + 16, "ipv6")]
  return undefined
}

export const decodeMpReach = (value: Uint8Array): MpDecoded<MpReach> => {
  if (value.length < 5) return malformed(`MP_REACH_NLRI of ${value.length} bytes is shorter than 5`)
  const afi = u16(value, 0)
  const safi = u8(value, 2)
  const family = familyOf(afi, safi)
  if (family === undefined) return { _tag: "Unsupported", afi, safi }
  const nextHopLength = u8(value, 3)
  if (5 + nextHopLength > value.length) return malformed(`next hop of ${nextHopLength} bytes overruns MP_REACH_NLRI`)
  const nextHops = decodeNextHops(value, 4, nextHopLength, family)
  if (nextHops === undefined) return malformed(`${family} next hop length ${nextHopLength}`)
  // The octet after the next hop is reserved (formerly the SNPA count) and ignored on receipt.
  const nlri = readPrefixes(value, 5 + nextHopLength, value.length, family)
  if (Result.isFailure(nlri)) return malformed(`MP_REACH_NLRI: ${nlri.failure}`)
  return { _tag: "Decoded", value: { family, nextHops, nlri: nlri.success } }
}

export const decodeMpUnreach = (value: Uint8Array): MpDecoded<MpUnreach> => {
  if (value.length < 3) return malformed(`MP_UNREACH_NLRI of ${value.length} bytes is shorter than 3`)
  const afi = u16(value, 0)
  const safi = u8(value, 2)
  const family = familyOf(afi, safi)
  if (family === undefined) return { _tag: "Unsupported", afi, safi }
  const withdrawn = readPrefixes(value, 3, value.length, family)
  if (Result.isFailure(withdrawn)) return malformed(`MP_UNREACH_NLRI: ${withdrawn.failure}`)
  return { _tag: "Decoded", value: { family, withdrawn: withdrawn.success } }
}

export const writeMpReach = (writer: Writer, reach: MpReach): void => {
  const nextHopLength = reach.nextHops.reduce((total, address) => total + addressLength(address.family), 0)
  writer.u16(afiOf(reach.family)).u8(safiUnicast).u8(nextHopLength)
  for (const address of reach.nextHops) writeAddress(writer, address)
  writer.u8(0)
  writePrefixes(writer, reach.nlri)
}

export const writeMpUnreach = (writer: Writer, unreach: MpUnreach): void => {
  writer.u16(afiOf(unreach.family)).u8(safiUnicast)
  writePrefixes(writer, unreach.withdrawn)
}
