// One single-hop BFD session in asynchronous mode (RFC 5880 §6.2, §6.5, §6.8; RFC 5881 §5) as a pure
// transition: the three-way handshake Down -> Init -> Up, timer negotiation with the 1 s rate while
// not Up, detection time, Poll/Final when our advertised intervals change, jitter, administrative
// control. The Echo function runs beside it (echo.ts): the session advertises the Required Min Echo
// RX Interval its config holds, slows the peer's control packets to 1 s while echo is active, and
// goes Down with diagnostic 2 when echo failed. What it leaves out, on purpose: Demand mode for
// ourselves (we never set D, but honour a peer that does) and authentication (no session uses it, so
// §6.8.6 requires every packet with the A bit to be discarded). The shell picks the
// local discriminator, demultiplexes packets to sessions, sends with TTL 255 and reports the
// received TTL: a single-hop session (RFC 5881 §5) accepts only 255, a multihop one (RFC 5883 §2,
// a peer routers away) anything from the profile's minimumTtl up, as FRR's bfdd does.
import type { BfdProfile } from "../config/config.ts"
import { BfdDiagnostic, type BfdState, type ControlPacket, type KnownDiagnostic } from "./packet.ts"
import {
  type BfdSession,
  controlPacket,
  mayTransmitPeriodically,
  negotiatedTransmitUs,
  sessionConfig,
  withAdvertisedTimers,
} from "./session-state.ts"
import { detectionTimeUs, jitteredIntervalUs, usToMs } from "./timers.ts"

export type TimerName = "Transmit" | "Detect"

export type SessionInput =
  /** Begin, or re-enable after AdminDown (§6.8.16). */
  | { readonly _tag: "Start"; readonly jitterFraction: number }
  | { readonly _tag: "AdminDown" }
  /** `ttl` is the received TTL or Hop Limit when the shell knows it (RFC 5881 §5 wants 255). */
  | { readonly _tag: "PacketReceived"; readonly packet: ControlPacket; readonly ttl?: number }
  /** `jitterFraction` in [0, 1) draws the next transmit interval. */
  | { readonly _tag: "TimerExpired"; readonly timer: "Transmit"; readonly jitterFraction: number }
  | { readonly _tag: "TimerExpired"; readonly timer: "Detect" }
  | { readonly _tag: "Reconfigure"; readonly profile: BfdProfile }
  /** The Echo function (echo.ts) became active or stopped. */
  | { readonly _tag: "EchoActive"; readonly active: boolean }
  /** No echo came back within the echo detection time (§6.8.5). */
  | { readonly _tag: "EchoFailed" }

export type DiscardReason =
  | "NotRunning"
  | "TtlNot255"
  | "TtlBelowMinimum"
  | "DiscriminatorMismatch"
  | "AuthenticationNotSupported"
  | "LocalAdminDown"

export type SessionOutput =
  | { readonly _tag: "Send"; readonly packet: ControlPacket }
  /** Arms the timer, replacing one of the same name. */
  | { readonly _tag: "StartTimer"; readonly timer: TimerName; readonly durationMs: number }
  /** Arms the timer to fire within durationMs: kept as it is if it is already due sooner. */
  | { readonly _tag: "ShortenTimer"; readonly timer: TimerName; readonly durationMs: number }
  | { readonly _tag: "StopTimer"; readonly timer: TimerName }
  | { readonly _tag: "StateChanged"; readonly from: BfdState; readonly to: BfdState; readonly diagnostic: KnownDiagnostic }
  | { readonly _tag: "PacketDiscarded"; readonly reason: DiscardReason }

export interface Transition {
  readonly state: BfdSession
  readonly outputs: ReadonlyArray<SessionOutput>
}

const singleHopTtl = 255

/** Why a packet's received TTL is refused, if it is. */
const ttlProblem = (s: BfdSession, ttl: number | undefined): DiscardReason | undefined => {
  if (ttl === undefined) return undefined
  if (s.config.multihop) return ttl < s.config.minimumTtl ? "TtlBelowMinimum" : undefined
  return ttl === singleHopTtl ? undefined : "TtlNot255"
}

