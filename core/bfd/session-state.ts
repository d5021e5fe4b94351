// The variables of one BFD session (RFC 5880 §6.8.1) and what derives from them alone: the values
// our packets advertise, the values in force while a Poll Sequence is outstanding (§6.8.3), the
// packet we would send (§6.8.7) and whether we may send it periodically. The transitions that change
// these variables live in session.ts.
import type { BfdProfile } from "../config/config.ts"
import { BfdDiagnostic, type BfdState, type ControlPacket, type KnownDiagnostic } from "./packet.ts"
import { advertisedDesiredMinTxUs, msToUs, slowTransmitIntervalUs, transmitIntervalUs } from "./timers.ts"

export interface SessionConfig {
  /** Non-zero and unique on this host; chosen by the shell. */
  readonly localDiscriminator: number
  readonly desiredMinTxUs: number
  readonly requiredMinRxUs: number
  readonly detectMultiplier: number
  /** §6.1: send nothing until the peer has been heard from. */
  readonly passive: boolean
  /**
   * RFC 5883: the peer is several hops away. Packets then arrive with any TTL from minimumTtl up
   * instead of exactly 255 (RFC 5881 §5, single hop).
   */
  readonly multihop: boolean
  /** The lowest received TTL a multihop session accepts (the profile's minimumTtl, FRR's `minimum-ttl`). */
  readonly minimumTtl: number
  /**
   * The Required Min Echo RX Interval we advertise (§6.8.1): 0 forbids the peer to send echoes, so it
   * is non-zero only when our forwarding plane loops them back (the shell checks ip_forward).
   */
  readonly echoRequiredMinRxUs: number
  /** The host forwards the peer's echoes back (the shell found ip_forward on): kept across Reconfigure. */
  readonly echoLoopedBack: boolean
}

export const sessionConfig = (profile: BfdProfile, localDiscriminator: number, multihop = false, echoLoopedBack = false): SessionConfig => ({
  localDiscriminator,
  desiredMinTxUs: msToUs(profile.transmitIntervalMs),
  requiredMinRxUs: msToUs(profile.receiveIntervalMs),
  detectMultiplier: profile.detectMultiplier,
  passive: profile.passiveMode,
  multihop,
  minimumTtl: profile.minimumTtl,
  // FRR's `echo-interval` (what MetalLB writes for echoInterval) sets both echo intervals.
  echoRequiredMinRxUs: profile.echoMode && echoLoopedBack && !multihop ? msToUs(profile.echoIntervalMs) : 0,
  echoLoopedBack,
})

/** Idle: nothing to announce. Pending: values changed, no Poll carried them yet. Sent: a Poll did. */
export type PollSequence = "Idle" | "Pending" | "Sent"

export interface BfdSession {
  readonly config: SessionConfig
  readonly running: boolean
  readonly state: BfdState
  readonly localDiagnostic: KnownDiagnostic
  /** The peer's My Discriminator; 0 until heard from and again after a detection timeout (§6.8.1). */
  readonly remoteDiscriminator: number
  readonly remoteState: BfdState
  readonly remoteDemand: boolean
  /** §6.8.1 starts it at 1 µs so we transmit before the peer has spoken. */
  readonly remoteMinRxUs: number
  readonly remoteDesiredMinTxUs: number
  readonly remoteDetectMultiplier: number
  /** The peer's Required Min Echo RX Interval: 0 forbids our echoes. */
  readonly remoteMinEchoRxUs: number
  /** bfd.DesiredMinTxInterval and bfd.RequiredMinRxInterval: what our packets advertise. */
  readonly desiredMinTxUs: number
  readonly requiredMinRxUs: number
  /** The values in force, which lag the advertised ones while Up until a Poll is answered (§6.8.3). */
  readonly transmitBasisUs: number
  readonly detectBasisUs: number
  readonly poll: PollSequence
  /** The negotiated interval the armed Transmit timer was drawn from; null when not armed. */
  readonly transmitTimerIntervalUs: number | null
  readonly detectTimerArmed: boolean
  /** The latest randomness supplied, reused when a timer must be re-armed outside its own expiry. */
  readonly jitterFraction: number
  /** Our Echo function is active (echo.ts): §6.8.3 lets the control packets slow to 1 s. */
  readonly echoActive: boolean
}

export const initialSession = (config: SessionConfig): BfdSession => {
  const desiredMinTxUs = advertisedDesiredMinTxUs(config.desiredMinTxUs, false)
  return {
    config,
    running: false,
    state: "Down",
    localDiagnostic: BfdDiagnostic.NoDiagnostic,
    remoteDiscriminator: 0,
    remoteState: "Down",
    remoteDemand: false,
    remoteMinRxUs: 1,
    remoteDesiredMinTxUs: 0,
    remoteDetectMultiplier: 0,
    remoteMinEchoRxUs: 0,
    desiredMinTxUs,
    requiredMinRxUs: config.requiredMinRxUs,
    transmitBasisUs: desiredMinTxUs,
    detectBasisUs: config.requiredMinRxUs,
    poll: "Idle",
    transmitTimerIntervalUs: null,
    detectTimerArmed: false,
    jitterFraction: 0,
    echoActive: false,
  }
}

/** Advertised values follow the state and config; §6.8.3 decides when the values in force follow them. */
export const withAdvertisedTimers = (s: BfdSession): BfdSession => {
  const up = s.state === "Up"
  const desiredMinTxUs = advertisedDesiredMinTxUs(s.config.desiredMinTxUs, up)
  // §6.8.3: while echoes detect failures, the peer's control packets need not come faster than 1 s.
  const requiredMinRxUs = s.echoActive ? Math.max(s.config.requiredMinRxUs, slowTransmitIntervalUs) : s.config.requiredMinRxUs
  const changed = desiredMinTxUs !== s.desiredMinTxUs || requiredMinRxUs !== s.requiredMinRxUs
  return {
    ...s,
    desiredMinTxUs,
    requiredMinRxUs,
    // Slowing down before the peer has stretched its detection time would make it declare us dead.
    transmitBasisUs: up && desiredMinTxUs > s.transmitBasisUs ? s.transmitBasisUs : desiredMinTxUs,
    // Shortening our detection time before the peer sends faster would declare it dead.
    detectBasisUs: up && requiredMinRxUs < s.detectBasisUs ? s.detectBasisUs : requiredMinRxUs,
    poll: changed ? "Pending" : s.poll,
  }
}

export const controlPacket = (s: BfdSession, flags: { readonly poll: boolean; readonly final: boolean }): ControlPacket => ({
  diagnostic: s.localDiagnostic,
  state: s.state,
  poll: flags.poll,
  final: flags.final,
  controlPlaneIndependent: false,
  demand: false,
  detectMultiplier: s.config.detectMultiplier,
  myDiscriminator: s.config.localDiscriminator,
  yourDiscriminator: s.remoteDiscriminator,
  desiredMinTxIntervalUs: s.desiredMinTxUs,
  requiredMinRxIntervalUs: s.requiredMinRxUs,
  requiredMinEchoRxIntervalUs: s.config.echoRequiredMinRxUs,
})

/** §6.8.7's conditions for a periodic packet. */
export const mayTransmitPeriodically = (s: BfdSession): boolean =>
  !(s.config.passive && s.remoteDiscriminator === 0)
  && s.remoteMinRxUs !== 0
  && !(s.remoteDemand && s.state === "Up" && s.remoteState === "Up" && s.poll === "Idle")

export const negotiatedTransmitUs = (s: BfdSession): number => transmitIntervalUs(s.transmitBasisUs, s.remoteMinRxUs)
