// Round-trip properties: every valid message encodes to bytes that decode to the same value, for both
// 2-octet and 4-octet AS sessions, and frame() finds exactly the encoded messages in a stream of them.
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { decode, decodeUpdate, encode, encodedLength, frame } from "../../../../core/bgp/codec/index.ts"
import { maxMessageLength, type Message } from "../../../../core/bgp/messages.ts"
import { keepaliveArb, messageArb, notificationArb, openArb, routeRefreshArb, updateArb } from "./arbitraries.ts"

const runs = 1000

const roundTrips = (message: Message, fourOctetAsn: boolean): void => {
  const bytes = encode(message, { fourOctetAsn })
  expect(bytes.length).toBe(encodedLength(message, { fourOctetAsn }))
  expect(bytes.length).toBeLessThanOrEqual(maxMessageLength)
  const decoded = decode(bytes, { fourOctetAsn })
  if (Result.isFailure(decoded)) throw new Error(`decode failed: ${decoded.failure.message}`)
  expect(decoded.success).toEqual(message)
}

describe("round trip: decode(encode(m)) = m", () => {
  it("OPEN", () => {
    fc.assert(fc.property(openArb, (open) => {
      roundTrips(open, true)
    }), { numRuns: runs })
  })

  it("UPDATE on a 4-octet AS session", () => {
    fc.assert(fc.property(updateArb, (update) => {
      roundTrips(update, true)
    }), { numRuns: runs })
  })

  it("UPDATE on a 2-octet AS session (AS_TRANS and AS4_PATH rebuilt into the same path)", () => {
    fc.assert(fc.property(updateArb, (update) => {
      roundTrips(update, false)
    }), { numRuns: runs })
  })

  it("UPDATE through decodeUpdate is the Update outcome with nothing discarded", () => {
    fc.assert(fc.property(updateArb, fc.boolean(), (update, fourOctetAsn) => {
      const outcome = decodeUpdate(encode(update, { fourOctetAsn }), { fourOctetAsn })
      expect(Result.isSuccess(outcome) && outcome.success).toEqual({ _tag: "Update", update, discarded: [] })
    }), { numRuns: runs })
  })

  it("NOTIFICATION", () => {
    fc.assert(fc.property(notificationArb, (notification) => {
      roundTrips(notification, true)
    }), { numRuns: runs })
  })

  it("KEEPALIVE", () => {
    fc.assert(fc.property(keepaliveArb, (keepalive) => {
      roundTrips(keepalive, false)
    }), { numRuns: runs })
  })

  it("ROUTE-REFRESH", () => {
    fc.assert(fc.property(routeRefreshArb, (refresh) => {
      roundTrips(refresh, true)
    }), { numRuns: runs })
  })

  it("frame splits any concatenation of messages, cut anywhere, into the same messages", () => {
    fc.assert(fc.property(fc.array(messageArb, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 5 }), (messages, cuts) => {
      const encoded = messages.map((m) => encode(m, { fourOctetAsn: true }))
      const stream = new Uint8Array(encoded.reduce((n, m) => n + m.length, 0))
      encoded.reduce((offset, m) => (stream.set(m, offset), offset + m.length), 0)
      const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)
      const received: Array<Uint8Array> = []
      let buffered: Uint8Array = new Uint8Array(0)
      for (const [start, end] of [0, ...points].map((p, i, all) => [p, all[i + 1] ?? stream.length] as const)) {
        const chunk = stream.subarray(start, end)
        const joined = new Uint8Array(buffered.length + chunk.length)
        joined.set(buffered)
        joined.set(chunk, buffered.length)
        const framed = frame(joined)
        if (Result.isFailure(framed)) throw new Error(framed.failure.message)
        received.push(...framed.success.messages)
        buffered = framed.success.rest
      }
      expect(received).toEqual(encoded)
      expect(buffered.length).toBe(0)
    }), { numRuns: runs })
  })
})
