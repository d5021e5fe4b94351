// IP addresses as (family, bigint) values: the one representation every core module computes with.
// Parsing is strict (ipaddr.js is the parser of record): no IPv4-mapped IPv6 shortcuts, no zones, no
// octal or shortened IPv4 forms, so "010.1.1.1" or "1.1" are errors rather than surprising addresses.
import { Data, Result } from "effect"
import ipaddr from "ipaddr.js"

export type Family = "ipv4" | "ipv6"

export interface Address {
  readonly family: Family
  readonly value: bigint
}

export class InvalidAddress extends Data.TaggedError("InvalidAddress")<{
  readonly text: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid IP address ${JSON.stringify(this.text)}: ${this.reason}`
  }
}

export const bitsOf = (family: Family): number => (family === "ipv4" ? 32 : 128)

/** The largest value of a family: 2^bits - 1. */
export const maxValueOf = (family: Family): bigint => (1n << BigInt(bitsOf(family))) - 1n

const ipv4Strict = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

export const parseAddress = (text: string): Result.Result<Address, InvalidAddress> => {
  if (text.includes(":")) {
    if (text.includes("%")) return Result.fail(new InvalidAddress({ text, reason: "zone indexes are not allowed" }))
    if (!ipaddr.IPv6.isValid(text)) return Result.fail(new InvalidAddress({ text, reason: "not an IPv6 address" }))
    const bytes = ipaddr.IPv6.parse(text).toByteArray()
    return Result.succeed({ family: "ipv6", value: bytesToBigint(bytes) })
  }
  if (!ipv4Strict.test(text)) {
    return Result.fail(new InvalidAddress({ text, reason: "not a dotted-quad IPv4 address" }))
  }
  return Result.succeed({ family: "ipv4", value: bytesToBigint(ipaddr.IPv4.parse(text).toByteArray()) })
}

/**
 * Dotted quad, or RFC 5952 text (lower case, the longest run of two or more zero groups shortened to
 * "::", the first such run on a tie), exactly as ipaddr.js prints; by hand because formatting sits on
 * hot paths (every status comparison, every simulated event) and ipaddr.js parses bytes into objects first.
 */
export const formatAddress = (address: Address): string => {
  if (address.family === "ipv4") {
    const v = Number(address.value)
    return `${(v >>> 24) & 0xff}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`
  }
  const groups = new Array<number>(8)
  let rest = address.value
  for (let i = 7; i >= 0; i--) {
    groups[i] = Number(rest & 0xffffn)
    rest >>= 16n
  }
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = (from: number, to: number) => groups.slice(from, to).map((g) => g.toString(16)).join(":")
  return bestStart < 0 ? hex(0, 8) : `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`
}

export const addressEquals = (a: Address, b: Address): boolean => a.family === b.family && a.value === b.value

/** Orders IPv4 before IPv6, then numerically. */
export const compareAddresses = (a: Address, b: Address): number =>
  a.family !== b.family ? (a.family === "ipv4" ? -1 : 1) : a.value < b.value ? -1 : a.value > b.value ? 1 : 0

export const bytesToBigint = (bytes: ReadonlyArray<number> | Uint8Array): bigint => {
  let value = 0n
  for (const byte of bytes) value = (value << 8n) | BigInt(byte)
  return value
}

export const bigintToBytes = (value: bigint, length: number): Array<number> => {
  const bytes = new Array<number>(length)
  let rest = value
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(rest & 0xffn)
    rest >>= 8n
  }
  return bytes
}
