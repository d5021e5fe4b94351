import { Result } from "effect"
import fc from "fast-check"
import ipaddr from "ipaddr.js"
import { describe, expect, it } from "vitest"
import { formatAddress, parseAddress } from "../../../core/net/address.ts"
import {
  formatPrefix,
  parsePrefix,
  parseRange,
  prefixContains,
  prefixesOverlap,
  prefixLast,
  prefixSize,
  summariseRange,
} from "../../../core/net/prefix.ts"

const ok = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) throw new Error(`expected success, got ${String(r.failure)}`)
  return r.success
}

describe("addresses", () => {
  it("parses and formats IPv4 and IPv6 canonically", () => {
    expect(formatAddress(ok(parseAddress("192.0.2.1")))).toBe("192.0.2.1")
    expect(formatAddress(ok(parseAddress("2001:DB8:0:0::1")))).toBe("2001:db8::1")
    expect(ok(parseAddress("255.255.255.255")).value).toBe(0xffffffffn)
  })

  it("rejects ambiguous or malformed text with a typed error", () => {
    for (const text of ["010.1.1.1", "1.1", "256.0.0.1", "192.0.2.1 ", "", "fe80::1%eth0", "2001:db8:::1", "::ffff:1.2.3"]) {
      const result = parseAddress(text)
      expect(Result.isFailure(result)).toBe(true)
      if (Result.isFailure(result)) expect(result.failure._tag).toBe("InvalidAddress")
    }
  })

  it("round-trips every IPv4 and IPv6 value (property)", () => {
    fc.assert(
      fc.property(fc.ipV4(), (text) => {
        expect(formatAddress(ok(parseAddress(text)))).toBe(text)
      }),
      { numRuns: 1000 },
    )
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (value) => {
        const text = formatAddress({ family: "ipv6", value })
        expect(ok(parseAddress(text)).value).toBe(value)
      }),
      { numRuns: 1000 },
    )
  })

  it("formats exactly as ipaddr.js, the parser of record, does (property; zero runs of every length and place)", () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }))
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const value = groups.reduce((v, g) => (v << 16n) | BigInt(g), 0n)
        const bytes = groups.flatMap((g) => [g >> 8, g & 0xff])
        expect(formatAddress({ family: "ipv6", value })).toBe(ipaddr.fromByteArray(bytes).toString())
      }),
      { numRuns: 5000 },
    )
    for (const text of ["::", "::1", "1::", "2001:db8::", "0:0:1::", "1:0:0:2::", "::ffff:c000:201", "1:0:1:0:1:0:1:0"]) {
      expect(formatAddress(ok(parseAddress(text)))).toBe(ipaddr.parse(text).toString())
    }
  })

  it("never throws on arbitrary text: a value or a typed error (fuzz)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        const result = parseAddress(text)
        if (Result.isFailure(result)) expect(result.failure._tag).toBe("InvalidAddress")
      }),
      { numRuns: 5000 },
    )
  })
})

describe("prefixes", () => {
  it("masks host bits as MetalLB does, and says so", () => {
    const parsed = ok(parsePrefix("192.0.2.77/24"))
    expect(formatPrefix(parsed.prefix)).toBe("192.0.2.0/24")
    expect(parsed.hostBitsMasked).toBe(true)
    expect(ok(parsePrefix("2001:db8::/64")).hostBitsMasked).toBe(false)
  })

  it("counts exactly, also for huge IPv6 prefixes", () => {
    expect(prefixSize(ok(parsePrefix("192.0.2.0/24")).prefix)).toBe(256n)
    expect(prefixSize(ok(parsePrefix("2001:db8::/48")).prefix)).toBe(1n << 80n)
    expect(prefixSize(ok(parsePrefix("::/0")).prefix)).toBe(1n << 128n)
  })

  it("rejects bad lengths and missing slashes", () => {
    for (const text of ["192.0.2.0", "192.0.2.0/33", "2001:db8::/129", "192.0.2.0/-1", "192.0.2.0/", "192.0.2.0/2a"]) {
      expect(Result.isFailure(parsePrefix(text))).toBe(true)
    }
  })

  it("detects overlap and containment", () => {
    const a = ok(parsePrefix("192.0.2.0/24")).prefix
    const b = ok(parsePrefix("192.0.2.128/25")).prefix
    const c = ok(parsePrefix("198.51.100.0/24")).prefix
    expect(prefixesOverlap(a, b)).toBe(true)
    expect(prefixesOverlap(a, c)).toBe(false)
    expect(prefixContains(a, ok(parseAddress("192.0.2.255")))).toBe(true)
    expect(prefixContains(a, ok(parseAddress("2001:db8::1")))).toBe(false)
  })
})

describe("ranges", () => {
  it("summarises a range into the fewest CIDRs", () => {
    const range = ok(parseRange("192.0.2.10 - 192.0.2.20"))
    expect(summariseRange(range.family, range.first, range.last).map(formatPrefix)).toEqual([
      "192.0.2.10/31",
      "192.0.2.12/30",
      "192.0.2.16/30",
      "192.0.2.20/32",
    ])
    const all = ok(parseRange("0.0.0.0-255.255.255.255"))
    expect(summariseRange(all.family, all.first, all.last).map(formatPrefix)).toEqual(["0.0.0.0/0"])
  })

  it("rejects reversed and mixed-family ranges", () => {
    expect(Result.isFailure(parseRange("192.0.2.20-192.0.2.10"))).toBe(true)
    expect(Result.isFailure(parseRange("192.0.2.1-2001:db8::1"))).toBe(true)
    expect(Result.isFailure(parseRange("192.0.2.1"))).toBe(true)
  })

  it("covers exactly the range with disjoint aligned prefixes (property)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.bigInt({ min: 0n, max: 1n << 70n }), (first, span) => {
        const last = first + span > (1n << 128n) - 1n ? (1n << 128n) - 1n : first + span
        const prefixes = summariseRange("ipv6", first, last)
        expect(prefixes[0]!.network).toBe(first)
        expect(prefixLast(prefixes[prefixes.length - 1]!)).toBe(last)
        for (let i = 1; i < prefixes.length; i++) expect(prefixes[i]!.network).toBe(prefixLast(prefixes[i - 1]!) + 1n)
        for (const p of prefixes) expect(p.network % prefixSize(p)).toBe(0n)
        expect(prefixes.length).toBeLessThanOrEqual(2 * 128)
      }),
      { numRuns: 1000 },
    )
  })
})
