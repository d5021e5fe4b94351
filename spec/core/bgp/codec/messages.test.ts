// NOTIFICATION, KEEPALIVE and ROUTE-REFRESH examples (RFC 4271 §4.4-4.5, RFC 2918, RFC 7313), and
// notificationFor: the NOTIFICATION an error asks for, with data cut to what a message can carry.
import { describe, expect, it } from "vitest"
import { BgpDecodeError, decode, encode, maxNotificationDataLength, notificationFor } from "../../../../core/bgp/codec/index.ts"
import { failure, hex, message, ok, toHex } from "./hex.ts"

const options = { fourOctetAsn: true }

describe("NOTIFICATION", () => {
  it("encodes and decodes Cease / Administrative Shutdown with an RFC 8203 message", () => {
    const bytes = message(3, "06 02 05 626f6f6f21")
    const value = { _tag: "Notification", code: 6, subcode: 2, data: hex("05 626f6f6f21") } as const
    expect(toHex(encode(value, options))).toBe(toHex(bytes))
    expect(ok(decode(bytes, options))).toEqual(value)
  })

  it("accepts codes this speaker does not know (RFC 4271 §6.4: never answer a NOTIFICATION)", () => {
    expect(ok(decode(message(3, "63 63"), options))).toEqual({ _tag: "Notification", code: 99, subcode: 99, data: new Uint8Array(0) })
  })

  it("notificationFor carries the error's code, subcode and data, cut to fit 4096 bytes", () => {
    const small = new BgpDecodeError({ code: 3, subcode: 2, data: hex("40630100"), reason: "x" })
    expect(notificationFor(small)).toEqual({ _tag: "Notification", code: 3, subcode: 2, data: hex("40630100") })
    const large = new BgpDecodeError({ code: 7, subcode: 1, data: new Uint8Array(4096), reason: "x" })
    const notification = notificationFor(large)
    expect(notification.data.length).toBe(maxNotificationDataLength)
    expect(encode(notification, options).length).toBe(4096)
  })
})

describe("ROUTE-REFRESH", () => {
  it("encodes and decodes IPv4 and IPv6 unicast requests, with the RFC 7313 subtype", () => {
    expect(toHex(encode({ _tag: "RouteRefresh", family: "ipv4", subtype: 0 }, options))).toBe(toHex(message(5, "0001 00 01")))
    expect(ok(decode(message(5, "0002 01 01"), options))).toEqual({ _tag: "RouteRefresh", family: "ipv6", subtype: 1 })
  })

  it("a length other than 23 is Invalid Message Length with the whole message as data", () => {
    const bytes = message(5, "0001 00 01 00")
    expect(failure(decode(bytes, options))).toMatchObject({ _tag: "BgpDecodeError", code: 7, subcode: 1, data: bytes })
  })

  it("ignores requests for other families and for undefined subtypes", () => {
    expect(failure(decode(message(5, "0001 00 80"), options))._tag).toBe("BgpIgnoredMessage")
    expect(failure(decode(message(5, "0019 00 46"), options))._tag).toBe("BgpIgnoredMessage")
    expect(failure(decode(message(5, "0001 03 01"), options))._tag).toBe("BgpIgnoredMessage")
  })
})
