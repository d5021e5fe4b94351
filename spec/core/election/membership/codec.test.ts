import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { decodeMessage, encodeMessage, MembershipDecodeError, updateSize } from "../../../../core/election/membership/codec.ts"
import type { Message, Update } from "../../../../core/election/membership/messages.ts"
import { canonicalDownInterfaces, maxDownInterfaces } from "../../../../core/election/membership/metadata.ts"

// Up to 60 code points of at most 4 UTF-8 octets each stays within the 255-octet string limit.
const text = fc.string({ unit: "binary", maxLength: 60 })
const u32 = fc.integer({ min: 0, max: 0xffff_ffff })
// Interface names: 1-15 UTF-8 octets (up to 3 code points of at most 4 octets, or short ASCII names).
const interfaceName = fc.oneof(fc.string({ unit: "binary", minLength: 1, maxLength: 3 }), fc.stringMatching(/^[a-z][a-z0-9.]{0,14}$/))
const downInterfaces = fc.uniqueArray(interfaceName, { minLength: 1, maxLength: maxDownInterfaces }).map(canonicalDownInterfaces)

const arbUpdate: fc.Arbitrary<Update> = fc.oneof(
  fc.record({ _tag: fc.constant("Alive" as const), name: text, incarnation: u32, address: text }),
  fc.record({ _tag: fc.constant("Alive" as const), name: text, incarnation: u32, address: text, downInterfaces }),
  fc.record({ _tag: fc.constant("Suspect" as const), name: text, incarnation: u32 }),
  fc.record({ _tag: fc.constant("Dead" as const), name: text, incarnation: u32 }),
  fc.record({ _tag: fc.constant("Left" as const), name: text, incarnation: u32 }),
)
const gossip = fc.array(arbUpdate, { maxLength: 8 })

const arbMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ _tag: fc.constant("Ping" as const), seq: u32, from: text, target: text, gossip }),
  fc.record({ _tag: fc.constant("Ack" as const), seq: u32, from: text, gossip }),
  fc.record({ _tag: fc.constant("PingReq" as const), seq: u32, from: text, target: text, targetAddress: text, gossip }),
  fc.record({ _tag: fc.constant("Gossip" as const), from: text, gossip }),
  fc.record({ _tag: fc.constant("Sync" as const), from: text, reply: fc.boolean(), members: fc.array(arbUpdate, { maxLength: 20 }) }),
)

const bytes = (...parts: ReadonlyArray<number | string>): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === "number" ? [p] : [p.length, ...new TextEncoder().encode(p)])))

const problemOf = (input: Uint8Array) => {
  const r = decodeMessage(input)
  return Result.isFailure(r) ? { problem: r.failure.problem, offset: r.failure.offset } : "decoded"
}

