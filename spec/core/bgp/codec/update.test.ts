// UPDATE examples: exact encoding (attribute order and flags, AS_TRANS and AS4_PATH on a 2-octet session,
// IPv6 next hop with link-local), AS4_PATH reconstruction (RFC 6793 §4.2.3), extended-length attributes
// both ways, and UPDATEs packed with IPv4 /32 NLRI up to the 4096-byte limit.
import { describe, expect, it } from "vitest"
import { decode, decodeUpdate, encode, encodedLength, encodedPrefixLength } from "../../../../core/bgp/codec/index.ts"
import type { Update } from "../../../../core/bgp/messages.ts"
import { parseAddress } from "../../../../core/net/address.ts"
import { makePrefix, parsePrefix } from "../../../../core/net/prefix.ts"
import { hex, ok, toHex, update } from "./hex.ts"

const two = { fourOctetAsn: false }
const four = { fourOctetAsn: true }
const prefix = (text: string) => ok(parsePrefix(text)).prefix
const address = (text: string) => ok(parseAddress(text))

const full: Update = {
  _tag: "Update",
  withdrawn: [prefix("192.0.2.0/24")],
  attributes: {
    origin: "igp",
    asPath: [{ type: "sequence", asns: [64501, 4200000001] }],
    nextHop: address("192.0.2.1"),
    med: 100,
    localPref: 200,
    communities: [0xfbf50001],
    largeCommunities: [{ globalAdministrator: 4200000001, localData1: 1, localData2: 2 }],
    mpReach: { family: "ipv6", nextHops: [address("2001:db8::1"), address("fe80::1")], nlri: [prefix("2001:db8:1::/48")] },
  },
  nlri: [prefix("198.51.100.0/24"), prefix("203.0.113.7/32")],
}
const mpReach = "80 0e 2c 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00 30 20010db80001"
const tail = "40 03 04 c0000201 80 04 04 00000064 40 05 04 000000c8 c0 08 04 fbf50001"
const large = "c0 20 0c fa56ea01 00000001 00000002"

describe("UPDATE encoding", () => {
  it("on a 2-octet session: MP_REACH first, then type-code order, AS_TRANS in AS_PATH, the real path in AS4_PATH", () => {
    const attributes = `${mpReach} 40 01 01 00 40 02 06 02 02 fbf5 5ba0 ${tail} c0 11 0a 02 02 0000fbf5 fa56ea01 ${large}`
    const bytes = encode(full, two)
    expect(toHex(bytes)).toBe(toHex(update("18 c00002", attributes, "18 c63364 20 cb007107")))
    expect(ok(decode(bytes, two))).toEqual(full)
  })

  it("on a 4-octet session: 4-byte ASNs in AS_PATH and no AS4_PATH", () => {
    const attributes = `${mpReach} 40 01 01 00 40 02 0a 02 02 0000fbf5 fa56ea01 ${tail} ${large}`
    const bytes = encode(full, four)
    expect(toHex(bytes)).toBe(toHex(update("18 c00002", attributes, "18 c63364 20 cb007107")))
    expect(ok(decode(bytes, four))).toEqual(full)
  })

  it("encodes End-of-RIB markers as RFC 4724 defines them", () => {
    expect(toHex(encode({ _tag: "Update", withdrawn: [], attributes: {}, nlri: [] }, four))).toBe(toHex(update("", "", "")))
    const ipv6 = { _tag: "Update", withdrawn: [], attributes: { mpUnreach: { family: "ipv6", withdrawn: [] } }, nlri: [] } as const
    expect(toHex(encode(ipv6, four))).toBe(toHex(update("", "80 0f 03 0002 01", "")))
  })

  it("writes prefixes in the fewest octets", () => {
    const bytes = encode({ _tag: "Update", withdrawn: [prefix("0.0.0.0/0"), prefix("10.0.0.0/9"), prefix("10.1.2.3/32")], attributes: {}, nlri: [] }, four)
    expect(toHex(bytes.subarray(19))).toBe(toHex(hex("0009 00 09 0a00 20 0a010203 0000")))
  })
})

