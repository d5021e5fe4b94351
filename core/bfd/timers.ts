// BFD timer arithmetic (RFC 5880 §6.8.2–§6.8.4, §6.8.7): the 1 s floor on the advertised transmit
// interval while a session is not Up, the negotiated transmit interval, the asynchronous-mode
// detection time, and transmit jitter. Values are microseconds as on the wire; the session converts
// to milliseconds only when it asks the shell for a timer. Jitter takes its randomness as a fraction
// in [0, 1) because core has no random source.

/** §6.8.3: bfd.DesiredMinTxInterval is at least one second while the session is not Up. */
export const slowTransmitIntervalUs = 1_000_000

export const advertisedDesiredMinTxUs = (configuredUs: number, up: boolean): number =>
  up ? configuredUs : Math.max(configuredUs, slowTransmitIntervalUs)

/** §6.8.2: never faster than the peer is willing to receive. */
export const transmitIntervalUs = (desiredMinTxUs: number, remoteRequiredMinRxUs: number): number =>
  Math.max(desiredMinTxUs, remoteRequiredMinRxUs)

/**
 * §6.8.4, asynchronous mode: the peer's Detect Mult times the peer's agreed transmit interval (the
 * larger of what we require and what it desires). At least 1 µs, so a timer never fires at once forever.
 */
export const detectionTimeUs = (
  remoteDetectMultiplier: number,
  requiredMinRxUs: number,
  remoteDesiredMinTxUs: number,
): number => Math.max(1, remoteDetectMultiplier * Math.max(requiredMinRxUs, remoteDesiredMinTxUs))

const clampFraction = (fraction: number): number =>
  Number.isFinite(fraction) && fraction > 0 ? Math.min(fraction, 1 - Number.EPSILON) : 0

/**
 * §6.8.7: each interval is cut by a random 0–25%, so it lies in [75%, 100%] of the negotiated one;
 * with a Detect Mult of 1 it must lie in [75%, 90%] so one late packet cannot expire the peer's
 * detection time. Whole microseconds, never below the floor nor above the ceiling.
 */
export const jitteredIntervalUs = (intervalUs: number, detectMultiplier: number, jitterFraction: number): number => {
  const lowerUs = Math.ceil(intervalUs * 0.75)
  const upperUs = Math.max(lowerUs, Math.floor(intervalUs * (detectMultiplier === 1 ? 0.9 : 1)))
  const spanUs = upperUs - lowerUs
  return upperUs - Math.min(spanUs, Math.floor(clampFraction(jitterFraction) * (spanUs + 1)))
}

export const usToMs = (us: number): number => us / 1000
export const msToUs = (ms: number): number => Math.round(ms * 1000)
