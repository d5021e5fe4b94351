// One BFD session driven with real time (RFC 5880/5881): core/bfd decides every packet and timer; this
// driver encodes and sends datagrams, decodes what arrives (reporting the received TTL for the GTSM
// check), arms the Transmit and Detect timers (bringing one forward when the FSM says ShortenTimer),
// and supplies the jitter the FSM asks for, since core has no randomness. A Down after Up is reported
// at once: the BGP session on top drops without waiting for its hold timer. With an echo port the
// Echo function (core/bfd/echo.ts) runs beside the session: after every session step the echo machine
// hears whether the session is Up and what the neighbour allows, and its activation and failure go
// back to the session within the same input, so nothing can slip between a failure and its Down.
import { Result } from "effect"
import { decodeControlPacket, encodeControlPacket } from "../../core/bfd/codec.ts"
import { type EchoTimerName, echoConfig } from "../../core/bfd/echo.ts"
import { decodeEchoPacket, encodeEchoPacket } from "../../core/bfd/echo-packet.ts"
import type { BfdState } from "../../core/bfd/packet.ts"
import { controlPacket, sessionConfig } from "../../core/bfd/session-state.ts"
import type { SessionInput, TimerName } from "../../core/bfd/session.ts"
import { type BfdWithEcho, initialWithEcho, stepWithEcho, type WithEchoInput, type WithEchoOutput } from "../../core/bfd/session-with-echo.ts"
import type { BfdProfile } from "../../core/config/config.ts"
import { SerialInputs } from "./serial-inputs.ts"
import { realTimers, type Timers } from "./timers.ts"

/** Where control packets go and come from (a UDP socket to port 3784, or a simulated link). */
export interface DatagramLink {
  readonly send: (bytes: Uint8Array) => void
  readonly onReceive: (listener: (bytes: Uint8Array, ttl: number | undefined) => void) => void
  /** The echo path this link can offer (single-hop IPv4 over real sockets), used when the profile has echoMode. */
  readonly echo?: EchoSource
}

/** A link's echo path, known only once control packets have shown which interface and address the session uses. */
export interface EchoSource {
  /** The host routes the neighbour's echoes back (forwarding on): we may advertise Required Min Echo RX. */
  readonly loopsBack: boolean
  /** Opens our echo port for the session; `unavailable` says why there will be none. */
  readonly open: (discriminator: number, ready: (port: EchoPort) => void, unavailable: (reason: string) => void) => void
}

/** Where our echoes go (to the neighbour's MAC, addressed to ourselves) and come back. */
export interface EchoPort {
  readonly send: (bytes: Uint8Array) => void
  readonly onReceive: (listener: (bytes: Uint8Array) => void) => void
}

export interface BfdSessionEvents {
  /** `remoteState`: what the neighbour last said it was in (AdminDown: it went down on purpose). */
  readonly onStateChanged?: (from: BfdState, to: BfdState, diagnostic: number, remoteState: BfdState) => void
  readonly onDiscarded?: (reason: string) => void
  readonly onEchoActive?: (active: boolean, intervalMs: number) => void
  /** The profile asks for echo mode but this session cannot send echoes, and why. */
  readonly onEchoUnavailable?: (reason: string) => void
}

export interface BfdDriverOptions {
  readonly profile: BfdProfile
  /** Unique per host among live sessions (the shell's discriminator allocator). */
  readonly localDiscriminator: number
  readonly link: DatagramLink
  /** RFC 5883: the peer is routers away (received TTLs down to the profile's minimumTtl accepted). */
  readonly multihop?: boolean
  /**
   * The Echo function: `port` sends and receives our echoes (when the profile has echoMode); `loopsBack`
   * says our forwarding plane returns the neighbour's, so we may advertise a Required Min Echo RX.
   */
  readonly echo?: { readonly port?: EchoPort; readonly loopsBack: boolean }
  readonly events?: BfdSessionEvents
  /** Jitter source in [0, 1); Math.random in production, seeded in tests and the simulator. */
  readonly random?: () => number
  /** Real timers unless given (the simulator passes virtual ones). */
  readonly timers?: Timers
}

export class BfdDriver {
  private machine: BfdWithEcho
  private readonly options: BfdDriverOptions
  private readonly timers = new Map<TimerName | EchoTimerName, { handle: unknown; dueMs: number }>()
  private readonly clock: Timers
  private readonly inputs = new SerialInputs<WithEchoInput>((input) => this.run(input))
  private stopped = false
  /**
   * Control packets sent and received (decoded), transitions into and out of Up, echoes sent and
   * returned in time, echo failures, and the last echo round trip, since the start.
   */
  readonly counts = { packetsSent: 0, packetsReceived: 0, upEvents: 0, downEvents: 0, echoesSent: 0, echoesReturned: 0, echoFailures: 0, lastEchoRoundTripUs: 0 }

  constructor(options: BfdDriverOptions) {
    this.options = options
    this.clock = options.timers ?? realTimers
    const multihop = options.multihop ?? false
    // An echo port given outright (tests), or one the link opens once it knows the path.
    const source = options.echo === undefined && options.profile.echoMode && !multihop ? options.link.echo : undefined
    const loopsBack = options.echo?.loopsBack ?? source?.loopsBack ?? false
    this.machine = initialWithEcho(
      sessionConfig(options.profile, options.localDiscriminator, multihop, loopsBack),
      echoConfig(options.profile, options.localDiscriminator, !multihop && options.echo?.port !== undefined),
    )
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
    if (options.echo?.port !== undefined) this.listenForEchoes(options.echo.port)
    if (options.profile.echoMode && multihop) options.events?.onEchoUnavailable?.("echo mode is single hop only (RFC 5883 §3): this session is multihop")
    else if (options.profile.echoMode && options.echo === undefined && source === undefined) options.events?.onEchoUnavailable?.("this link cannot carry echoes (IPv4 single hop only, as in FRR)")
    source?.open(options.localDiscriminator, (port) => this.attachEchoPort(port), (reason) => options.events?.onEchoUnavailable?.(reason))
  }

