import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { BfdDiagnostic } from "../../../core/bfd/packet.ts"
import { slowTransmitIntervalUs, usToMs } from "../../../core/bfd/timers.ts"
import { Harness, profile, type SideName } from "./harness.ts"

const slowIntervalMs = usToMs(slowTransmitIntervalUs)
const bothUp = (h: Harness) => () => h.session("A").state === "Up" && h.session("B").state === "Up"
const upAt = (h: Harness, side: SideName) => h.stateChanges(side).find((c) => c.to === "Up")?.atMs

/** Both sides Up and their Poll Sequences finished. */
const settled = (seed: number): Harness => {
  const h = new Harness({ seed })
  h.start("A")
  h.start("B")
  h.runUntil(5000)
  expect(h.session("A").state).toBe("Up")
  expect(h.session("B").state).toBe("Up")
  expect(h.session("A").poll).toBe("Idle")
  expect(h.session("B").poll).toBe("Idle")
  return h
}

describe("two BFD sessions back to back (virtual time)", () => {
  it("reach Up on both sides within 3 transmit intervals of the later Start, whatever the jitter and start offset", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fffffff }), fc.integer({ min: 0, max: 3000 }), (seed, offsetMs) => {
        const h = new Harness({ seed })
        h.start("A")
        h.runUntil(offsetMs)
        h.start("B")
        expect(h.runUntilTrue(bothUp(h), offsetMs + 3 * slowIntervalMs)).toBe(true)
        expect(h.decodeFailures).toEqual([])
        for (const side of ["A", "B"] as const) {
          const path = h.stateChanges(side).map((c) => `${c.from}->${c.to}`)
          expect([["Down->Init", "Init->Up"], ["Down->Up"]]).toContainEqual(path)
        }
      }),
      { numRuns: 200 },
    )
  })

  it("with both started together, is Up within one slow interval (figure: first Up time)", () => {
    const h = new Harness({ seed: 7 })
    h.start("A")
    h.start("B")
    h.runUntilTrue(bothUp(h), 10_000)
    expect(upAt(h, "A")).toBeLessThanOrEqual(slowIntervalMs + 2 * h.latencyMs)
    expect(upAt(h, "B")).toBeLessThanOrEqual(slowIntervalMs + 2 * h.latencyMs)
  })

  it("with one side passive, still reaches Up within 3 slow intervals; two passive sides never speak", () => {
    const h = new Harness({ seed: 3, b: profile({ passiveMode: true }) })
    h.start("B")
    h.runUntil(2000)
    expect(h.sent("B")).toEqual([])
    h.start("A")
    expect(h.runUntilTrue(bothUp(h), 2000 + 3 * slowIntervalMs)).toBe(true)

    const quiet = new Harness({ a: profile({ passiveMode: true }), b: profile({ passiveMode: true }) })
    quiet.start("A")
    quiet.start("B")
    quiet.runUntil(30_000)
    expect([quiet.sent("A"), quiet.sent("B")]).toEqual([[], []])
    expect(quiet.session("A").state).toBe("Down")
  })

  it("once settled, transmits every 225–300 ms and detects after 900 ms", () => {
    const h = settled(11)
    const from = h.nowMs
    h.runUntil(from + 10_000)
    const intervals = h.timersStarted("A", "Transmit").filter((t) => t.atMs >= from).map((t) => t.durationMs)
    expect(intervals.length).toBeGreaterThan(30)
    for (const ms of intervals) {
      expect(ms).toBeGreaterThanOrEqual(225)
      expect(ms).toBeLessThanOrEqual(300)
    }
    expect(new Set(h.timersStarted("A", "Detect").filter((t) => t.atMs >= from).map((t) => t.durationMs))).toEqual(new Set([900]))
    expect(h.stateChanges("A").filter((c) => c.atMs >= from)).toEqual([])
  })

  it("when B's packets stop, A goes Down with diag 1 exactly 900 ms after the last one (300 ms × 3), and B follows with diag 3", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fffffff }), fc.integer({ min: 0, max: 1000 }), (seed, extraMs) => {
        const h = settled(seed)
        h.runUntil(h.nowMs + extraMs)
        const cutAtMs = h.nowMs
        h.cut.add("B")
        expect(h.runUntilTrue(() => h.session("A").state === "Down", cutAtMs + 5000)).toBe(true)
        const down = h.stateChanges("A").at(-1)!
        expect(down).toMatchObject({ from: "Up", to: "Down", diagnostic: BfdDiagnostic.ControlDetectionTimeExpired })
        const lastReceivedMs = h.received("A").filter((r) => r.atMs <= down.atMs).at(-1)!.atMs
        expect(down.atMs - lastReceivedMs).toBe(900)
        // The last packet left B at most one transmit interval (300 ms, jitter only shortens it) before the cut.
        expect(down.atMs - cutAtMs).toBeGreaterThanOrEqual(900 - 300 + h.latencyMs)
        expect(down.atMs - cutAtMs).toBeLessThanOrEqual(900 + h.latencyMs)
        h.runUntil(h.nowMs + 2000)
        expect(h.stateChanges("B")).toContainEqual(expect.objectContaining({ from: "Up", to: "Down", diagnostic: BfdDiagnostic.NeighborSignaledSessionDown }))
      }),
      { numRuns: 100 },
    )
  })

  it("both sides come back Up when the path heals", () => {
    const h = settled(5)
    h.cut.add("B")
    h.runUntil(h.nowMs + 3000)
    expect(h.session("A").state).toBe("Down")
    h.cut.delete("B")
    expect(h.runUntilTrue(bothUp(h), h.nowMs + 3 * slowIntervalMs)).toBe(true)
  })

  it("B's AdminDown takes A Down with diag 3 within one transmit interval; B's Start brings both back Up", () => {
    const h = settled(21)
    const adminAtMs = h.nowMs
    h.input("B", { _tag: "AdminDown" })
    expect(h.stateChanges("B").at(-1)).toMatchObject({ from: "Up", to: "AdminDown", diagnostic: BfdDiagnostic.AdministrativelyDown })
    expect(h.runUntilTrue(() => h.session("A").state === "Down", adminAtMs + 5000)).toBe(true)
    const down = h.stateChanges("A").at(-1)!
    expect(down).toMatchObject({ from: "Up", to: "Down", diagnostic: BfdDiagnostic.NeighborSignaledSessionDown })
    expect(down.atMs - adminAtMs).toBeLessThanOrEqual(300 + h.latencyMs)
    // A stays Down while B is administratively down, however long.
    h.runUntil(h.nowMs + 10_000)
    expect(h.session("A").state).toBe("Down")
    expect(h.stateChanges("A").filter((c) => c.atMs > down.atMs)).toEqual([])
    const restartMs = h.nowMs
    h.input("B", { _tag: "Start", jitterFraction: h.jitter() })
    expect(h.runUntilTrue(bothUp(h), restartMs + 3 * slowIntervalMs)).toBe(true)
  })

  it("Poll/Final on going Up: A polls with its 300 ms TX, B answers with Final at once, A stops polling", () => {
    const h = new Harness({ seed: 2 })
    h.start("A")
    h.start("B")
    h.runUntilTrue(bothUp(h), 10_000)
    h.runUntil(h.nowMs + 2000)
    const aUpMs = upAt(h, "A")!
    const afterUp = h.sent("A").filter((s) => s.atMs >= aUpMs && s.packet.state === "Up")
    const poll = afterUp.find((s) => s.packet.poll)!
    expect(poll.packet).toMatchObject({ poll: true, final: false, desiredMinTxIntervalUs: 300_000 })
    const final = h.sent("B").find((s) => s.packet.final && s.atMs >= poll.atMs)!
    expect(final.atMs).toBe(poll.atMs + h.latencyMs)
    expect(afterUp.filter((s) => s.atMs > final.atMs + h.latencyMs).every((s) => !s.packet.poll)).toBe(true)
    expect(h.sent("A").concat(h.sent("B")).every((s) => !(s.packet.poll && s.packet.final))).toBe(true)
  })

  it("Poll/Final when A slows its TX to 1 s while Up: B's detection stretches first, A slows only after the Final, nobody goes down", () => {
    const h = settled(9)
    const changeMs = h.nowMs
    h.input("A", { _tag: "Reconfigure", profile: profile({ transmitIntervalMs: 1000 }) })
    h.runUntil(changeMs + 10_000)
    const finalMs = h.received("A").find((r) => r.atMs > changeMs && r.packet.final)!.atMs
    const transmits = h.timersStarted("A", "Transmit").filter((t) => t.atMs > changeMs)
    expect(transmits.filter((t) => t.atMs < finalMs).every((t) => t.durationMs <= 300)).toBe(true)
    const later = transmits.filter((t) => t.atMs > finalMs)
    expect(later.length).toBeGreaterThan(0)
    expect(later.every((t) => t.durationMs >= 750 && t.durationMs <= 1000)).toBe(true)
    const pollMs = h.sent("A").find((s) => s.atMs > changeMs && s.packet.poll)!.atMs
    expect(h.timersStarted("B", "Detect").filter((t) => t.atMs > pollMs).every((t) => t.durationMs === 3000)).toBe(true)
    expect(h.stateChanges("A").concat(h.stateChanges("B")).filter((c) => c.atMs > changeMs)).toEqual([])
  })

  it("Poll/Final when A lowers its RX to 100 ms under a 100 ms-capable B: A's detection shrinks only after the Final", () => {
    const h = new Harness({ seed: 4, b: profile({ transmitIntervalMs: 100 }) })
    h.start("A")
    h.start("B")
    h.runUntil(5000)
    const changeMs = h.nowMs
    h.input("A", { _tag: "Reconfigure", profile: profile({ receiveIntervalMs: 100 }) })
    h.runUntil(changeMs + 5000)
    const finalMs = h.received("A").find((r) => r.atMs > changeMs && r.packet.final)!.atMs
    const detects = h.timersStarted("A", "Detect").filter((t) => t.atMs > changeMs)
    expect(detects.filter((t) => t.atMs < finalMs).every((t) => t.durationMs === 900)).toBe(true)
    expect(detects.filter((t) => t.atMs >= finalMs).every((t) => t.durationMs === 300)).toBe(true)
    const bTransmits = h.timersStarted("B", "Transmit").filter((t) => t.atMs > finalMs)
    expect(bTransmits.every((t) => t.durationMs >= 75 && t.durationMs <= 100)).toBe(true)
    expect(h.stateChanges("A").concat(h.stateChanges("B")).filter((c) => c.atMs > changeMs)).toEqual([])
  })

  it("is deterministic: the same seed gives the same record", () => {
    const once = settled(13).records
    const twice = settled(13).records
    expect(twice).toEqual(once)
  })
})
