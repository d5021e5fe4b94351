// CIDR prefixes and address ranges. MetalLB masks host bits in a pool's CIDR ("192.0.2.5/24" is
// 192.0.2.0/24); parsePrefix does the same but reports that it did, so configuration can warn. A range
// "a-b" is summarised into the fewest CIDRs that cover exactly a..b, as MetalLB's pool parser does.
import { Data, Result } from "effect"
import { type Address, bitsOf, type Family, formatAddress, parseAddress } from "./address.ts"

export interface Prefix {
  readonly family: Family
  /** The network address (host bits zero). */
  readonly network: bigint
  readonly length: number
}

export class InvalidPrefix extends Data.TaggedError("InvalidPrefix")<{
  readonly text: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid CIDR ${JSON.stringify(this.text)}: ${this.reason}`
  }
}

export class InvalidRange extends Data.TaggedError("InvalidRange")<{
  readonly text: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid IP range ${JSON.stringify(this.text)}: ${this.reason}`
  }
}

export interface ParsedPrefix {
  readonly prefix: Prefix
  /** True when the text had host bits set that were masked off. */
  readonly hostBitsMasked: boolean
}

const hostMask = (family: Family, length: number): bigint => (1n << BigInt(bitsOf(family) - length)) - 1n

export const makePrefix = (family: Family, value: bigint, length: number): Prefix => ({
  family,
  network: value & ~hostMask(family, length),
  length,
})

export const parsePrefix = (text: string): Result.Result<ParsedPrefix, InvalidPrefix> => {
  const slash = text.indexOf("/")
  if (slash < 0) return Result.fail(new InvalidPrefix({ text, reason: "missing /length" }))
  const address = parseAddress(text.slice(0, slash))
  if (Result.isFailure(address)) return Result.fail(new InvalidPrefix({ text, reason: address.failure.reason }))
  const { family, value } = address.success
  const lengthText = text.slice(slash + 1)
  const length = Number(lengthText)
  if (!/^\d{1,3}$/.test(lengthText) || length > bitsOf(family)) {
    return Result.fail(new InvalidPrefix({ text, reason: `prefix length must be 0..${bitsOf(family)}` }))
  }
  const prefix = makePrefix(family, value, length)
  return Result.succeed({ prefix, hostBitsMasked: prefix.network !== value })
}

export const formatPrefix = (prefix: Prefix): string =>
  `${formatAddress({ family: prefix.family, value: prefix.network })}/${prefix.length}`

/** Number of addresses in the prefix: 2^(bits - length), exact. */
export const prefixSize = (prefix: Prefix): bigint => 1n << BigInt(bitsOf(prefix.family) - prefix.length)

export const prefixLast = (prefix: Prefix): bigint => prefix.network + prefixSize(prefix) - 1n

export const prefixContains = (prefix: Prefix, address: Address): boolean =>
  prefix.family === address.family && address.value >= prefix.network && address.value <= prefixLast(prefix)

export const prefixesOverlap = (a: Prefix, b: Prefix): boolean =>
  a.family === b.family && a.network <= prefixLast(b) && b.network <= prefixLast(a)

/** The fewest prefixes covering exactly first..last (inclusive, same family, first <= last). */
export const summariseRange = (family: Family, first: bigint, last: bigint): Array<Prefix> => {
  const bits = bitsOf(family)
  const prefixes: Array<Prefix> = []
  let start = first
  while (start <= last) {
    // Largest aligned block starting at `start` that does not pass `last`.
    let hostBits = 0
    while (hostBits < bits) {
      const size = 1n << BigInt(hostBits + 1)
      if (start % size !== 0n || start + size - 1n > last) break
      hostBits += 1
    }
    prefixes.push({ family, network: start, length: bits - hostBits })
    start += 1n << BigInt(hostBits)
  }
  return prefixes
}

export interface AddressRange {
  readonly family: Family
  readonly first: bigint
  readonly last: bigint
}

/** Parses "a-b" (spaces around the dash allowed, as MetalLB allows). */
export const parseRange = (text: string): Result.Result<AddressRange, InvalidRange> => {
  const parts = text.split("-")
  if (parts.length !== 2) return Result.fail(new InvalidRange({ text, reason: "expected exactly one '-'" }))
  const first = parseAddress((parts[0] ?? "").trim())
  const last = parseAddress((parts[1] ?? "").trim())
  if (Result.isFailure(first)) return Result.fail(new InvalidRange({ text, reason: first.failure.message }))
  if (Result.isFailure(last)) return Result.fail(new InvalidRange({ text, reason: last.failure.message }))
  if (first.success.family !== last.success.family) {
    return Result.fail(new InvalidRange({ text, reason: "start and end are of different IP families" }))
  }
  if (first.success.value > last.success.value) {
    return Result.fail(new InvalidRange({ text, reason: "start is after end" }))
  }
  return Result.succeed({ family: first.success.family, first: first.success.value, last: last.success.value })
}