  /** Starts the Echo function's transmission through `port` (the profile must have echoMode). */
  attachEchoPort(port: EchoPort): void {
    if (this.stopped || this.echoPort !== undefined) return
    this.listenForEchoes(port)
    this.inputs.push({ _tag: "Echo", input: { _tag: "Reconfigure", config: echoConfig(this.options.profile, this.options.localDiscriminator, !(this.options.multihop ?? false)), nowUs: this.nowUs() } })
  }

  private echoPort: EchoPort | undefined

  private listenForEchoes(port: EchoPort): void {
    this.echoPort = port
    const options = this.options
    port.onReceive((bytes) => {
      if (this.stopped) return
      const decoded = decodeEchoPacket(bytes)
      if (Result.isFailure(decoded)) {
        options.events?.onDiscarded?.(decoded.failure.reason)
        return
      }
      this.inputs.push({ _tag: "Echo", input: { _tag: "EchoReturned", packet: decoded.success, nowUs: this.nowUs() } })
    })
  }

  get state(): BfdState {
    return this.machine.session.state
  }

  /** Our echoes are being sent (and their return watched). */
  get echoActive(): boolean {
    return this.machine.echo.active
  }

  /** The Required Min Echo RX Interval our control packets advertise (0: the peer must not echo). */
  get advertisedEchoRxUs(): number {
    return this.machine.session.config.echoRequiredMinRxUs
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
    this.options.link.send(encodeControlPacket(controlPacket(this.machine.session, { poll: false, final: false })))
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

  private nowUs(): number {
    return Math.round(this.clock.nowMs() * 1000)
  }

  private dispatch(input: SessionInput): void {
    this.inputs.push({ _tag: "Session", input })
  }

  private run(input: WithEchoInput): void {
    const { state, outputs } = stepWithEcho(this.machine, input, { nowUs: this.nowUs(), nonce: Math.floor(this.jitter() * 2 ** 32) >>> 0 })
    this.machine = state
    for (const output of outputs) this.execute(output)
  }

  private disarm(timer: TimerName | EchoTimerName): void {
    const existing = this.timers.get(timer)
    if (existing !== undefined) this.clock.clear(existing.handle)
    this.timers.delete(timer)
  }

  private arm(timer: TimerName | EchoTimerName, durationMs: number): void {
    const existing = this.timers.get(timer)
    if (existing !== undefined) this.clock.clear(existing.handle)
    const handle = this.clock.set(durationMs, () => {
      this.timers.delete(timer)
      if (this.stopped) return
      switch (timer) {
        case "Transmit":
          return this.dispatch({ _tag: "TimerExpired", timer, jitterFraction: this.jitter() })
        case "Detect":
          return this.dispatch({ _tag: "TimerExpired", timer })
        case "EchoTransmit":
          return this.inputs.push({ _tag: "Echo", input: { _tag: "EchoTimerExpired", timer, nowUs: this.nowUs() } })
        case "EchoDetect":
          return this.inputs.push({ _tag: "Echo", input: { _tag: "EchoTimerExpired", timer } })
      }
    })
    this.timers.set(timer, { handle, dueMs: this.now() + durationMs })
  }

  private execute(output: WithEchoOutput): void {
    switch (output._tag) {
      case "Send":
        if (!this.stopped) {
          this.counts.packetsSent += 1
          this.options.link.send(encodeControlPacket(output.packet))
        }
        return
      case "SendEcho":
        if (this.stopped) return
        this.counts.echoesSent += 1
        this.echoPort?.send(encodeEchoPacket(output.packet))
        return
      case "StartTimer":
        this.arm(output.timer, output.durationMs)
        return
      case "ShortenTimer": {
        const existing = this.timers.get(output.timer)
        if (existing === undefined || existing.dueMs > this.now() + output.durationMs) this.arm(output.timer, output.durationMs)
        return
      }
      case "StopTimer":
        this.disarm(output.timer)
        return
      case "StateChanged":
        if (output.to === "Up") this.counts.upEvents += 1
        if (output.from === "Up") this.counts.downEvents += 1
        this.options.events?.onStateChanged?.(output.from, output.to, output.diagnostic, this.machine.session.remoteState)
        return
      case "PacketDiscarded":
        this.options.events?.onDiscarded?.(output.reason)
        return
      case "EchoActivated":
        this.options.events?.onEchoActive?.(true, output.intervalUs / 1000)
        return
      case "EchoDeactivated":
        this.options.events?.onEchoActive?.(false, 0)
        return
      case "EchoFailed":
        this.counts.echoFailures += 1
        this.options.events?.onEchoActive?.(false, 0)
        return
      case "EchoReturnedInTime":
        this.counts.echoesReturned += 1
        this.counts.lastEchoRoundTripUs = output.roundTripUs
        return
      case "EchoDiscarded":
        this.options.events?.onDiscarded?.(`Echo${output.reason}`)
        return
    }
  }
}
