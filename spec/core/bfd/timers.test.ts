import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  advertisedDesiredMinTxUs,
  detectionTimeUs,
  jitteredIntervalUs,
  slowTransmitIntervalUs,
  transmitIntervalUs,
} from "../../../core/bfd/timers.ts"

describe("BFD timers (RFC 5880 §6.8.2–§6.8.4, §6.8.7)", () => {
  it("advertises at least 1 s while not Up and the configured value once Up", () => {
    expect(advertisedDesiredMinTxUs(300_000, false)).toBe(slowTransmitIntervalUs)
    expect(advertisedDesiredMinTxUs(300_000, true)).toBe(300_000)
    expect(advertisedDesiredMinTxUs(2_000_000, false)).toBe(2_000_000)
  })

  it("transmits no faster than the peer's Required Min RX", () => {
    expect(transmitIntervalUs(300_000, 500_000)).toBe(500_000)
    expect(transmitIntervalUs(300_000, 100_000)).toBe(300_000)
    expect(transmitIntervalUs(300_000, 1)).toBe(300_000)
  })

  it("detects after the peer's Detect Mult times the larger of our RX and its TX", () => {
    expect(detectionTimeUs(3, 300_000, 300_000)).toBe(900_000)
    expect(detectionTimeUs(3, 300_000, 1_000_000)).toBe(3_000_000)
    expect(detectionTimeUs(5, 500_000, 100_000)).toBe(2_500_000)
    expect(detectionTimeUs(3, 0, 0)).toBe(1)
  })

  it("jitters between 75% and 100% of the interval, 75% and 90% with Detect Mult 1 (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0xffffffff }),
        fc.integer({ min: 1, max: 255 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (intervalUs, detectMultiplier, fraction) => {
          const us = jitteredIntervalUs(intervalUs, detectMultiplier, fraction)
          expect(Number.isInteger(us)).toBe(true)
          expect(us).toBeGreaterThanOrEqual(Math.ceil(intervalUs * 0.75))
          const ceiling = Math.max(Math.ceil(intervalUs * 0.75), Math.floor(intervalUs * (detectMultiplier === 1 ? 0.9 : 1)))
          expect(us).toBeLessThanOrEqual(ceiling)
        },
      ),
      { numRuns: 2000 },
    )
  })

  it("spans the whole allowed range as the fraction goes from 0 to 1", () => {
    expect(jitteredIntervalUs(300_000, 3, 0)).toBe(300_000)
    expect(jitteredIntervalUs(300_000, 3, 0.999_999_999)).toBe(225_000)
    expect(jitteredIntervalUs(300_000, 1, 0)).toBe(270_000)
    expect(jitteredIntervalUs(300_000, 1, 0.999_999_999)).toBe(225_000)
  })

  it("keeps the interval in range for a fraction outside [0, 1) or NaN", () => {
    for (const fraction of [Number.NaN, -1, 1, 7, Number.POSITIVE_INFINITY]) {
      const us = jitteredIntervalUs(300_000, 3, fraction)
      expect(us).toBeGreaterThanOrEqual(225_000)
      expect(us).toBeLessThanOrEqual(300_000)
    }
  })
})
