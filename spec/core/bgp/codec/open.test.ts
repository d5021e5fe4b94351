// OPEN examples: a BIRD-style OPEN (all capabilities in one parameter) and a GoBGP-style one (one
// parameter per capability), written by hand from RFC 4271 §4.2 and RFC 5492, decode to the expected
// value and encode back byte for byte; every OPEN error of RFC 4271 §6.2 gives its code, subcode and data.
import { describe, expect, it } from "vitest"
import { decode, encode } from "../../../../core/bgp/codec/index.ts"
import type { Open } from "../../../../core/bgp/messages.ts"
import { failure, hex, message, ok, toHex } from "./hex.ts"

const options = { fourOctetAsn: true }
// AS 64501 (fbf5), hold 90 (005a), BGP Identifier 192.0.2.1 (c0000201).
const fixed = "04 fbf5 005a c0000201"
const mpIpv4 = "01 04 0001 00 01"
const mpIpv6 = "01 04 0002 00 01"
const routeRefresh = "02 00"
const fourOctet = "41 04 0000fbf5"

const expected: Open = {
  _tag: "Open",
  asn: 64501,
  holdTimeSeconds: 90,
  bgpIdentifier: 0xc0000201,
  capabilities: [
    { _tag: "Multiprotocol", family: "ipv4" },
    { _tag: "Multiprotocol", family: "ipv6" },
    { _tag: "RouteRefresh" },
    { _tag: "FourOctetAsn", asn: 64501 },
  ],
}

const openError = (body: string) => {
  const error = failure(decode(message(1, body), options))
  if (error._tag !== "BgpDecodeError") throw new Error(`expected BgpDecodeError, got ${error._tag}`)
  return { code: error.code, subcode: error.subcode, data: toHex(error.data) }
}

