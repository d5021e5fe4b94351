// Prefixes and addresses on the wire. A prefix is its length in bits followed by the fewest octets
// that hold that many bits (RFC 4271 §4.3, RFC 4760 §5); bits past the length are irrelevant on
// receipt, so decoding masks them and every decoded prefix has host bits zero. A prefix list that
// overruns its field or claims more bits than the family has cannot be parsed at all: RFC 7606 §5.3
// makes that a session reset, so the reader reports it and the caller chooses the NOTIFICATION.
import { Result } from "effect"
import { type Address, bigintToBytes, bitsOf, type Family } from "../../net/address.ts"
import { makePrefix, type Prefix } from "../../net/prefix.ts"
import { u8, type Writer } from "./wire.ts"

export const addressLength = (family: Family): number => bitsOf(family) / 8

export const encodedPrefixLength = (prefix: Prefix): number => 1 + Math.ceil(prefix.length / 8)

export const writePrefix = (writer: Writer, prefix: Prefix): void => {
  const octets = Math.ceil(prefix.length / 8)
  writer.u8(prefix.length)
  writer.bytes(bigintToBytes(prefix.network, addressLength(prefix.family)).slice(0, octets))
}

export const writePrefixes = (writer: Writer, prefixes: ReadonlyArray<Prefix>): void => {
  for (const prefix of prefixes) writePrefix(writer, prefix)
}

/** Reads the prefixes filling bytes[start, end); a reason on failure. */
export const readPrefixes = (
  bytes: Uint8Array,
  start: number,
  end: number,
  family: Family,
): Result.Result<Array<Prefix>, string> => {
  const bits = bitsOf(family)
  const prefixes: Array<Prefix> = []
  let offset = start
  while (offset < end) {
    const length = u8(bytes, offset)
    if (length > bits) return Result.fail(`${family} prefix length ${length} exceeds ${bits}`)
    const octets = Math.ceil(length / 8)
    if (offset + 1 + octets > end) return Result.fail(`a /${length} prefix needs ${octets} octets but only ${end - offset - 1} remain`)
    let value = 0n
    for (let i = 0; i < octets; i++) value = (value << 8n) | BigInt(u8(bytes, offset + 1 + i))
    prefixes.push(makePrefix(family, value << BigInt(bits - octets * 8), length))
    offset += 1 + octets
  }
  return Result.succeed(prefixes)
}

export const readAddress = (bytes: Uint8Array, offset: number, family: Family): Address => {
  let value = 0n
  for (let i = 0; i < addressLength(family); i++) value = (value << 8n) | BigInt(u8(bytes, offset + i))
  return { family, value }
}

export const writeAddress = (writer: Writer, address: Address): void => {
  writer.bytes(bigintToBytes(address.value, addressLength(address.family)))
}
