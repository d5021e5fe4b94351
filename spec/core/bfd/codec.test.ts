import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type BfdDecodeReason, decodeControlPacket, encodeControlPacket } from "../../../core/bfd/codec.ts"
import {
  BfdAuthType,
  BfdDiagnostic,
  type BfdState,
  bfdStates,
  type ControlPacket,
  diagnosticName,
  maxAuthDataBytes,
} from "../../../core/bfd/packet.ts"

const ok = (bytes: Uint8Array): ControlPacket => {
  const result = decodeControlPacket(bytes)
  if (Result.isFailure(result)) throw new Error(`expected success, got ${result.failure.message}`)
  return result.success
}

const reasonOf = (bytes: Uint8Array): BfdDecodeReason | undefined => {
  const result = decodeControlPacket(bytes)
  return Result.isFailure(result) ? result.failure.reason : undefined
}

const hex = (text: string): Uint8Array => Uint8Array.from(text.replace(/\s+/g, "").match(/../g) ?? [], (h) => parseInt(h, 16))

const base: ControlPacket = {
  diagnostic: 0,
  state: "Up",
  poll: false,
  final: false,
  controlPlaneIndependent: false,
  demand: false,
  detectMultiplier: 3,
  myDiscriminator: 1,
  yourDiscriminator: 2,
  desiredMinTxIntervalUs: 300_000,
  requiredMinRxIntervalUs: 300_000,
  requiredMinEchoRxIntervalUs: 0,
}

/** The encoding of `base` with one byte changed. */
const patched = (offset: number, value: number, packet: ControlPacket = base): Uint8Array => {
  const bytes = encodeControlPacket(packet)
  bytes[offset] = value
  return bytes
}

const u32 = fc.integer({ min: 0, max: 0xffffffff })

const packetArbitrary: fc.Arbitrary<ControlPacket> = fc.constantFrom(...bfdStates).chain((state: BfdState) =>
  fc.record({
    diagnostic: fc.integer({ min: 0, max: 31 }),
    state: fc.constant(state),
    poll: fc.boolean(),
    final: fc.boolean(),
    controlPlaneIndependent: fc.boolean(),
    demand: fc.boolean(),
    detectMultiplier: fc.integer({ min: 1, max: 255 }),
    myDiscriminator: fc.integer({ min: 1, max: 0xffffffff }),
    yourDiscriminator: state === "Down" || state === "AdminDown" ? u32 : fc.integer({ min: 1, max: 0xffffffff }),
    desiredMinTxIntervalUs: u32,
    requiredMinRxIntervalUs: u32,
    requiredMinEchoRxIntervalUs: u32,
    authentication: fc.option(
      fc.record({ type: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: maxAuthDataBytes }) }),
      { nil: undefined },
    ),
  }).map(({ authentication, ...rest }): ControlPacket => ({ ...rest, ...(authentication === undefined ? {} : { authentication }) }))
)

const reasons: ReadonlyArray<BfdDecodeReason> = [
  "Truncated",
  "UnsupportedVersion",
  "LengthTooSmall",
  "LengthExceedsPayload",
  "ZeroDetectMultiplier",
  "MultipointSet",
  "ZeroMyDiscriminator",
  "ZeroYourDiscriminator",
  "BadAuthenticationLength",
]

/** Decoding never throws; a failure is a typed error, a success re-encodes to a packet that decodes the same. */
const expectTotal = (bytes: Uint8Array): void => {
  const result = decodeControlPacket(bytes)
  if (Result.isFailure(result)) {
    expect(result.failure._tag).toBe("BfdDecodeError")
    expect(reasons).toContain(result.failure.reason)
  } else {
    expect(ok(encodeControlPacket(result.success))).toEqual(result.success)
  }
}