/** One step's state and outputs, built up in order; it lives only inside a single `step` call. */
class Builder {
  readonly outputs: Array<SessionOutput> = []
  s: BfdSession
  constructor(s: BfdSession) {
    this.s = s
  }

  done(): Transition {
    return { state: this.s, outputs: this.outputs }
  }

  moveTo(to: BfdState, diagnostic: KnownDiagnostic): void {
    const from = this.s.state
    if (from === to) return
    this.s = withAdvertisedTimers({ ...this.s, state: to, localDiagnostic: diagnostic })
    this.outputs.push({ _tag: "StateChanged", from, to, diagnostic })
  }

  sendPeriodic(): void {
    if (!mayTransmitPeriodically(this.s)) return
    const polling = this.s.poll !== "Idle"
    this.outputs.push({ _tag: "Send", packet: controlPacket(this.s, { poll: polling, final: false }) })
    if (polling) this.s = { ...this.s, poll: "Sent" }
  }

  armTransmit(how: "StartTimer" | "ShortenTimer" = "StartTimer"): void {
    const intervalUs = negotiatedTransmitUs(this.s)
    const durationUs = jitteredIntervalUs(intervalUs, this.s.config.detectMultiplier, this.s.jitterFraction)
    this.s = { ...this.s, transmitTimerIntervalUs: intervalUs }
    this.outputs.push({ _tag: how, timer: "Transmit", durationMs: usToMs(durationUs) })
  }

  /**
   * §6.8.3: a shorter interval is honoured at once. Only ever shortening the armed timer keeps a
   * packet that was about to go from being pushed back, and the gap since the last packet only grows.
   */
  rearmTransmitIfFaster(): void {
    const armedUs = this.s.transmitTimerIntervalUs
    if (armedUs !== null && negotiatedTransmitUs(this.s) < armedUs) this.armTransmit("ShortenTimer")
  }

  armDetect(): void {
    const s = this.s
    const durationUs = detectionTimeUs(s.remoteDetectMultiplier, s.detectBasisUs, s.remoteDesiredMinTxUs)
    this.s = { ...s, detectTimerArmed: true }
    this.outputs.push({ _tag: "StartTimer", timer: "Detect", durationMs: usToMs(durationUs) })
  }

  discard(reason: DiscardReason): void {
    this.outputs.push({ _tag: "PacketDiscarded", reason })
  }
}

const start = (b: Builder, jitterFraction: number): void => {
  const wasRunning = b.s.running
  b.s = { ...b.s, running: true, jitterFraction }
  if (b.s.state === "AdminDown") b.moveTo("Down", BfdDiagnostic.NoDiagnostic)
  if (wasRunning) return
  b.sendPeriodic()
  b.armTransmit()
}

const adminDown = (b: Builder): void => {
  b.moveTo("AdminDown", BfdDiagnostic.AdministrativelyDown)
  if (!b.s.detectTimerArmed) return
  b.s = { ...b.s, detectTimerArmed: false }
  b.outputs.push({ _tag: "StopTimer", timer: "Detect" })
}

/** §6.8.6 from "If the A bit is set" on; the codec has applied the checks about the packet alone. */
const receive = (b: Builder, packet: ControlPacket, ttl: number | undefined): void => {
  if (!b.s.running) return b.discard("NotRunning")
  const badTtl = ttlProblem(b.s, ttl)
  if (badTtl !== undefined) return b.discard(badTtl)
  if (packet.yourDiscriminator !== 0 && packet.yourDiscriminator !== b.s.config.localDiscriminator) {
    return b.discard("DiscriminatorMismatch")
  }
  if (packet.authentication !== undefined) return b.discard("AuthenticationNotSupported")
  b.s = {
    ...b.s,
    remoteDiscriminator: packet.myDiscriminator,
    remoteState: packet.state,
    remoteDemand: packet.demand,
    remoteMinRxUs: packet.requiredMinRxIntervalUs,
    remoteDesiredMinTxUs: packet.desiredMinTxIntervalUs,
    remoteDetectMultiplier: packet.detectMultiplier,
    remoteMinEchoRxUs: packet.requiredMinEchoRxIntervalUs,
  }
  if (packet.final && b.s.poll === "Sent") {
    b.s = { ...b.s, poll: "Idle", transmitBasisUs: b.s.desiredMinTxUs, detectBasisUs: b.s.requiredMinRxUs }
  }
  if (b.s.state === "AdminDown") {
    b.rearmTransmitIfFaster()
    return b.discard("LocalAdminDown")
  }
  const local = b.s.state
  if (packet.state === "AdminDown") {
    if (local !== "Down") b.moveTo("Down", BfdDiagnostic.NeighborSignaledSessionDown)
  } else if (local === "Down") {
    if (packet.state === "Down") b.moveTo("Init", BfdDiagnostic.NoDiagnostic)
    else if (packet.state === "Init") b.moveTo("Up", BfdDiagnostic.NoDiagnostic)
  } else if (local === "Init") {
    if (packet.state === "Init" || packet.state === "Up") b.moveTo("Up", BfdDiagnostic.NoDiagnostic)
  } else if (packet.state === "Down") {
    b.moveTo("Down", BfdDiagnostic.NeighborSignaledSessionDown)
  }
  // Answered at once, whatever the timers, the state or the passive role (§6.8.6, last steps).
  if (packet.poll) b.outputs.push({ _tag: "Send", packet: controlPacket(b.s, { poll: false, final: true }) })
  b.armDetect()
  b.rearmTransmitIfFaster()
}

