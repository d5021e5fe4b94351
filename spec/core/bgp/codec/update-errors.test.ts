// RFC 7606 error handling of received UPDATEs: which errors are treat-as-withdraw (with every prefix of
// the message withdrawn), which become a session reset (with RFC 4271's code, subcode and data), when
// treat-as-withdraw escalates to a reset (§5.2), and which attributes are discarded or kept.
import { describe, expect, it } from "vitest"
import { decode, decodeUpdate } from "../../../../core/bgp/codec/index.ts"
import { parsePrefix } from "../../../../core/net/prefix.ts"
import { failure, ok, toHex, update } from "./hex.ts"

const four = { fourOctetAsn: true }
const origin = "40 01 01 00"
const asPath = "40 02 06 02 01 0000fbf5"
const nextHop = "40 03 04 c0000201"
// MP_REACH_NLRI: IPv6 unicast, next hop 2001:db8::1, NLRI 2001:db8::/32.
const mpReach = "80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8"
const withdrawn = "18 c00002" // 192.0.2.0/24
const nlri = "18 c63364" // 198.51.100.0/24
const prefix = (text: string) => ok(parsePrefix(text)).prefix
const everyPrefix = [prefix("192.0.2.0/24"), prefix("198.51.100.0/24"), prefix("2001:db8::/32")]

const withAttributes = (attributes: string) => update(withdrawn, `${mpReach} ${attributes}`, nlri)
const outcome = (bytes: Uint8Array, options = four) => ok(decodeUpdate(bytes, options))
const reset = (bytes: Uint8Array, options = four) => {
  const error = failure(decodeUpdate(bytes, options))
  return { code: error.code, subcode: error.subcode, data: toHex(error.data) }
}

describe("treat-as-withdraw", () => {
  const cases: ReadonlyArray<[string, string]> = [
    ["ORIGIN of 2 bytes", `40 01 02 0000 ${asPath} ${nextHop}`],
    ["ORIGIN value 3", `40 01 01 03 ${asPath} ${nextHop}`],
    ["ORIGIN with the Optional bit (flags conflict)", `c0 01 01 00 ${asPath} ${nextHop}`],
    ["AS_PATH confederation segment", `${origin} 40 02 06 03 01 0000fbf5 ${nextHop}`],
    ["AS_PATH empty segment", `${origin} 40 02 02 02 00 ${nextHop}`],
    ["AS_PATH segment overrun", `${origin} 40 02 06 02 02 0000fbf5 ${nextHop}`],
    ["AS_PATH single trailing octet", `${origin} 40 02 07 02 01 0000fbf5 00 ${nextHop}`],
    ["AS_PATH containing AS 0", `${origin} 40 02 06 02 01 00000000 ${nextHop}`],
    ["NEXT_HOP of 5 bytes", `${origin} ${asPath} 40 03 05 c000020100`],
    ["MED of 3 bytes", `${origin} ${asPath} ${nextHop} 80 04 03 000000`],
    ["MED marked transitive", `${origin} ${asPath} ${nextHop} c0 04 04 00000000`],
    ["LOCAL_PREF of 5 bytes", `${origin} ${asPath} ${nextHop} 40 05 05 0000000064`],
    ["COMMUNITIES of 5 bytes", `${origin} ${asPath} ${nextHop} c0 08 05 fde9000100`],
    ["COMMUNITIES empty", `${origin} ${asPath} ${nextHop} c0 08 00`],
    ["LARGE_COMMUNITY of 13 bytes", `${origin} ${asPath} ${nextHop} c0 20 0d 0000fde9 00000001 00000002 00`],
    ["missing ORIGIN", `${asPath} ${nextHop}`],
    ["missing AS_PATH", `${origin} ${nextHop}`],
    ["missing NEXT_HOP with body NLRI", `${origin} ${asPath}`],
    ["an attribute running past the path attributes", `${origin} ${asPath} ${nextHop} c0 08 08 fde90001`],
    ["fewer than 3 bytes left for an attribute header", `${origin} ${asPath} ${nextHop} c0 08`],
  ]
  for (const [name, attributes] of cases) {
    it(`${name}: every prefix of the message is withdrawn`, () => {
      const result = outcome(withAttributes(attributes))
      expect(result).toMatchObject({ _tag: "TreatAsWithdraw", withdrawn: everyPrefix })
    })
  }

  it("includes MP_UNREACH_NLRI prefixes, and decode turns the outcome into the matching withdrawal", () => {
    const mpUnreach = "80 0f 0a 0002 01 30 20010db80001" // 2001:db8:1::/48
    const bytes = withAttributes(`${mpUnreach} 40 01 01 07 ${asPath} ${nextHop}`)
    expect(outcome(bytes)).toMatchObject({ withdrawn: [...everyPrefix, prefix("2001:db8:1::/48")] })
    expect(ok(decode(bytes, four))).toEqual({
      _tag: "Update",
      withdrawn: [prefix("192.0.2.0/24"), prefix("198.51.100.0/24")],
      attributes: { mpUnreach: { family: "ipv6", withdrawn: [prefix("2001:db8::/32"), prefix("2001:db8:1::/48")] } },
      nlri: [],
    })
  })

  it("NEXT_HOP is not required when the only NLRI is in MP_REACH_NLRI", () => {
    expect(outcome(update("", `${mpReach} ${origin} ${asPath}`, ""))._tag).toBe("Update")
  })
})

