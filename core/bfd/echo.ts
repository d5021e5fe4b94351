// The BFD Echo function (RFC 5880 §6.4, §6.8.9; RFC 5881 §4) as a pure machine beside the control
// session (session.ts). It runs while the session is Up, the profile asks for echo mode and the shell
// can send echoes (single hop, IPv4: FRR's bfdd only echoes IPv4), and the neighbour permits it with a
// non-zero Required Min Echo RX Interval. Echoes go out every max(our echo interval, the neighbour's
// Required Min Echo RX Interval), as FRR's bfdd does; the path is declared failed when none of them
// comes back for detectMultiplier times that interval. The control session is told when echo becomes
// active (it then slows the peer's control packets, §6.8.3) and when it failed (it goes Down with
// diagnostic 2, Echo Function Failed). After a failure echo stays off until the session has been down:
// a session brought up again starts a new activation with a new nonce.
import type { BfdProfile } from "../config/config.ts"
import type { EchoPacket } from "./echo-packet.ts"
import { msToUs, usToMs } from "./timers.ts"

export type EchoTimerName = "EchoTransmit" | "EchoDetect"

export interface EchoConfig {
  /** echoMode in the profile, and the shell able to send echoes on this session's path. */
  readonly enabled: boolean
  readonly localDiscriminator: number
  /** The profile's echoInterval: the fastest we send echoes. */
  readonly desiredTxUs: number
  readonly detectMultiplier: number
}

export const echoConfig = (profile: BfdProfile, localDiscriminator: number, canSend: boolean): EchoConfig => ({
  enabled: profile.echoMode && canSend,
  localDiscriminator,
  desiredTxUs: msToUs(profile.echoIntervalMs),
  detectMultiplier: profile.detectMultiplier,
})

export interface EchoState {
  readonly config: EchoConfig
  readonly active: boolean
  /** Echo failed in this Up period: no new activation until the session has left Up. */
  readonly failedUntilDown: boolean
  /** The transmit interval in force while active. */
  readonly intervalUs: number
  readonly nonce: number
  readonly nextSequence: number
}

export const initialEcho = (config: EchoConfig): EchoState => ({
  config,
  active: false,
  failedUntilDown: false,
  intervalUs: 0,
  nonce: 0,
  nextSequence: 0,
})

export type EchoInput =
  /** The control session after a step: whether it is Up and what the neighbour last advertised. */
  | {
    readonly _tag: "ControlChanged"
    readonly up: boolean
    readonly remoteRequiredMinEchoRxUs: number
    /** Unsigned 32-bit randomness, used as the nonce if this input activates echo. */
    readonly nonce: number
    readonly nowUs: number
  }
  | { readonly _tag: "EchoTimerExpired"; readonly timer: "EchoTransmit"; readonly nowUs: number }
  | { readonly _tag: "EchoTimerExpired"; readonly timer: "EchoDetect" }
  | { readonly _tag: "EchoReturned"; readonly packet: EchoPacket; readonly nowUs: number }
  | { readonly _tag: "Reconfigure"; readonly config: EchoConfig; readonly nowUs: number }

export type EchoDiscardReason = "NotActive" | "OtherSession" | "OtherActivation" | "NotSentOrTooOld"

export type EchoOutput =
  | { readonly _tag: "SendEcho"; readonly packet: EchoPacket }
  | { readonly _tag: "StartTimer"; readonly timer: EchoTimerName; readonly durationMs: number }
  | { readonly _tag: "StopTimer"; readonly timer: EchoTimerName }
  | { readonly _tag: "EchoActivated"; readonly intervalUs: number; readonly detectionTimeUs: number }
  | { readonly _tag: "EchoDeactivated" }
  /** No echo came back within the detection time: the control session must go Down (diagnostic 2). */
  | { readonly _tag: "EchoFailed"; readonly detectionTimeUs: number }
  | { readonly _tag: "EchoReturnedInTime"; readonly roundTripUs: number }
  | { readonly _tag: "EchoDiscarded"; readonly reason: EchoDiscardReason }

export interface EchoTransition {
  readonly state: EchoState
  readonly outputs: ReadonlyArray<EchoOutput>
}

/** §6.8.9: never faster than the neighbour will loop back. */
export const echoIntervalUs = (desiredTxUs: number, remoteRequiredMinEchoRxUs: number): number =>
  Math.max(desiredTxUs, remoteRequiredMinEchoRxUs)

export const echoDetectionTimeUs = (s: EchoState): number => Math.max(1, s.config.detectMultiplier * s.intervalUs)