describe("membership codec", () => {
  it("lays a Ping out as version, type, seq, names and gossip", () => {
    const ping: Message = {
      _tag: "Ping",
      seq: 0x01020304,
      from: "a",
      target: "bc",
      gossip: [{ _tag: "Alive", name: "d", incarnation: 7, address: "1.2.3.4:7946" }, { _tag: "Suspect", name: "e", incarnation: 256 }],
    }
    const expected = bytes(1, 1, 1, 2, 3, 4, "a", "bc", 2, 1, 0, 0, 0, 7, "d", "1.2.3.4:7946", 2, 0, 0, 1, 0, "e")
    expect(encodeMessage(ping)).toEqual(expected)
    expect(decodeMessage(expected)).toEqual(Result.succeed(ping))
    expect(updateSize(ping.gossip[0]!) + updateSize(ping.gossip[1]!)).toBe(expected.length - 12)
    const sync: Message = { _tag: "Sync", from: "a", reply: true, members: [{ _tag: "Left", name: "z", incarnation: 1 }] }
    expect(encodeMessage(sync)).toEqual(bytes(1, 5, 1, "a", 0, 1, 4, 0, 0, 0, 1, "z"))
  })

  it("carries an Alive's down interfaces as kind 5, and an Alive without any as kind 1", () => {
    const gossip = (u: Update): Message => ({ _tag: "Gossip", from: "a", gossip: [u] })
    const withMetadata: Update = { _tag: "Alive", name: "n", incarnation: 2, address: "h", downInterfaces: ["eth1", "eth2"] }
    const expected = bytes(1, 4, "a", 1, 5, 0, 0, 0, 2, "n", "h", 2, "eth1", "eth2")
    expect(encodeMessage(gossip(withMetadata))).toEqual(expected)
    expect(decodeMessage(expected)).toEqual(Result.succeed(gossip(withMetadata)))
    expect(updateSize(withMetadata)).toBe(expected.length - 5)
    const plain: Update = { _tag: "Alive", name: "n", incarnation: 2, address: "h" }
    expect(encodeMessage(gossip({ ...plain, downInterfaces: [] }))).toEqual(encodeMessage(gossip(plain)))
    // The encoder writes the canonical form: sorted, no repeats, names that fit, at most 16.
    const messy: Update = { ...plain, downInterfaces: ["eth2", "eth1", "eth2", "", "x".repeat(16)] }
    expect(decodeMessage(encodeMessage(gossip(messy)))).toEqual(Result.succeed(gossip({ ...plain, downInterfaces: ["eth1", "eth2"] })))
    const many: Update = { ...plain, downInterfaces: Array.from({ length: 40 }, (_, i) => `if${String(i).padStart(2, "0")}`) }
    const decoded = decodeMessage(encodeMessage(gossip(many)))
    expect(Result.isSuccess(decoded) && decoded.success._tag === "Gossip" && decoded.success.gossip[0]).toMatchObject({ downInterfaces: many.downInterfaces!.slice(0, 16) })
  })

  it("refuses metadata that is empty, too long, unsorted or repeated", () => {
    const head = [1, 4, "a", 1, 5, 0, 0, 0, 2, "n", "h"] as const
    expect(problemOf(bytes(...head, 0))).toEqual({ problem: "InvalidMetadata", offset: 14 })
    expect(problemOf(bytes(...head, 2, "eth2", "eth1"))).toEqual({ problem: "InvalidMetadata", offset: 14 })
    expect(problemOf(bytes(...head, 2, "eth1", "eth1"))).toEqual({ problem: "InvalidMetadata", offset: 14 })
    expect(problemOf(bytes(...head, 1, ""))).toEqual({ problem: "InvalidMetadata", offset: 14 })
    expect(problemOf(bytes(...head, 1, "x".repeat(16)))).toEqual({ problem: "InvalidMetadata", offset: 14 })
    expect(problemOf(bytes(...head, 17, ...Array.from({ length: 17 }, (_, i) => `i${String(i).padStart(2, "0")}`)))).toEqual({ problem: "InvalidMetadata", offset: 14 })
    expect(problemOf(bytes(...head, 2, "eth1"))).toEqual({ problem: "Truncated", offset: 20 })
  })

  it("names what is wrong with a malformed datagram", () => {
    expect(problemOf(new Uint8Array())).toEqual({ problem: "Truncated", offset: 0 })
    expect(problemOf(bytes(2, 1))).toEqual({ problem: "UnsupportedVersion", offset: 0 })
    expect(problemOf(bytes(1, 9))).toEqual({ problem: "UnknownType", offset: 1 })
    expect(problemOf(bytes(1, 4, "a", 0, 0))).toEqual({ problem: "TrailingBytes", offset: 5 })
    expect(problemOf(bytes(1, 4, "a", 1, 7, 0, 0, 0, 0, "x"))).toEqual({ problem: "UnknownUpdateKind", offset: 5 })
    expect(problemOf(bytes(1, 5, 2, "a", 0, 0))).toEqual({ problem: "InvalidFlags", offset: 2 })
    expect(problemOf(bytes(1, 4, 2, 0xc3, 0x28, 0))).toEqual({ problem: "InvalidUtf8", offset: 3 })
    expect(problemOf(bytes(1, 2, 0, 0, 0))).toEqual({ problem: "Truncated", offset: 5 })
    expect(Result.isFailure(decodeMessage(bytes(1, 4, 5, 0x61)))).toBe(true)
    const failure = decodeMessage(new Uint8Array([7]))
    expect(Result.isFailure(failure) && failure.failure).toBeInstanceOf(MembershipDecodeError)
  })

  it("keeps a leading byte-order mark and cuts overlong strings at a character boundary", () => {
    const bom: Message = { _tag: "Gossip", from: "\uFEFFnode", gossip: [] }
    expect(decodeMessage(encodeMessage(bom))).toEqual(Result.succeed(bom))
    const long: Message = { _tag: "Gossip", from: "é".repeat(200), gossip: [] }
    const decoded = decodeMessage(encodeMessage(long))
    expect(Result.isSuccess(decoded) && decoded.success).toEqual({ _tag: "Gossip", from: "é".repeat(127), gossip: [] })
  })

  it("decodes what it encodes (round-trip property)", () => {
    fc.assert(
      fc.property(arbMessage, (message) => {
        expect(decodeMessage(encodeMessage(message))).toEqual(Result.succeed(message))
      }),
      { numRuns: 20_000 },
    )
  })

  it("never throws on random or mutated bytes, and whatever decodes re-encodes to the same bytes (fuzz)", () => {
    const mutated = fc
      .tuple(arbMessage, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.integer({ min: -3, max: 3 }))
      .map(([message, edits, resize]) => {
        const encoded = [...encodeMessage(message)]
        for (const [at, value] of edits) encoded[at % encoded.length] = value
        if (resize < 0) encoded.length = Math.max(0, encoded.length + resize)
        else for (let i = 0; i < resize; i++) encoded.push(resize * 37 + i)
        return Uint8Array.from(encoded)
      })
    let decoded = 0
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated), (input) => {
        const result = decodeMessage(input)
        if (Result.isSuccess(result)) {
          decoded++
          expect(encodeMessage(result.success)).toEqual(input)
        } else {
          expect(result.failure).toBeInstanceOf(MembershipDecodeError)
        }
      }),
      { numRuns: 50_000 },
    )
    // Mutations that stay well-formed are decoded too, so the canonical-encoding check is exercised.
    expect(decoded).toBeGreaterThan(30)
  })
})