describe("OPEN", () => {
  it("decodes a BIRD-style OPEN and encodes it back to the same bytes", () => {
    const bytes = message(1, `${fixed} 16 02 14 ${mpIpv4} ${mpIpv6} ${routeRefresh} ${fourOctet}`)
    expect(bytes.length).toBe(51)
    expect(ok(decode(bytes, options))).toEqual(expected)
    expect(toHex(encode(expected, options))).toBe(toHex(bytes))
  })

  it("decodes a GoBGP-style OPEN with one parameter per capability to the same value", () => {
    const body = `${fixed} 1c 02 06 ${mpIpv4} 02 06 ${mpIpv6} 02 02 ${routeRefresh} 02 06 ${fourOctet}`
    expect(ok(decode(message(1, body), options))).toEqual(expected)
  })

  it("takes the ASN from the 4-octet AS capability and sends AS_TRANS when it does not fit", () => {
    const open: Open = { ...expected, asn: 4200000000, capabilities: [{ _tag: "FourOctetAsn", asn: 4200000000 }] }
    const bytes = encode(open, options)
    expect(toHex(bytes.subarray(19))).toBe("04 5ba0 005a c0000201 08 02 06 41 04 fa56ea00".replace(/ /g, ""))
    expect(ok(decode(bytes, options))).toEqual(open)
  })

  it("decodes Graceful Restart (R bit, 12-bit time, F bit per family; other families dropped)", () => {
    // Flags 8 (R) with time 120 (0x078); IPv4 unicast forwarding preserved, IPv6 not, VPNv4 (1/128) dropped.
    const gr = "40 0e 8078 0001 01 80 0002 01 00 0001 80 80"
    const open = ok(decode(message(1, `${fixed} 12 02 10 ${gr}`), options))
    expect(open).toMatchObject({
      capabilities: [{
        _tag: "GracefulRestart",
        restarting: true,
        restartTimeSeconds: 120,
        families: [{ family: "ipv4", forwardingPreserved: true }, { family: "ipv6", forwardingPreserved: false }],
      }],
    })
  })

  it("keeps Multiprotocol for other AFI/SAFI and unknown codes as UnknownCapability", () => {
    const open = ok(decode(message(1, `${fixed} 0c 02 0a 01 04 0001 00 80 46 00 49 00`), options))
    expect(open).toMatchObject({
      capabilities: [
        { _tag: "UnknownCapability", code: 1, value: hex("0001 00 80") },
        { _tag: "UnknownCapability", code: 70, value: new Uint8Array(0) },
        { _tag: "UnknownCapability", code: 73, value: new Uint8Array(0) },
      ],
    })
  })

  it("accepts RFC 9072 extended optional parameters and uses them when capabilities exceed 253 bytes", () => {
    const extended = ok(decode(message(1, `${fixed} ff ff 0005 02 0002 ${routeRefresh}`), options))
    expect(extended).toEqual({ ...expected, capabilities: [{ _tag: "RouteRefresh" }] })
    const big: Open = { ...expected, capabilities: [{ _tag: "UnknownCapability", code: 200, value: new Uint8Array(255) }] }
    const bytes = encode(big, options)
    // Non-Ext OP Len 255, Non-Ext OP Type 255, length 260, Capabilities parameter of 257 bytes.
    expect(toHex(bytes.subarray(28, 37))).toBe(toHex(hex("ff ff 0104 02 0101 c8 ff")))
    expect(ok(decode(bytes, options))).toEqual(big)
  })

  it("rejects an unsupported version with the largest supported version as data", () => {
    expect(openError(`03 fbf5 005a c0000201 00`)).toEqual({ code: 2, subcode: 1, data: "0004" })
  })

  it("rejects AS 0 as Bad Peer AS, in the 2-byte field or the 4-octet capability (RFC 7607)", () => {
    expect(openError(`04 0000 005a c0000201 00`)).toEqual({ code: 2, subcode: 2, data: "" })
    expect(openError(`04 5ba0 005a c0000201 08 02 06 41 04 00000000`)).toEqual({ code: 2, subcode: 2, data: "" })
  })

  it("rejects hold times of 1 and 2 seconds, accepts 0 and 3", () => {
    expect(openError(`04 fbf5 0001 c0000201 00`)).toEqual({ code: 2, subcode: 6, data: "" })
    expect(openError(`04 fbf5 0002 c0000201 00`)).toEqual({ code: 2, subcode: 6, data: "" })
    expect(ok(decode(message(1, `04 fbf5 0000 c0000201 00`), options))).toMatchObject({ holdTimeSeconds: 0 })
    expect(ok(decode(message(1, `04 fbf5 0003 c0000201 00`), options))).toMatchObject({ holdTimeSeconds: 3 })
  })

  it("rejects BGP Identifier 0", () => {
    expect(openError(`04 fbf5 005a 00000000 00`)).toEqual({ code: 2, subcode: 3, data: "" })
  })

  it("decodes and encodes the RFC 8950 Extended Next Hop capability (IPv4 unicast over an IPv6 next hop)", () => {
    // Code 5, length 12: (AFI 1, SAFI 1, next-hop AFI 2) and an entry for a family not spoken here (VPN, SAFI 128).
    const bytes = message(1, `${fixed} 10 02 0e 05 0c 0001 0001 0002 0001 0080 0002`)
    const open: Open = {
      ...expected,
      capabilities: [{ _tag: "ExtendedNextHop", entries: [{ afi: 1, safi: 1, nextHopAfi: 2 }, { afi: 1, safi: 128, nextHopAfi: 2 }] }],
    }
    expect(ok(decode(bytes, options))).toEqual(open)
    expect(toHex(encode(open, options))).toBe(toHex(bytes))
    // An empty list offers nothing but is well formed (FRR accepts it too).
    expect(ok(decode(message(1, `${fixed} 04 02 02 05 00`), options))).toEqual({ ...expected, capabilities: [{ _tag: "ExtendedNextHop", entries: [] }] })
  })

  it("refuses an Extended Next Hop capability whose length is not a multiple of 6", () => {
    expect(openError(`${fixed} 09 02 07 05 05 0001 0001 00`)).toEqual({ code: 2, subcode: 0, data: "" })
    expect(openError(`${fixed} 0a 02 08 05 06 0001 0001 0002 00`).code).toBe(2)
  })

  it("rejects optional parameters other than capabilities (e.g. type 1, authentication)", () => {
    expect(openError(`${fixed} 04 01 02 0000`)).toEqual({ code: 2, subcode: 4, data: "" })
  })

  it("rejects malformed parameters and capabilities as OPEN Message Error / Unspecific", () => {
    expect(openError(`${fixed} 05 02 02 ${routeRefresh}`)).toEqual({ code: 2, subcode: 0, data: "" })
    expect(openError(`${fixed} 04 02 02 02 05`)).toEqual({ code: 2, subcode: 0, data: "" })
    expect(openError(`${fixed} 07 02 05 01 03 0001 00`)).toEqual({ code: 2, subcode: 0, data: "" })
    expect(openError(`${fixed} 03 02 01 02`)).toEqual({ code: 2, subcode: 0, data: "" })
    expect(openError(`${fixed} 05 02 03 41 01 00`)).toEqual({ code: 2, subcode: 0, data: "" })
  })
})