const send = (s: EchoState, nowUs: number, outputs: Array<EchoOutput>): EchoState => {
  outputs.push({ _tag: "SendEcho", packet: { discriminator: s.config.localDiscriminator, nonce: s.nonce, sequence: s.nextSequence, sentAtUs: nowUs } })
  outputs.push({ _tag: "StartTimer", timer: "EchoTransmit", durationMs: usToMs(s.intervalUs) })
  return { ...s, nextSequence: (s.nextSequence + 1) >>> 0 }
}

const armDetect = (s: EchoState, outputs: Array<EchoOutput>): void => {
  outputs.push({ _tag: "StartTimer", timer: "EchoDetect", durationMs: usToMs(echoDetectionTimeUs(s)) })
}

const stop = (outputs: Array<EchoOutput>): void => {
  outputs.push({ _tag: "StopTimer", timer: "EchoTransmit" }, { _tag: "StopTimer", timer: "EchoDetect" })
}

const controlChanged = (s: EchoState, input: Extract<EchoInput, { _tag: "ControlChanged" }>, outputs: Array<EchoOutput>): EchoState => {
  const failedUntilDown = s.failedUntilDown && input.up
  const wanted = s.config.enabled && input.up && input.remoteRequiredMinEchoRxUs > 0 && !failedUntilDown
  if (!wanted) {
    if (!s.active) return { ...s, failedUntilDown }
    stop(outputs)
    outputs.push({ _tag: "EchoDeactivated" })
    return { ...s, active: false, failedUntilDown }
  }
  const intervalUs = echoIntervalUs(s.config.desiredTxUs, input.remoteRequiredMinEchoRxUs)
  if (s.active) {
    if (intervalUs === s.intervalUs) return s
    // A new rate from the neighbour: the next echo at the new rate, the detection time from now on.
    const next = { ...s, intervalUs }
    outputs.push({ _tag: "StartTimer", timer: "EchoTransmit", durationMs: usToMs(intervalUs) })
    armDetect(next, outputs)
    return next
  }
  const activated: EchoState = { ...s, active: true, failedUntilDown: false, intervalUs, nonce: input.nonce >>> 0, nextSequence: 0 }
  outputs.push({ _tag: "EchoActivated", intervalUs, detectionTimeUs: echoDetectionTimeUs(activated) })
  armDetect(activated, outputs)
  return send(activated, input.nowUs, outputs)
}

const returned = (s: EchoState, packet: EchoPacket, nowUs: number, outputs: Array<EchoOutput>): EchoState => {
  const discard = (reason: EchoDiscardReason) => {
    outputs.push({ _tag: "EchoDiscarded", reason })
    return s
  }
  if (!s.active) return discard("NotActive")
  if (packet.discriminator !== s.config.localDiscriminator) return discard("OtherSession")
  if (packet.nonce !== s.nonce) return discard("OtherActivation")
  // Sent by this activation, and among the last detectMultiplier echoes: one sent earlier than that
  // took longer than the detection time to come back and says nothing about the path now.
  const age = (s.nextSequence - packet.sequence) >>> 0
  if (age < 1 || age > s.config.detectMultiplier) return discard("NotSentOrTooOld")
  armDetect(s, outputs)
  outputs.push({ _tag: "EchoReturnedInTime", roundTripUs: Math.max(0, nowUs - packet.sentAtUs) })
  return s
}

const reconfigure = (s: EchoState, config: EchoConfig, outputs: Array<EchoOutput>): EchoState => {
  const next = { ...s, config }
  if (!s.active) return next
  if (!config.enabled) {
    stop(outputs)
    outputs.push({ _tag: "EchoDeactivated" })
    return { ...next, active: false }
  }
  // The rate follows at the next ControlChanged (it needs the neighbour's minimum); the detection
  // time follows the new multiplier from now on.
  armDetect(next, outputs)
  return next
}

/** Total: every input in every state yields a transition. */
export const stepEcho = (state: EchoState, input: EchoInput): EchoTransition => {
  const outputs: Array<EchoOutput> = []
  let next: EchoState
  switch (input._tag) {
    case "ControlChanged":
      next = controlChanged(state, input, outputs)
      break
    case "EchoTimerExpired":
      if (!state.active) next = state
      else if (input.timer === "EchoTransmit") next = send(state, input.nowUs, outputs)
      else {
        stop(outputs)
        outputs.push({ _tag: "EchoFailed", detectionTimeUs: echoDetectionTimeUs(state) })
        next = { ...state, active: false, failedUntilDown: true }
      }
      break
    case "EchoReturned":
      next = returned(state, input.packet, input.nowUs, outputs)
      break
    case "Reconfigure":
      next = reconfigure(state, input.config, outputs)
      break
    default:
      return input satisfies never
  }
  return { state: next, outputs }
}
