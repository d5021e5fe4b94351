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
