import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { decodeEchoPacket, type EchoDecodeReason, echoPacketBytes, encodeEchoPacket, type EchoPacket } from "../../../core/bfd/echo-packet.ts"

const reasonOf = (bytes: Uint8Array): EchoDecodeReason | undefined => {
  const result = decodeEchoPacket(bytes)
  return Result.isFailure(result) ? result.failure.reason : undefined
}

const packetArbitrary: fc.Arbitrary<EchoPacket> = fc.record({
  discriminator: fc.integer({ min: 1, max: 0xffffffff }),
  nonce: fc.integer({ min: 0, max: 0xffffffff }),
  sequence: fc.integer({ min: 0, max: 0xffffffff }),
  sentAtUs: fc.oneof(fc.constantFrom(0, Number.MAX_SAFE_INTEGER), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
})

const valid: EchoPacket = { discriminator: 0x0a0b0c0d, nonce: 7, sequence: 42, sentAtUs: 1_234_567_890 }

describe("BFD Echo packet codec (ours: RFC 5880 leaves the contents to the sender)", () => {
  it("lays the fields out as documented: version, length, reserved, discriminator, nonce, sequence, send time", () => {
    expect(Buffer.from(encodeEchoPacket(valid)).toString("hex")).toBe(
      "01180000" + "0a0b0c0d" + "00000007" + "0000002a" + "00000000499602d2",
    )
  })

  it("round-trips every packet, and ignores bytes after the 24 (property)", () => {
    fc.assert(
      fc.property(packetArbitrary, fc.uint8Array({ maxLength: 16 }), (packet, padding) => {
        const bytes = new Uint8Array([...encodeEchoPacket(packet), ...padding])
        expect(decodeEchoPacket(bytes)).toEqual(Result.succeed(packet))
      }),
    )
  })

  it("refuses each malformed packet with its own reason", () => {
    const bytes = encodeEchoPacket(valid)
    const patched = (offset: number, value: number) => {
      const copy = bytes.slice()
      copy[offset] = value
      return copy
    }
    expect(reasonOf(bytes.subarray(0, echoPacketBytes - 1))).toBe("Truncated")
    expect(reasonOf(new Uint8Array())).toBe("Truncated")
    expect(reasonOf(patched(0, 2))).toBe("UnsupportedVersion")
    expect(reasonOf(patched(1, 25))).toBe("BadLength")
    expect(reasonOf(encodeEchoPacket({ ...valid, discriminator: 0 }))).toBe("ZeroDiscriminator")
    expect(reasonOf(patched(16, 0x00).map((b, i) => (i === 17 ? 0x20 : b)))).toBe("TimeOutOfRange")
    // FRR's own echo packet (version 1, length 32 in its format) is someone else's: refused, not misread.
    expect(reasonOf(patched(1, 32))).toBe("BadLength")
  })

  it("clamps a send time outside [0, 2^53) when encoding", () => {
    const decode = (sentAtUs: number) => Result.getOrThrow(decodeEchoPacket(encodeEchoPacket({ ...valid, sentAtUs }))).sentAtUs
    expect(decode(-5)).toBe(0)
    expect(decode(Number.NaN)).toBe(0)
    expect(decode(2 ** 60)).toBe(Number.MAX_SAFE_INTEGER)
  })

  it("never throws on random bytes (fuzz)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const result = decodeEchoPacket(bytes)
        if (Result.isSuccess(result)) expect(encodeEchoPacket(result.success)).toEqual(bytes.subarray(0, echoPacketBytes).map((b, i) => (i === 2 || i === 3 ? 0 : b)))
      }),
      { numRuns: 5_000 },
    )
  })

  it("never throws on mutated valid packets (fuzz)", () => {
    fc.assert(
      fc.property(packetArbitrary, fc.array(fc.tuple(fc.nat(echoPacketBytes - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (packet, mutations) => {
        const bytes = encodeEchoPacket(packet)
        for (const [offset, value] of mutations) bytes[offset] = value
        const result = decodeEchoPacket(bytes)
        if (Result.isFailure(result)) expect(result.failure.message).toMatch(/^BFD Echo packet discarded \(/)
      }),
      { numRuns: 5_000 },
    )
  })
})
