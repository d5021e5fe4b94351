// Leader election on a coordination.k8s.io Lease, as client-go's leaderelection decides it: take the
// lease when it is free or its holder has not renewed it for leaseDurationSeconds, renew it while we
// hold it, and follow otherwise. Expiry is judged by when *we* last saw the lease change (not by the
// holder's clock), so clock skew between nodes cannot make two replicas lead at once. The shell reads
// and writes the Lease with optimistic concurrency (resourceVersion); a lost race is just a retry.

export interface LeaseRecord {
  readonly holder?: string
  /** RFC 3339 renew time as written by the holder; compared for change only. */
  readonly renewTime?: string
  readonly leaseDurationSeconds: number
  readonly transitions: number
}

export interface LeaderConfig {
  readonly identity: string
  readonly leaseDurationSeconds: number
}

export interface LeaderState {
  /** The record as last seen, and when (our clock). */
  readonly observed?: { readonly record: LeaseRecord; readonly atMs: number }
}

export type LeaderDecision =
  | { readonly _tag: "Create"; readonly record: LeaseRecord }
  | { readonly _tag: "Acquire"; readonly record: LeaseRecord }
  | { readonly _tag: "Renew"; readonly record: LeaseRecord }
  | { readonly _tag: "Follow"; readonly holder: string; readonly expiresInMs: number }

export const defaultLeaseDurationSeconds = 15

/**
 * How often the election loop runs, from the lease duration. Leading ends when no renewal succeeded for
 * renewDeadlineMs (2/3 of the lease), so a replica that stops leading has stopped acting before another can
 * take the lease. A follower (or a leader whose renewal failed) tries every retryPeriodMs (1/7 of the
 * lease, at least 500 ms). A leader whose renewal succeeded renews again after renewIntervalMs (1/3 of the
 * lease, 5 s at 15 s): client-go renews every retry period instead, but an idle controller's CPU is
 * almost all renewals (issue 17: ~0.2 s per minute at 2 s), and a failed renewal still gets two retries
 * before the deadline. A follower judges expiry from when it saw the Lease change, so renewing less often
 * does not make failover slower.
 */
export interface LeaderTimings {
  readonly renewDeadlineMs: number
  readonly retryPeriodMs: number
  readonly renewIntervalMs: number
}

export const leaderTimings = (leaseDurationSeconds: number): LeaderTimings => ({
  renewDeadlineMs: Math.round(leaseDurationSeconds * 2000 / 3),
  retryPeriodMs: Math.max(500, Math.round(leaseDurationSeconds * 1000 / 7)),
  renewIntervalMs: Math.round(leaseDurationSeconds * 1000 / 3),
})

/** The wait before the next round: `renewed` when this round's write made or kept us the leader. */
export const nextRoundInMs = (timings: LeaderTimings, renewed: boolean): number =>
  renewed ? Math.max(timings.retryPeriodMs, Math.min(timings.renewIntervalMs, timings.renewDeadlineMs - 2 * timings.retryPeriodMs)) : timings.retryPeriodMs

const sameRecord = (a: LeaseRecord, b: LeaseRecord) => a.holder === b.holder && a.renewTime === b.renewTime && a.transitions === b.transitions

/** `lease` is the current Lease (undefined when it does not exist); `renewTime` is what we would write now. */
export const decide = (
  state: LeaderState,
  lease: LeaseRecord | undefined,
  nowMs: number,
  renewTime: string,
  config: LeaderConfig,
): { readonly state: LeaderState; readonly decision: LeaderDecision } => {
  const ours = (transitions: number): LeaseRecord => ({
    holder: config.identity,
    renewTime,
    leaseDurationSeconds: config.leaseDurationSeconds,
    transitions,
  })
  if (lease === undefined) return { state, decision: { _tag: "Create", record: ours(0) } }
  const observed = state.observed !== undefined && sameRecord(state.observed.record, lease) ? state.observed : { record: lease, atMs: nowMs }
  const next = { observed }
  if (lease.holder === config.identity) return { state: next, decision: { _tag: "Renew", record: ours(lease.transitions) } }
  const expiresAtMs = observed.atMs + lease.leaseDurationSeconds * 1000
  if (lease.holder === undefined || lease.holder === "" || nowMs >= expiresAtMs) {
    return { state: next, decision: { _tag: "Acquire", record: ours(lease.transitions + 1) } }
  }
  return { state: next, decision: { _tag: "Follow", holder: lease.holder, expiresInMs: expiresAtMs - nowMs } }
}
