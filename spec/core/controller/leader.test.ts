import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { decide, type LeaderState, leaderTimings, type LeaseRecord, nextRoundInMs } from "../../../core/controller/leader.ts"

const a = { identity: "a", leaseDurationSeconds: 15 }
const b = { identity: "b", leaseDurationSeconds: 15 }

describe("leader election", () => {
  it("creates a missing lease, renews its own, follows a live holder, takes over an expired one", () => {
    expect(decide({}, undefined, 0, "t0", a).decision).toMatchObject({ _tag: "Create", record: { holder: "a", transitions: 0 } })
    const held: LeaseRecord = { holder: "a", renewTime: "t0", leaseDurationSeconds: 15, transitions: 0 }
    expect(decide({}, held, 0, "t1", a).decision).toMatchObject({ _tag: "Renew", record: { holder: "a", renewTime: "t1" } })
    const first = decide({}, held, 1_000, "x", b)
    expect(first.decision).toMatchObject({ _tag: "Follow", holder: "a", expiresInMs: 15_000 })
    // The holder renews: the record changes, so the clock restarts.
    const renewed = decide(first.state, { ...held, renewTime: "t2" }, 10_000, "x", b)
    expect(renewed.decision).toMatchObject({ _tag: "Follow", expiresInMs: 15_000 })
    // Silence for the lease duration: take over, one more transition.
    expect(decide(renewed.state, { ...held, renewTime: "t2" }, 25_000, "x", b).decision).toMatchObject({ _tag: "Acquire", record: { holder: "b", transitions: 1 } })
  })

  it("never takes a lease over from a holder that renewed within the lease duration (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ who: fc.constantFrom("a", "b", "c"), advanceMs: fc.nat(6_000), writeLost: fc.boolean() }), { maxLength: 60 }), (steps) => {
        // A simulated API server: the Lease, and when it was last written (the holder's last renewal).
        let lease: LeaseRecord | undefined
        let lastWriteMs = 0
        let nowMs = 0
        let tick = 0
        const states = new Map<string, LeaderState>()
        for (const s of steps) {
          nowMs += s.advanceMs
          const { state, decision } = decide(states.get(s.who) ?? {}, lease, nowMs, `t${tick++}`, { identity: s.who, leaseDurationSeconds: 15 })
          states.set(s.who, state)
          if (decision._tag === "Follow" || s.writeLost) continue
          if (decision._tag === "Acquire" && lease?.holder !== undefined) {
            expect(nowMs - lastWriteMs, `${s.who} took the lease from ${lease.holder} early`).toBeGreaterThanOrEqual(15_000)
            expect(decision.record.transitions).toBe(lease.transitions + 1)
          }
          lease = decision.record
          lastWriteMs = nowMs
        }
      }),
      { numRuns: 1000 },
    )
  })
})

describe("leader election timings", () => {
  it("at the default 15 s lease: renew every 5 s while renewals succeed, retry every ~2.1 s otherwise, stop leading after 10 s without one", () => {
    const timings = leaderTimings(15)
    expect(timings).toEqual({ renewDeadlineMs: 10_000, retryPeriodMs: 2_143, renewIntervalMs: 5_000 })
    expect(nextRoundInMs(timings, true)).toBe(5_000)
    expect(nextRoundInMs(timings, false)).toBe(2_143)
  })

  it("a leader whose renewal fails gets two more tries before its renew deadline, and never renews more often than it retries (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 4, max: 3_600 }), (leaseDurationSeconds) => {
        const timings = leaderTimings(leaseDurationSeconds)
        const renewedMs = nextRoundInMs(timings, true)
        expect(renewedMs).toBeGreaterThanOrEqual(timings.retryPeriodMs)
        // Last success at 0; the next renewal at renewedMs fails, and two retries follow before the deadline.
        expect(renewedMs + 2 * timings.retryPeriodMs).toBeLessThan(timings.renewDeadlineMs)
        // We stop acting before anyone else may take the lease.
        expect(timings.renewDeadlineMs).toBeLessThan(leaseDurationSeconds * 1_000)
      }),
    )
  })
})
