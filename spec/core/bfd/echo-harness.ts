// Two BFD sessions with their Echo functions (core/bfd/session-with-echo.ts) back to back in virtual
// time. Control packets cross the link after `latencyMs`; an echo from a side comes back to that side
// after twice the latency, as the neighbour's forwarding plane returns it, unless that side's echoes
// are cut (the neighbour stopped forwarding them) while control packets still flow. Jitter and nonces
// come from a seeded generator, so a run is a pure function of its seed and script.
import { Result } from "effect"
import { decodeControlPacket, encodeControlPacket } from "../../../core/bfd/codec.ts"
import { echoConfig, type EchoTimerName } from "../../../core/bfd/echo.ts"
import { decodeEchoPacket, encodeEchoPacket } from "../../../core/bfd/echo-packet.ts"
import { sessionConfig } from "../../../core/bfd/session-state.ts"
import type { TimerName } from "../../../core/bfd/session.ts"
import { type BfdWithEcho, initialWithEcho, stepWithEcho, type WithEchoInput, type WithEchoOutput } from "../../../core/bfd/session-with-echo.ts"
import type { BfdProfile } from "../../../core/config/config.ts"
import { profile, seeded, type SideName } from "./harness.ts"
import { type NextEvent, VirtualTimeRunner } from "./virtual-time.ts"

export { profile }

export interface SideOptions {
  readonly profile: BfdProfile
  /** This side's forwarding plane returns the other's echoes (it may advertise Required Min Echo RX). */
  readonly loopsBack: boolean
  /** This side can send echoes (an echo port). */
  readonly canSend: boolean
}

export interface EchoEntry {
  readonly atMs: number
  readonly side: SideName
  readonly input: WithEchoInput
  readonly outputs: ReadonlyArray<WithEchoOutput>
}

interface Flight {
  readonly atMs: number
  readonly to: SideName
  readonly kind: "control" | "echo"
  readonly bytes: Uint8Array
  readonly order: number
}

const other = (side: SideName): SideName => (side === "A" ? "B" : "A")

export class EchoHarness extends VirtualTimeRunner {
  readonly records: Array<EchoEntry> = []
  readonly decodeFailures: Array<string> = []
  /** Sides whose echoes the neighbour no longer returns. */
  readonly echoCut = new Set<SideName>()
  /** Sides whose control packets are lost. */
  readonly controlCut = new Set<SideName>()
  private readonly machines: { [K in SideName]: BfdWithEcho }
  private readonly timers: { [K in SideName]: Map<TimerName | EchoTimerName, number> } = { A: new Map(), B: new Map() }
  private readonly inFlight: Array<Flight> = []
  private readonly random: () => number
  private order = 0
  readonly latencyMs: number

  constructor(options: { readonly a: SideOptions; readonly b: SideOptions; readonly seed?: number; readonly latencyMs?: number }) {
    super()
    this.random = seeded(options.seed ?? 1)
    this.latencyMs = options.latencyMs ?? 1
    const machine = (o: SideOptions, discriminator: number) =>
      initialWithEcho(sessionConfig(o.profile, discriminator, false, o.loopsBack), echoConfig(o.profile, discriminator, o.canSend))
    this.machines = { A: machine(options.a, 0x0a0a0a0a), B: machine(options.b, 0x0b0b0b0b) }
  }

  machine(side: SideName): BfdWithEcho {
    return this.machines[side]
  }

  start(side: SideName): void {
    this.input(side, { _tag: "Session", input: { _tag: "Start", jitterFraction: this.random() } })
  }

