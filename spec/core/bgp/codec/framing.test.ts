// Framing and header checks (RFC 4271 §4.1, §6.1): splitting a stream, waiting for partial messages,
// and every header error with its code, subcode and data, both from frame and from decode.
import { describe, expect, it } from "vitest"
import { decode, encode, frame } from "../../../../core/bgp/codec/index.ts"
import { failure, hex, message, ok, toHex } from "./hex.ts"

const options = { fourOctetAsn: true }
const keepalive = message(4, "")
const header = (length: number, type: number): Uint8Array =>
  Uint8Array.from([...new Array<number>(16).fill(0xff), length >> 8, length & 0xff, type])
const padded = (length: number, type: number): Uint8Array => {
  const bytes = new Uint8Array(length)
  bytes.set(header(length, type))
  return bytes
}

const headerError = (bytes: Uint8Array) => {
  const framed = failure(frame(bytes))
  const decoded = failure(decode(bytes, options))
  const fromFrame = { code: framed.code, subcode: framed.subcode, data: toHex(framed.data) }
  expect(decoded._tag).toBe("BgpDecodeError")
  if (decoded._tag === "BgpDecodeError") expect({ code: decoded.code, subcode: decoded.subcode, data: toHex(decoded.data) }).toEqual(fromFrame)
  return fromFrame
}

describe("frame", () => {
  it("splits whole messages and keeps the incomplete tail", () => {
    const open = message(1, "04 fbf5 005a c0000201 00")
    const stream = Uint8Array.from([...keepalive, ...open, ...keepalive.subarray(0, 10)])
    const framed = ok(frame(stream))
    expect(framed.messages.map(toHex)).toEqual([toHex(keepalive), toHex(open)])
    expect(toHex(framed.rest)).toBe(toHex(keepalive.subarray(0, 10)))
  })

  it("waits for a header and for the announced length", () => {
    expect(ok(frame(keepalive.subarray(0, 18)))).toEqual({ messages: [], rest: keepalive.subarray(0, 18) })
    const open = message(1, "04 fbf5 005a c0000201 00")
    expect(ok(frame(open.subarray(0, 20))).messages).toEqual([])
  })

  it("returns the messages before a bad header with the error", () => {
    const bad = Uint8Array.from([...keepalive, ...keepalive])
    bad[19 + 3] = 0
    const error = failure(frame(bad))
    expect(error.messages.map(toHex)).toEqual([toHex(keepalive)])
    expect([error.code, error.subcode]).toEqual([1, 1])
  })

  it("returns copies, not views of the caller's buffer", () => {
    const stream = keepalive.slice()
    const framed = ok(frame(stream))
    stream.fill(0)
    expect(toHex(framed.messages[0] ?? new Uint8Array())).toBe(toHex(keepalive))
  })
})

describe("header errors", () => {
  it("a marker that is not all ones: Connection Not Synchronized, no data", () => {
    const bad = keepalive.slice()
    bad[7] = 0xfe
    expect(headerError(bad)).toEqual({ code: 1, subcode: 1, data: "" })
  })

  it("a length outside 19..4096: Bad Message Length with the length field", () => {
    expect(headerError(header(18, 4))).toEqual({ code: 1, subcode: 2, data: "0012" })
    expect(headerError(header(4097, 2))).toEqual({ code: 1, subcode: 2, data: "1001" })
    expect(headerError(header(0, 4))).toEqual({ code: 1, subcode: 2, data: "0000" })
  })

  it("an unknown type: Bad Message Type with the type byte", () => {
    for (const type of [0, 6, 255]) expect(headerError(padded(19, type))).toEqual({ code: 1, subcode: 3, data: toHex(Uint8Array.of(type)) })
  })

  it("a message shorter than its type allows: Bad Message Length", () => {
    expect(headerError(padded(28, 1))).toEqual({ code: 1, subcode: 2, data: "001c" })
    expect(headerError(padded(22, 2))).toEqual({ code: 1, subcode: 2, data: "0016" })
    expect(headerError(padded(20, 3))).toEqual({ code: 1, subcode: 2, data: "0014" })
    expect(headerError(padded(22, 5))).toEqual({ code: 1, subcode: 2, data: "0016" })
  })

  it("a KEEPALIVE of any length but 19: Bad Message Length", () => {
    expect(headerError(padded(20, 4))).toEqual({ code: 1, subcode: 2, data: "0014" })
    expect(headerError(padded(4096, 4))).toEqual({ code: 1, subcode: 2, data: "1000" })
  })

  it("decode wants exactly one message: the length field must match the bytes given", () => {
    const error = failure(decode(Uint8Array.from([...keepalive, 0]), options))
    expect(error).toMatchObject({ _tag: "BgpDecodeError", code: 1, subcode: 2, data: hex("0013") })
    expect(failure(decode(keepalive.subarray(0, 10), options))).toMatchObject({ code: 1, subcode: 2 })
  })

  it("a KEEPALIVE encodes as a bare header", () => {
    expect(toHex(encode({ _tag: "Keepalive" }, options))).toBe(`${"ff".repeat(16)}001304`)
  })
})