describe("AS4_PATH reconstruction on a 2-octet session (RFC 6793 §4.2.3)", () => {
  const base = "40 01 01 00 40 03 04 c0000201"
  const attributesOf = (attributes: string) => {
    const outcome = ok(decodeUpdate(update("", `${base} ${attributes}`, "18 c63364"), two))
    if (outcome._tag !== "Update") throw new Error(`expected an Update, got ${outcome.reason}`)
    return { attributes: outcome.update.attributes, discarded: outcome.discarded }
  }
  const as4Path = "c0 11 0a 02 02 fa56ea01 fa56ea02"

  it("replaces the AS_TRANS entries with the 4-octet ASNs, keeping the leading 2-octet ones", () => {
    const { attributes } = attributesOf(`40 02 08 02 03 fde9 5ba0 5ba0 ${as4Path}`)
    expect(attributes.asPath).toEqual([{ type: "sequence", asns: [65001, 4200000001, 4200000002] }])
    expect(attributes.as4Path).toBeUndefined()
  })

  it("ignores an AS4_PATH longer than the AS_PATH", () => {
    expect(attributesOf(`40 02 04 02 01 5ba0 ${as4Path}`).attributes.asPath).toEqual([{ type: "sequence", asns: [23456] }])
  })

  it("counts an AS_SET as one AS", () => {
    const asPath = "40 02 0c 02 02 fde9 5ba0 01 02 5ba0 fdf2"
    const as4 = "c0 11 10 02 01 fa56ea01 01 02 fa56ea02 0000fdf2"
    expect(attributesOf(`${asPath} ${as4}`).attributes.asPath).toEqual([
      { type: "sequence", asns: [65001, 4200000001] },
      { type: "set", asns: [4200000002, 65010] },
    ])
  })

  it("ignores AS4_PATH and AS4_AGGREGATOR when AGGREGATOR names a 2-octet AS, uses them when it is AS_TRANS", () => {
    const as4Aggregator = "c0 12 08 fa56ea01 c0000201"
    const ignored = attributesOf(`40 02 08 02 03 fde9 5ba0 5ba0 c0 07 06 fde9 c0000201 ${as4Path} ${as4Aggregator}`)
    expect(ignored.attributes.asPath).toEqual([{ type: "sequence", asns: [65001, 23456, 23456] }])
    expect(ignored.attributes.unknown?.map((a) => a.code)).toEqual([7])
    expect(ignored.discarded).toHaveLength(1)
    const used = attributesOf(`40 02 08 02 03 fde9 5ba0 5ba0 c0 07 06 5ba0 c0000201 ${as4Path} ${as4Aggregator}`)
    expect(used.attributes.asPath).toEqual([{ type: "sequence", asns: [65001, 4200000001, 4200000002] }])
    expect(used.attributes.unknown?.map((a) => a.code)).toEqual([7, 18])
  })

  it("discards a malformed AS4_PATH and keeps the AS_PATH", () => {
    const { attributes, discarded } = attributesOf("40 02 04 02 01 5ba0 c0 11 06 03 01 fa56ea01")
    expect(attributes.asPath).toEqual([{ type: "sequence", asns: [23456] }])
    expect(discarded).toEqual([expect.stringContaining("AS4_PATH")])
  })
})

describe("extended length", () => {
  it("decodes any attribute sent with the Extended Length bit", () => {
    const outcome = ok(decodeUpdate(update("", "50 01 0001 02 50 02 0006 02 01 0000fbf5 50 03 0004 c0000201", "18 c63364"), four))
    expect(outcome).toMatchObject({ _tag: "Update", update: { attributes: { origin: "incomplete", asPath: [{ asns: [64501] }] } } })
  })

  it("uses it exactly when a value exceeds 255 bytes", () => {
    const communities = Array.from({ length: 70 }, (_, i) => 0xfbf50000 + i)
    const withCommunities: Update = { _tag: "Update", withdrawn: [], attributes: { communities }, nlri: [] }
    expect(toHex(encode(withCommunities, four).subarray(23, 27))).toBe("d0080118")
    expect(ok(decode(encode(withCommunities, four), four))).toEqual(withCommunities)
    const unknownOf = (length: number): Update => ({
      _tag: "Update", withdrawn: [], attributes: { unknown: [{ flags: 0xe0, code: 99, value: new Uint8Array(length) }] }, nlri: [],
    })
    expect(toHex(encode(unknownOf(255), four).subarray(23, 26))).toBe("e063ff")
    expect(toHex(encode(unknownOf(256), four).subarray(23, 27))).toBe("f0630100")
    expect(ok(decode(encode(unknownOf(256), four), four))).toEqual(unknownOf(256))
  })
})

describe("UPDATEs full of IPv4 /32 NLRI", () => {
  const hosts = (count: number) => Array.from({ length: count }, (_, i) => makePrefix("ipv4", 0x0a000000n + BigInt(i), 32))
  const announce = (count: number, atomicAggregate = false): Update => ({
    _tag: "Update",
    withdrawn: [],
    attributes: {
      origin: "igp",
      asPath: [{ type: "sequence", asns: [64501] }],
      nextHop: address("192.0.2.1"),
      ...(atomicAggregate ? { atomicAggregate } : {}),
    },
    nlri: hosts(count),
  })

  it("500 /32 round-trip, 5 bytes each", () => {
    const bytes = encode(announce(500), four)
    expect(bytes.length).toBe(19 + 2 + 2 + 20 + 500 * 5)
    expect(ok(decode(bytes, four))).toEqual(announce(500))
  })

  it("810 /32 fit in 4096 bytes with these attributes, 811 do not; a message of exactly 4096 bytes decodes", () => {
    expect(encodedPrefixLength(prefix("10.0.0.1/32"))).toBe(5)
    expect(encodedLength(announce(810), four)).toBe(4093)
    expect(encodedLength(announce(811), four)).toBe(4098)
    const exact = announce(810, true)
    expect(encodedLength(exact, four)).toBe(4096)
    expect(ok(decode(encode(exact, four), four))).toEqual(exact)
  })
})