describe("treat-as-withdraw without reachable NLRI is a session reset (RFC 7606 §5.2)", () => {
  const withdrawOnly = (attributes: string) => update(withdrawn, attributes, "")
  it("uses the NOTIFICATION RFC 4271 gives each error", () => {
    expect(reset(withdrawOnly("40 01 01 03"))).toEqual({ code: 3, subcode: 6, data: "40010103" })
    expect(reset(withdrawOnly("40 01 02 0000"))).toEqual({ code: 3, subcode: 5, data: "4001020000" })
    expect(reset(withdrawOnly("c0 01 01 00"))).toEqual({ code: 3, subcode: 4, data: "c0010100" })
    expect(reset(withdrawOnly("40 02 02 02 00"))).toEqual({ code: 3, subcode: 11, data: "" })
    expect(reset(withdrawOnly("40 03 03 c00002"))).toEqual({ code: 3, subcode: 5, data: "400303c00002" })
    expect(reset(withdrawOnly("c0 08 03 000000"))).toEqual({ code: 3, subcode: 9, data: "c00803000000" })
    expect(reset(withdrawOnly("c0 08 08 00000000"))).toEqual({ code: 3, subcode: 1, data: "" })
  })

  it("an empty MP_REACH_NLRI is not reachable NLRI", () => {
    const emptyReach = "80 0e 15 0002 01 10 20010db8000000000000000000000001 00"
    expect(reset(update("", `${emptyReach} 40 01 01 03 ${asPath}`, ""))).toMatchObject({ code: 3, subcode: 6 })
  })
})

