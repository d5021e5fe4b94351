// One BFD session driven with real time (RFC 5880/5881): core/bfd decides every packet and timer; this
// driver encodes and sends datagrams, decodes what arrives (reporting the received TTL for the GTSM
// check), arms the Transmit and Detect timers (bringing one forward when the FSM says ShortenTimer),
// and supplies the jitter the FSM asks for, since core has no randomness. A Down after Up is reported
// at once: the BGP session on top drops without waiting for its hold timer.
import { Result } from "effect"
import { decodeControlPacket, encodeControlPacket } from "../../core/bfd/codec.ts"
import type { BfdState } from "../../core/bfd/packet.ts"
import { type BfdSession, controlPacket, initialSession, sessionConfig } from "../../core/bfd/session-state.ts"
import { type SessionInput, type SessionOutput, step, type TimerName } from "../../core/bfd/session.ts"
import type { BfdProfile } from "../../core/config/config.ts"
import { SerialInputs } from "./serial-inputs.ts"
import { realTimers, type Timers } from "./timers.ts"

/** Where control packets go and come from (a UDP socket to port 3784, or a simulated link). */
export interface DatagramLink {
  readonly send: (bytes: Uint8Array) => void
  readonly onReceive: (listener: (bytes: Uint8Array, ttl: number | undefined) => void) => void
}

export interface BfdSessionEvents {
  /** `remoteState`: what the neighbour last said it was in (AdminDown: it went down on purpose). */
  readonly onStateChanged?: (from: BfdState, to: BfdState, diagnostic: number, remoteState: BfdState) => void
  readonly onDiscarded?: (reason: string) => void
}

export interface BfdDriverOptions {
  readonly profile: BfdProfile
  /** Unique per host among live sessions (the shell's discriminator allocator). */
  readonly localDiscriminator: number
  readonly link: DatagramLink
  /** RFC 5883: the peer is routers away (received TTLs down to the profile's minimumTtl accepted). */
  readonly multihop?: boolean
  readonly events?: BfdSessionEvents
  /** Jitter source in [0, 1); Math.random in production, seeded in tests and the simulator. */
  readonly random?: () => number
  /** Real timers unless given (the simulator passes virtual ones). */
  readonly timers?: Timers
}

export class BfdDriver {
  private session: BfdSession
  private readonly options: BfdDriverOptions
  private readonly timers = new Map<TimerName, { handle: unknown; dueMs: number }>()
  private readonly clock: Timers
  private readonly inputs = new SerialInputs<SessionInput>((input) => {
    const { state, outputs } = step(this.session, input)
    this.session = state
    for (const output of outputs) this.execute(output)
  })
  private stopped = false
  /** Control packets sent and received (decoded), and transitions into and out of Up, since the start. */
  readonly counts = { packetsSent: 0, packetsReceived: 0, upEvents: 0, downEvents: 0 }

  constructor(options: BfdDriverOptions) {
    this.options = options
    this.clock = options.timers ?? realTimers
    this.session = initialSession(sessionConfig(options.profile, options.localDiscriminator, options.multihop ?? false))
    options.link.onReceive((bytes, ttl) => {
      if (this.stopped) return
      const decoded = decodeControlPacket(bytes)
      if (Result.isFailure(decoded)) {
        options.events?.onDiscarded?.(decoded.failure.reason)
        return
      }
      this.counts.packetsReceived += 1
      this.dispatch({ _tag: "PacketReceived", packet: decoded.success, ...(ttl === undefined ? {} : { ttl }) })
    })
  }

  get state(): BfdState {
    return this.session.state
  }

  start(): void {
    this.stopped = false
    this.dispatch({ _tag: "Start", jitterFraction: this.jitter() })
  }

  /** Administratively down: one AdminDown packet tells the peer at once (diagnostic 7), then silence. */
  stop(): void {
    this.dispatch({ _tag: "AdminDown" })
    // The FSM would send AdminDown on its next transmit; we go quiet now, so send it here once.
    this.counts.packetsSent += 1
    this.options.link.send(encodeControlPacket(controlPacket(this.session, { poll: false, final: false })))
    this.stopped = true
    for (const { handle } of this.timers.values()) this.clock.clear(handle)
    this.timers.clear()
  }

  /** Stops silently, as a hung or killed process does: the peer finds out by its detection timer. */
  halt(): void {
    this.stopped = true
    for (const { handle } of this.timers.values()) this.clock.clear(handle)
    this.timers.clear()
  }

  private jitter(): number {
    return (this.options.random ?? Math.random)()
  }

  private now(): number {
    return this.clock.nowMs()
  }

  private dispatch(input: SessionInput): void {
    this.inputs.push(input)
  }

  private arm(timer: TimerName, durationMs: number): void {
    const existing = this.timers.get(timer)
    if (existing !== undefined) this.clock.clear(existing.handle)
    const handle = this.clock.set(durationMs, () => {
      this.timers.delete(timer)
      if (this.stopped) return
      this.dispatch(timer === "Transmit" ? { _tag: "TimerExpired", timer, jitterFraction: this.jitter() } : { _tag: "TimerExpired", timer })
    })
    this.timers.set(timer, { handle, dueMs: this.now() + durationMs })
  }

  private execute(output: SessionOutput): void {
    switch (output._tag) {
      case "Send":
        if (!this.stopped) {
          this.counts.packetsSent += 1
          this.options.link.send(encodeControlPacket(output.packet))
        }
        return
      case "StartTimer":
        this.arm(output.timer, output.durationMs)
        return
      case "ShortenTimer": {
        const existing = this.timers.get(output.timer)
        if (existing === undefined || existing.dueMs > this.now() + output.durationMs) this.arm(output.timer, output.durationMs)
        return
      }
      case "StopTimer": {
        const existing = this.timers.get(output.timer)
        if (existing !== undefined) this.clock.clear(existing.handle)
        this.timers.delete(output.timer)
        return
      }
      case "StateChanged":
        if (output.to === "Up") this.counts.upEvents += 1
        if (output.from === "Up") this.counts.downEvents += 1
        this.options.events?.onStateChanged?.(output.from, output.to, output.diagnostic, this.session.remoteState)
        return
      case "PacketDiscarded":
        this.options.events?.onDiscarded?.(output.reason)
        return
    }
  }
}
