// What one BGP session is configured with, and which configurations the FSM accepts. The values follow
// RFC 4271 §4.2 and §10 (hold time 0 or at least 3 s, keepalive at most one a second), RFC 6793 (ASNs
// are 32-bit, 0 is reserved per RFC 7607), RFC 6286 (a non-zero 32-bit BGP Identifier) and RFC 4724
// (restart time fits 12 bits). The restart backoff is MetalLB's (internal/bgp/native/backoff.go): the
// first restart after a failure is immediate, then 1 s, 2 s, 4 s, ... doubling up to 2 minutes.
import { Data, Result } from "effect"
import type { Family } from "../../net/address.ts"

export interface GracefulRestartConfig {
  /** Advertise the Graceful Restart capability (RFC 4724) and send End-of-RIB after the initial updates. */
  readonly enabled: boolean
  readonly restartTimeSeconds: number
  /** The R bit: this speaker has just restarted. Advertised until the first Established session. */
  readonly restarting: boolean
  /** The F bit advertised for every family: forwarding state survived the restart. */
  readonly forwardingPreserved: boolean
}

export interface BackoffConfig {
  /** The IdleHold time after the second consecutive failure (the first restart is immediate). */
  readonly initialDelayMs: number
  readonly maxDelayMs: number
}

export interface SessionConfig {
  readonly localAsn: number
  /** A fixed ASN, or any ASN equal to ours ("internal") or different from ours ("external"). */
  readonly peerAsn: number | "internal" | "external"
  /** BGP Identifier as an unsigned 32-bit number. */
  readonly localBgpIdentifier: number
  /** 0 (no keepalives, no hold timer) or 3..65535. */
  readonly holdTimeSeconds: number
  /** 0 means "hold time / 3"; otherwise used when smaller than the negotiated hold time / 3 (as FRR). */
  readonly keepaliveTimeSeconds: number
  /** RFC 4271 ConnectRetryTime: how long a dial may take, and the wait in Active before dialling again. */
  readonly connectRetryTimeSeconds: number
  /** Unicast families offered in Multiprotocol capabilities, in preference order; at least one. */
  readonly families: ReadonlyArray<Family>
  readonly gracefulRestart: GracefulRestartConfig
  /**
   * Offer RFC 8950's Extended Next Hop capability for IPv4 unicast with an IPv6 next hop, and use it
   * when the peer offers it too: IPv4 routes then travel in MP_REACH_NLRI with our IPv6 address as
   * the next hop (BGP unnumbered, where the session has no IPv4 address). Absent means no.
   */
  readonly extendedNextHop?: boolean
  /** Never dial: wait in Active for the peer to connect. */
  readonly passive: boolean
  readonly backoff: BackoffConfig
}

/** MetalLB's native speaker retries after 0, 1 s, 2 s, ... doubling, capped at 2 minutes. */
export const metallbBackoff: BackoffConfig = { initialDelayMs: 1000, maxDelayMs: 120_000 }

export class InvalidSessionConfig extends Data.TaggedError("InvalidSessionConfig")<{
  readonly field: keyof SessionConfig
  readonly reason: string
}> {
  override get message(): string {
    return `invalid BGP session configuration: ${this.field}: ${this.reason}`
  }
}

const isUint = (n: number, max: number) => Number.isInteger(n) && n >= 0 && n <= max
const isAsn = (n: number) => isUint(n, 0xffff_ffff) && n !== 0

const problem = (c: SessionConfig): InvalidSessionConfig | undefined => {
  const bad = (field: keyof SessionConfig, reason: string) => new InvalidSessionConfig({ field, reason })
  if (!isAsn(c.localAsn)) return bad("localAsn", "must be an ASN in 1..4294967295")
  if (typeof c.peerAsn === "number" && !isAsn(c.peerAsn)) return bad("peerAsn", "must be an ASN in 1..4294967295")
  if (!isUint(c.localBgpIdentifier, 0xffff_ffff) || c.localBgpIdentifier === 0) {
    return bad("localBgpIdentifier", "must be a non-zero unsigned 32-bit number")
  }
  if (!isUint(c.holdTimeSeconds, 0xffff) || c.holdTimeSeconds === 1 || c.holdTimeSeconds === 2) {
    return bad("holdTimeSeconds", "must be 0 or 3..65535")
  }
  if (!isUint(c.keepaliveTimeSeconds, 0xffff)) return bad("keepaliveTimeSeconds", "must be 0..65535")
  if (!isUint(c.connectRetryTimeSeconds, 0xffff) || c.connectRetryTimeSeconds === 0) {
    return bad("connectRetryTimeSeconds", "must be 1..65535")
  }
  if (c.families.length === 0) return bad("families", "at least one family is needed")
  if (new Set(c.families).size !== c.families.length) return bad("families", "a family is listed twice")
  if (!isUint(c.gracefulRestart.restartTimeSeconds, 0xfff)) return bad("gracefulRestart", "restartTimeSeconds must be 0..4095")
  const { initialDelayMs, maxDelayMs } = c.backoff
  if (!isUint(initialDelayMs, Number.MAX_SAFE_INTEGER) || !isUint(maxDelayMs, Number.MAX_SAFE_INTEGER) || maxDelayMs < initialDelayMs) {
    return bad("backoff", "delays must be non-negative integers with initialDelayMs <= maxDelayMs")
  }
  return undefined
}

export const validateSessionConfig = (config: SessionConfig): Result.Result<SessionConfig, InvalidSessionConfig> => {
  const error = problem(config)
  return error === undefined ? Result.succeed(config) : Result.fail(error)
}

/** The IdleHold time before the automatic restart that follows `failures` consecutive failures (>= 1). */
export const idleHoldDelayMs = (backoff: BackoffConfig, failures: number): number => {
  if (failures <= 1) return 0
  // Capping the exponent keeps the product finite; the cap on the delay does the rest.
  const doubled = backoff.initialDelayMs * 2 ** Math.min(failures - 2, 60)
  return Math.min(doubled, backoff.maxDelayMs)
}