describe("session reset", () => {
  const base = `${origin} ${asPath} ${nextHop}`
  it("malformed MP_REACH_NLRI or MP_UNREACH_NLRI: Optional Attribute Error with the attribute", () => {
    const badNextHop = "80 0e 19 0002 01 0f 20010db80000000000000000000000 00 20 20010db8"
    expect(reset(update("", `${badNextHop} ${base}`, nlri))).toEqual({ code: 3, subcode: 9, data: badNextHop.replace(/ /g, "") })
    expect(reset(update("", `80 0e 1a 0002 01 10 ${"00".repeat(16)} 00 81 20010db8 ${base}`, ""))).toMatchObject({ code: 3, subcode: 9 })
    expect(reset(update("", `80 0e 04 0002 0110 ${base}`, nlri))).toMatchObject({ code: 3, subcode: 9 })
    expect(reset(update("", `80 0f 05 0002 01 30 20 ${base}`, nlri))).toEqual({ code: 3, subcode: 9, data: "800f050002013020" })
    expect(reset(update("", `80 0e 09 0002 01 04 c0000201 00 ${base}`, ""))).toMatchObject({ code: 3, subcode: 9 })
  })

  it("MP_REACH_NLRI with wrong flags: Attribute Flags Error", () => {
    const reach = `c0 ${mpReach.slice(3)}`
    expect(reset(update("", `${reach} ${base}`, ""))).toEqual({ code: 3, subcode: 4, data: reach.replace(/ /g, "") })
  })

  it("a second MP_REACH_NLRI or MP_UNREACH_NLRI: Malformed Attribute List", () => {
    expect(reset(update("", `${mpReach} ${mpReach} ${base}`, ""))).toEqual({ code: 3, subcode: 1, data: "" })
    expect(reset(update("", `80 0f 03 000201 80 0f 03 000201`, ""))).toEqual({ code: 3, subcode: 1, data: "" })
  })

  it("an unrecognized well-known attribute: subcode 2 with the attribute, even next to treat-as-withdraw errors", () => {
    expect(reset(update("", `${base} 40 63 01 00`, nlri))).toEqual({ code: 3, subcode: 2, data: "40630100" })
    expect(reset(update("", `40 01 01 09 ${asPath} ${nextHop} 40 63 01 00`, nlri))).toMatchObject({ subcode: 2 })
  })

  it("length fields overrunning the message: Malformed Attribute List", () => {
    const bytes = update(withdrawn, base, nlri)
    const badWithdrawn = bytes.slice()
    badWithdrawn[20] = 0xff
    expect(reset(badWithdrawn)).toEqual({ code: 3, subcode: 1, data: "" })
    const badAttributes = bytes.slice()
    badAttributes[19 + 2 + 4 + 1] = 0xff
    expect(reset(badAttributes)).toEqual({ code: 3, subcode: 1, data: "" })
  })

  it("unparseable body prefixes: Invalid Network Field", () => {
    expect(reset(update("", base, "21 c0000201 00"))).toEqual({ code: 3, subcode: 10, data: "" })
    expect(reset(update("", base, "18 c633"))).toEqual({ code: 3, subcode: 10, data: "" })
    expect(reset(update("20 c00002", "", ""))).toEqual({ code: 3, subcode: 10, data: "" })
  })
})

describe("attribute discard and unknown attributes", () => {
  const base = `${origin} ${asPath} ${nextHop}`
  it("drops malformed ATOMIC_AGGREGATE, AGGREGATOR and duplicates, keeping the rest", () => {
    const result = outcome(update("", `${base} 40 06 01 00 c0 07 05 0000fde9c0 40 01 01 02`, nlri))
    expect(result._tag).toBe("Update")
    if (result._tag !== "Update") return
    expect(result.update.attributes).toEqual({ origin: "igp", asPath: [{ type: "sequence", asns: [64501] }], nextHop: { family: "ipv4", value: 0xc0000201n } })
    expect(result.discarded).toHaveLength(3)
  })

  it("drops AS4_PATH and AS4_AGGREGATOR from a 4-octet speaker (RFC 6793)", () => {
    const result = outcome(update("", `${base} c0 11 06 02 01 0000fde9 c0 12 08 0000fde9 c0000201`, nlri))
    expect(result).toMatchObject({ _tag: "Update", discarded: [expect.stringContaining("AS4_PATH"), expect.stringContaining("AS4_AGGREGATOR")] })
  })

  it("keeps unknown optional transitive attributes with the Partial bit, drops non-transitive ones", () => {
    const result = outcome(update("", `${base} c0 63 02 abcd 80 64 02 abcd`, nlri))
    expect(result).toMatchObject({ _tag: "Update", discarded: [] })
    if (result._tag === "Update") expect(result.update.attributes.unknown).toEqual([{ flags: 0xe0, code: 99, value: Uint8Array.of(0xab, 0xcd) }])
  })

  it("discards MP_REACH_NLRI of a family not spoken here", () => {
    const vpn = "80 0e 09 0001 80 04 c0000201 00"
    const result = outcome(update("", `${vpn} ${base}`, nlri))
    expect(result).toMatchObject({ _tag: "Update", discarded: [expect.stringContaining("SAFI 128")] })
    if (result._tag === "Update") expect(result.update.attributes.mpReach).toBeUndefined()
  })
})
