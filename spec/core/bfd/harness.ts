// Two BFD sessions wired back to back in virtual time: each side's Send outputs go through the codec
// and arrive at the other side after a fixed latency (unless that direction is cut), timers fire at
// their virtual due time, and the jitter fractions come from a seeded generator, so a run is a pure
// function of its seed and its script.
import { Result } from "effect"
import type { BfdProfile } from "../../../core/config/config.ts"
import { bfdDefaults } from "../../../core/config/rules/bfd.ts"
import { decodeControlPacket, encodeControlPacket } from "../../../core/bfd/codec.ts"
import type { ControlPacket } from "../../../core/bfd/packet.ts"
import { type BfdSession, initialSession, sessionConfig } from "../../../core/bfd/session-state.ts"
import { type SessionInput, type SessionOutput, step, type TimerName } from "../../../core/bfd/session.ts"
import { type NextEvent, VirtualTimeRunner } from "./virtual-time.ts"

export type SideName = "A" | "B"

export interface Entry {
  readonly atMs: number
  readonly side: SideName
  readonly input: SessionInput
  readonly outputs: ReadonlyArray<SessionOutput>
}

interface Side {
  session: BfdSession
  readonly timers: Map<TimerName, number>
}

interface Flight {
  readonly deliverAtMs: number
  readonly to: SideName
  readonly bytes: Uint8Array
  readonly order: number
}

export const profile = (overrides: Partial<Omit<BfdProfile, "name">> = {}): BfdProfile => ({
  name: "test",
  ...bfdDefaults,
  ...overrides,
})

/** mulberry32: a small seeded generator, so jitter is reproducible. */
export const seeded = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const other = (side: SideName): SideName => (side === "A" ? "B" : "A")

export class Harness extends VirtualTimeRunner {
  readonly records: Array<Entry> = []
  readonly decodeFailures: Array<string> = []
  /** Directions whose packets are lost from now on, by sender. */
  readonly cut = new Set<SideName>()
  private readonly sides: { [K in SideName]: Side }
  private readonly inFlight: Array<Flight> = []
  private readonly random: () => number
  private order = 0
  readonly latencyMs: number

  constructor(options: {
    readonly a?: BfdProfile
    readonly b?: BfdProfile
    readonly seed?: number
    readonly latencyMs?: number
  } = {}) {
    super()
    this.random = seeded(options.seed ?? 1)
    this.latencyMs = options.latencyMs ?? 1
    this.sides = {
      A: { session: initialSession(sessionConfig(options.a ?? profile(), 0x0a0a0a0a)), timers: new Map() },
      B: { session: initialSession(sessionConfig(options.b ?? profile(), 0x0b0b0b0b)), timers: new Map() },
    }
  }

  session(side: SideName): BfdSession {
    return this.sides[side].session
  }

  jitter(): number {
    return this.random()
  }

  start(side: SideName): void {
    this.input(side, { _tag: "Start", jitterFraction: this.random() })
  }

  input(side: SideName, input: SessionInput): void {
    const s = this.sides[side]
    const transition = step(s.session, input)
    s.session = transition.state
    this.records.push({ atMs: this.nowMs, side, input, outputs: transition.outputs })
    for (const output of transition.outputs) {
      switch (output._tag) {
        case "Send":
          if (!this.cut.has(side)) {
            this.inFlight.push({
              deliverAtMs: this.nowMs + this.latencyMs,
              to: other(side),
              bytes: encodeControlPacket(output.packet),
              order: this.order++,
            })
          }
          break
        case "StartTimer":
          s.timers.set(output.timer, this.nowMs + output.durationMs)
          break
        case "ShortenTimer": {
          const dueMs = this.nowMs + output.durationMs
          const armedMs = s.timers.get(output.timer)
          if (armedMs === undefined || armedMs > dueMs) s.timers.set(output.timer, dueMs)
          break
        }
        case "StopTimer":
          s.timers.delete(output.timer)
          break
        case "StateChanged":
        case "PacketDiscarded":
          break
      }
    }
  }

  protected nextEvent(): NextEvent | undefined {
    let best: { atMs: number; rank: number; run: () => void } | undefined
    const consider = (atMs: number, rank: number, run: () => void) => {
      if (best === undefined || atMs < best.atMs || (atMs === best.atMs && rank < best.rank)) best = { atMs, rank, run }
    }
    for (const flight of this.inFlight) {
      consider(flight.deliverAtMs, flight.order, () => this.deliver(flight))
    }
    for (const side of ["A", "B"] as const) {
      for (const [timer, dueMs] of this.sides[side].timers) {
        // After every packet due at the same instant (their ranks are small), A before B, Detect before Transmit.
        const rank = 1e15 + (side === "A" ? 0 : 2) + (timer === "Detect" ? 0 : 1)
        consider(dueMs, rank, () => this.fire(side, timer))
      }
    }
    return best
  }

  private deliver(flight: Flight): void {
    this.inFlight.splice(this.inFlight.indexOf(flight), 1)
    const decoded = decodeControlPacket(flight.bytes)
    if (Result.isFailure(decoded)) {
      this.decodeFailures.push(decoded.failure.message)
      return
    }
    this.input(flight.to, { _tag: "PacketReceived", packet: decoded.success, ttl: 255 })
  }

  private fire(side: SideName, timer: TimerName): void {
    this.sides[side].timers.delete(timer)
    this.input(
      side,
      timer === "Transmit" ? { _tag: "TimerExpired", timer, jitterFraction: this.random() } : { _tag: "TimerExpired", timer },
    )
  }

  // Views of the record used by the tests.

  stateChanges(side: SideName): Array<{ atMs: number; from: string; to: string; diagnostic: number }> {
    return this.records.filter((r) => r.side === side).flatMap((r) =>
      r.outputs.flatMap((o) => (o._tag === "StateChanged" ? [{ atMs: r.atMs, from: o.from, to: o.to, diagnostic: o.diagnostic }] : []))
    )
  }

  sent(side: SideName): Array<{ atMs: number; packet: ControlPacket }> {
    return this.records.filter((r) => r.side === side).flatMap((r) =>
      r.outputs.flatMap((o) => (o._tag === "Send" ? [{ atMs: r.atMs, packet: o.packet }] : []))
    )
  }

  /** Timers armed or shortened, with the duration asked for. */
  timersStarted(side: SideName, timer: TimerName): Array<{ atMs: number; durationMs: number }> {
    return this.records.filter((r) => r.side === side).flatMap((r) =>
      r.outputs.flatMap((o) =>
        (o._tag === "StartTimer" || o._tag === "ShortenTimer") && o.timer === timer ? [{ atMs: r.atMs, durationMs: o.durationMs }] : []
      )
    )
  }

  received(side: SideName): Array<{ atMs: number; packet: ControlPacket }> {
    return this.records.filter((r) => r.side === side).flatMap((r) =>
      r.input._tag === "PacketReceived" ? [{ atMs: r.atMs, packet: r.input.packet }] : []
    )
  }
}