  input(side: SideName, input: WithEchoInput): void {
    const t = stepWithEcho(this.machines[side], input, { nowUs: Math.round(this.nowMs * 1000), nonce: Math.floor(this.random() * 2 ** 32) >>> 0 })
    this.machines[side] = t.state
    this.records.push({ atMs: this.nowMs, side, input, outputs: t.outputs })
    const timers = this.timers[side]
    for (const output of t.outputs) {
      switch (output._tag) {
        case "Send":
          if (!this.controlCut.has(side)) this.fly(other(side), "control", encodeControlPacket(output.packet), this.latencyMs)
          break
        case "SendEcho":
          if (!this.echoCut.has(side)) this.fly(side, "echo", encodeEchoPacket(output.packet), 2 * this.latencyMs)
          break
        case "StartTimer":
          timers.set(output.timer, this.nowMs + output.durationMs)
          break
        case "ShortenTimer": {
          const dueMs = this.nowMs + output.durationMs
          const armedMs = timers.get(output.timer)
          if (armedMs === undefined || armedMs > dueMs) timers.set(output.timer, dueMs)
          break
        }
        case "StopTimer":
          timers.delete(output.timer)
          break
        default:
          break
      }
    }
  }

  private fly(to: SideName, kind: "control" | "echo", bytes: Uint8Array, afterMs: number): void {
    this.inFlight.push({ atMs: this.nowMs + afterMs, to, kind, bytes, order: this.order++ })
  }

  protected nextEvent(): NextEvent | undefined {
    let best: { atMs: number; rank: number; run: () => void } | undefined
    const consider = (atMs: number, rank: number, run: () => void) => {
      if (best === undefined || atMs < best.atMs || (atMs === best.atMs && rank < best.rank)) best = { atMs, rank, run }
    }
    for (const flight of this.inFlight) consider(flight.atMs, flight.order, () => this.deliver(flight))
    for (const side of ["A", "B"] as const) {
      for (const [timer, dueMs] of this.timers[side]) {
        const rank = 1e15 + (side === "A" ? 0 : 10) + ["Detect", "EchoDetect", "Transmit", "EchoTransmit"].indexOf(timer)
        consider(dueMs, rank, () => this.fire(side, timer))
      }
    }
    return best
  }

  private deliver(flight: Flight): void {
    this.inFlight.splice(this.inFlight.indexOf(flight), 1)
    if (flight.kind === "control") {
      const decoded = decodeControlPacket(flight.bytes)
      if (Result.isFailure(decoded)) return void this.decodeFailures.push(decoded.failure.message)
      this.input(flight.to, { _tag: "Session", input: { _tag: "PacketReceived", packet: decoded.success, ttl: 255 } })
      return
    }
    const decoded = decodeEchoPacket(flight.bytes)
    if (Result.isFailure(decoded)) return void this.decodeFailures.push(decoded.failure.message)
    this.input(flight.to, { _tag: "Echo", input: { _tag: "EchoReturned", packet: decoded.success, nowUs: Math.round(this.nowMs * 1000) } })
  }

  private fire(side: SideName, timer: TimerName | EchoTimerName): void {
    this.timers[side].delete(timer)
    const nowUs = Math.round(this.nowMs * 1000)
    switch (timer) {
      case "Transmit":
        return this.input(side, { _tag: "Session", input: { _tag: "TimerExpired", timer, jitterFraction: this.random() } })
      case "Detect":
        return this.input(side, { _tag: "Session", input: { _tag: "TimerExpired", timer } })
      case "EchoTransmit":
        return this.input(side, { _tag: "Echo", input: { _tag: "EchoTimerExpired", timer, nowUs } })
      case "EchoDetect":
        return this.input(side, { _tag: "Echo", input: { _tag: "EchoTimerExpired", timer } })
    }
  }

  outputs(side: SideName): Array<{ atMs: number; output: WithEchoOutput }> {
    return this.records.filter((r) => r.side === side).flatMap((r) => r.outputs.map((output) => ({ atMs: r.atMs, output })))
  }

  stateChanges(side: SideName): Array<{ atMs: number; from: string; to: string; diagnostic: number }> {
    return this.outputs(side).flatMap(({ atMs, output }) =>
      output._tag === "StateChanged" ? [{ atMs, from: output.from, to: output.to, diagnostic: output.diagnostic }] : []
    )
  }

  echoesSent(side: SideName): Array<number> {
    return this.outputs(side).flatMap(({ atMs, output }) => (output._tag === "SendEcho" ? [atMs] : []))
  }
}