describe("BFD Control packet codec (RFC 5880 §4.1)", () => {
  it("decodes a hand-assembled Up packet field by field", () => {
    // Vers 1 Diag 0 | Sta Up, no flags | Detect Mult 3 | Length 24 | My 1 | Your 2 | 300 ms, 300 ms, echo 0
    const bytes = hex("20 c0 03 18  00000001  00000002  000493e0  000493e0  00000000")
    expect(ok(bytes)).toEqual(base)
    expect(encodeControlPacket(base)).toEqual(bytes)
  })

  it("places every flag, the diagnostic and the state where §4.1 puts them", () => {
    const packet: ControlPacket = {
      ...base,
      diagnostic: BfdDiagnostic.NeighborSignaledSessionDown,
      state: "Init",
      poll: true,
      controlPlaneIndependent: true,
      demand: true,
    }
    const bytes = encodeControlPacket(packet)
    expect(bytes[0]).toBe(0b001_00011)
    expect(bytes[1]).toBe(0b10_1_0_1_0_1_0)
    expect(ok(encodeControlPacket({ ...base, final: true }))).toMatchObject({ final: true, poll: false })
    expect(encodeControlPacket({ ...base, final: true })[1]).toBe(0b11_0_1_0_0_0_0)
    expect(ok(bytes)).toEqual(packet)
  })

  it("names every diagnostic code of §4.1 and keeps reserved codes as numbers", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map(diagnosticName)).toEqual([
      "NoDiagnostic",
      "ControlDetectionTimeExpired",
      "EchoFunctionFailed",
      "NeighborSignaledSessionDown",
      "ForwardingPlaneReset",
      "PathDown",
      "ConcatenatedPathDown",
      "AdministrativelyDown",
      "ReverseConcatenatedPathDown",
    ])
    expect(diagnosticName(9)).toBe("Reserved(9)")
    expect(ok(patched(0, 0x20 | 31)).diagnostic).toBe(31)
  })

  it("decodes the states in wire order: AdminDown 0, Down 1, Init 2, Up 3", () => {
    bfdStates.forEach((state, code) => {
      expect(ok(patched(1, code << 6)).state).toBe(state)
    })
  })

  it("decodes an authentication section into its type and raw bytes (A bit, Auth Len)", () => {
    // Simple Password: Auth Key ID 5, password "secret" — Auth Len 2 + 1 + 6 = 9, Length 33.
    const data = Uint8Array.of(5, ...new TextEncoder().encode("secret"))
    const packet: ControlPacket = { ...base, authentication: { type: BfdAuthType.SimplePassword, data } }
    const bytes = encodeControlPacket(packet)
    expect(bytes.length).toBe(33)
    expect(bytes[1]! & 0x04).toBe(0x04)
    expect([bytes[3], bytes[24], bytes[25]]).toEqual([33, 1, 9])
    expect(ok(bytes)).toEqual(packet)
  })

  it("ignores bytes after Length (padding) and inside Length after the sections", () => {
    const padded = Uint8Array.of(...encodeControlPacket(base), 0xde, 0xad)
    expect(ok(padded)).toEqual(base)
    const longer = Uint8Array.of(...encodeControlPacket(base), 0xde, 0xad)
    longer[3] = 26
    expect(ok(longer)).toEqual(base)
  })

  describe("reception checks of §6.8.6 about the packet itself", () => {
    it("refuses fewer bytes than the header needs to be read", () => {
      expect(reasonOf(new Uint8Array(0))).toBe("Truncated")
      expect(reasonOf(encodeControlPacket(base).subarray(0, 3))).toBe("Truncated")
    })

    it("refuses a version other than 1", () => {
      expect(reasonOf(patched(0, 0x00))).toBe("UnsupportedVersion")
      expect(reasonOf(patched(0, 0x40))).toBe("UnsupportedVersion")
      expect(reasonOf(patched(0, 0xe0))).toBe("UnsupportedVersion")
    })

    it("refuses a Length below 24, or below 26 with the A bit", () => {
      expect(reasonOf(patched(3, 23))).toBe("LengthTooSmall")
      expect(reasonOf(patched(3, 0))).toBe("LengthTooSmall")
      const authenticated = Uint8Array.of(...encodeControlPacket(base), 1, 2)
      authenticated[1] = authenticated[1]! | 0x04
      authenticated[3] = 25
      expect(reasonOf(authenticated)).toBe("LengthTooSmall")
      authenticated[3] = 26
      expect(ok(authenticated).authentication).toEqual({ type: 1, data: new Uint8Array(0) })
    })

    it("refuses a Length beyond the bytes received", () => {
      expect(reasonOf(patched(3, 25))).toBe("LengthExceedsPayload")
      expect(reasonOf(encodeControlPacket(base).subarray(0, 23))).toBe("LengthExceedsPayload")
    })

    it("refuses a zero Detect Mult", () => {
      expect(reasonOf(patched(2, 0))).toBe("ZeroDetectMultiplier")
    })

    it("refuses the Multipoint bit", () => {
      expect(reasonOf(patched(1, 0xc0 | 0x01))).toBe("MultipointSet")
    })

    it("refuses a zero My Discriminator", () => {
      expect(reasonOf(encodeControlPacket({ ...base, myDiscriminator: 0 }))).toBe("ZeroMyDiscriminator")
    })

    it("allows a zero Your Discriminator only in Down and AdminDown", () => {
      for (const state of ["Init", "Up"] as const) {
        expect(reasonOf(encodeControlPacket({ ...base, state, yourDiscriminator: 0 }))).toBe("ZeroYourDiscriminator")
      }
      for (const state of ["Down", "AdminDown"] as const) {
        expect(ok(encodeControlPacket({ ...base, state, yourDiscriminator: 0 })).yourDiscriminator).toBe(0)
      }
    })

    it("refuses an Auth Len that is below 2 or reaches past Length", () => {
      const bytes = encodeControlPacket({ ...base, authentication: { type: 2, data: new Uint8Array(22) } })
      expect(ok(bytes).authentication?.data.length).toBe(22)
      expect(reasonOf(patched(25, 25, { ...base, authentication: { type: 2, data: new Uint8Array(22) } }))).toBe("BadAuthenticationLength")
      expect(reasonOf(patched(25, 1, { ...base, authentication: { type: 2, data: new Uint8Array(22) } }))).toBe("BadAuthenticationLength")
    })

    it("applies the checks in the RFC's order (first failing check is reported)", () => {
      const bytes = encodeControlPacket({ ...base, myDiscriminator: 0, detectMultiplier: 0 })
      expect(reasonOf(bytes)).toBe("ZeroDetectMultiplier")
      bytes[0] = 0x40
      expect(reasonOf(bytes)).toBe("UnsupportedVersion")
    })
  })

  it("cuts an authentication section too long for the one-octet Length", () => {
    const packet: ControlPacket = { ...base, authentication: { type: 1, data: new Uint8Array(300).fill(7) } }
    const bytes = encodeControlPacket(packet)
    expect(bytes.length).toBe(255)
    expect(ok(bytes).authentication?.data).toEqual(new Uint8Array(maxAuthDataBytes).fill(7))
  })

  it("round-trips every valid packet (property)", () => {
    fc.assert(
      fc.property(packetArbitrary, (packet) => {
        expect(ok(encodeControlPacket(packet))).toEqual(packet)
      }),
      { numRuns: 2000 },
    )
  })

  it("never throws on random bytes (fuzz)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, plausible) => {
        // Half the inputs get version 1 and a Length that fits, so the later checks see random data too.
        if (plausible && bytes.length >= 4) {
          bytes[0] = 0x20 | (bytes[0]! & 0x1f)
          bytes[3] = bytes[3]! % (bytes.length + 1)
        }
        expectTotal(bytes)
      }),
      { numRuns: 30_000 },
    )
  })

  it("never throws on mutated valid packets (fuzz)", () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), offset: fc.nat(300), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant("truncate" as const), offset: fc.nat(300), value: fc.constant(0) }),
      fc.record({ kind: fc.constant("append" as const), offset: fc.nat(8), value: fc.integer({ min: 0, max: 255 }) }),
    )
    fc.assert(
      fc.property(packetArbitrary, fc.array(mutation, { minLength: 1, maxLength: 4 }), (packet, mutations) => {
        let bytes = encodeControlPacket(packet)
        for (const { kind, offset, value } of mutations) {
          if (kind === "set") {
            if (bytes.length > 0) bytes[offset % bytes.length] = value
          } else if (kind === "truncate") {
            bytes = bytes.subarray(0, offset % (bytes.length + 1))
          } else {
            bytes = Uint8Array.of(...bytes, ...new Uint8Array(offset).fill(value))
          }
        }
        expectTotal(bytes)
      }),
      { numRuns: 30_000 },
    )
  })

  it("decodes from a view into a larger buffer (byteOffset respected)", () => {
    const buffer = new Uint8Array(64)
    buffer.set(encodeControlPacket(base), 10)
    expect(ok(buffer.subarray(10, 34))).toEqual(base)
  })
})