const transmitExpired = (b: Builder, jitterFraction: number): void => {
  if (!b.s.running || b.s.transmitTimerIntervalUs === null) return
  b.s = { ...b.s, jitterFraction, transmitTimerIntervalUs: null }
  b.sendPeriodic()
  b.armTransmit()
}

const detectExpired = (b: Builder): void => {
  if (!b.s.running || !b.s.detectTimerArmed) return
  b.s = { ...b.s, detectTimerArmed: false, remoteDiscriminator: 0, remoteMinEchoRxUs: 0 }
  if (b.s.state === "Init" || b.s.state === "Up") b.moveTo("Down", BfdDiagnostic.ControlDetectionTimeExpired)
}

const reconfigure = (b: Builder, profile: BfdProfile): void => {
  const c = b.s.config
  const config = sessionConfig(profile, c.localDiscriminator, c.multihop, c.echoLoopedBack)
  b.s = withAdvertisedTimers({ ...b.s, config })
  b.rearmTransmitIfFaster()
}

/** A slower Required Min RX is advertised (and polled for) at once; a faster one once the peer answers. */
const echoActive = (b: Builder, active: boolean): void => {
  if (b.s.echoActive === active) return
  b.s = withAdvertisedTimers({ ...b.s, echoActive: active })
  b.rearmTransmitIfFaster()
}

const echoFailed = (b: Builder): void => {
  if (!b.s.running) return
  b.s = { ...b.s, echoActive: false }
  if (b.s.state === "Up") b.moveTo("Down", BfdDiagnostic.EchoFunctionFailed)
  else b.s = withAdvertisedTimers(b.s)
}

/** Total: every input in every state yields a transition; inputs that do not apply change nothing. */
export const step = (state: BfdSession, input: SessionInput): Transition => {
  const b = new Builder(state)
  switch (input._tag) {
    case "Start":
      start(b, input.jitterFraction)
      break
    case "AdminDown":
      adminDown(b)
      break
    case "PacketReceived":
      receive(b, input.packet, input.ttl)
      break
    case "TimerExpired":
      if (input.timer === "Transmit") transmitExpired(b, input.jitterFraction)
      else detectExpired(b)
      break
    case "Reconfigure":
      reconfigure(b, input.profile)
      break
    case "EchoActive":
      echoActive(b, input.active)
      break
    case "EchoFailed":
      echoFailed(b)
      break
    default:
      return input satisfies never
  }
  return b.done()
}

/**
 * Whether a state change means the forwarding path failed, so a client protocol (BGP) should act on it:
 * Up -> Down, unless the neighbour brought its session down on purpose. RFC 5882 §3.2: a session that
 * goes down because the remote end signalled AdminDown must not be treated as a path failure (the
 * neighbour is being reconfigured or shut down, and says so through its client protocol itself).
 */
export const isPathFailure = (from: BfdState, to: BfdState, remoteState: BfdState): boolean =>
  from === "Up" && to === "Down" && remoteState !== "AdminDown"
