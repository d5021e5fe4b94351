// Leader election on a coordination.k8s.io Lease (decisions in core/controller/leader.ts): read the
// Lease, decide, write it back with its resourceVersion (a lost race is just a 409 and a retry), every
// round (core/controller/leader.ts's leaderTimings: a renewed leader waits its renew interval, anyone else
// the retry period). Leading ends when a renewal has not succeeded within the renew deadline, so two
// replicas never both act for longer than the lease allows. While leading, a renewal is one request, as
// client-go's fast path makes it: the Lease as our last write returned it is what we renew, with its
// resourceVersion (another writer since then makes it a 409, and the next round reads the Lease again);
// an idle controller's cost is mostly these renewals.
import type { V1Lease } from "@kubernetes/client-node"
import { Effect, Ref, type Scope } from "effect"
import { decide, type LeaderState, leaderTimings, type LeaseRecord, nextRoundInMs } from "../../core/controller/leader.ts"
import { apiErrorText } from "./api-error.ts"
import { KubeApi, microTime, resources } from "./kube-api.ts"

export interface LeaderOptions {
  readonly namespace: string
  readonly name: string
  readonly identity: string
  readonly leaseDurationSeconds?: number
  /** Each defaults to leaderTimings(leaseDurationSeconds)'s. */
  readonly renewDeadlineMs?: number
  readonly retryPeriodMs?: number
  readonly renewIntervalMs?: number
}

const recordOf = (lease: V1Lease): LeaseRecord => ({
  ...(lease.spec?.holderIdentity === undefined ? {} : { holder: lease.spec.holderIdentity }),
  ...(lease.spec?.renewTime === undefined ? {} : { renewTime: new Date(lease.spec.renewTime as unknown as string).toISOString() }),
  leaseDurationSeconds: lease.spec?.leaseDurationSeconds ?? 15,
  transitions: lease.spec?.leaseTransitions ?? 0,
})

/** Runs the election in the background; the returned effect says whether this replica leads now. */
export const electLeader = (options: LeaderOptions): Effect.Effect<Effect.Effect<boolean>, never, Scope.Scope | KubeApi> =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const ref = { namespace: options.namespace, name: options.name }
    const leaseDurationSeconds = options.leaseDurationSeconds ?? 15
    const defaults = leaderTimings(leaseDurationSeconds)
    const timings = {
      renewDeadlineMs: options.renewDeadlineMs ?? defaults.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs ?? defaults.retryPeriodMs,
      renewIntervalMs: options.renewIntervalMs ?? defaults.renewIntervalMs,
    }
    const state = yield* Ref.make<LeaderState>({})
    const leadingUntil = yield* Ref.make(0)
    /** The Lease as our last successful write returned it; undefined once a round failed or followed. */
    let written: V1Lease | undefined
    /** One round; true when its write made or kept us the leader. */
    const round = Effect.gen(function* () {
      const read = api.get<V1Lease>(resources.leases, ref).pipe(
        Effect.map((lease): V1Lease | undefined => lease),
        Effect.catchIf((error) => error.status === 404, () => Effect.succeed(undefined)),
      )
      const current = written !== undefined && Date.now() < (yield* Ref.get(leadingUntil)) ? written : yield* read
      written = undefined
      const now = Date.now()
      const { state: next, decision } = decide(yield* Ref.get(state), current === undefined ? undefined : recordOf(current), now, new Date(now).toISOString(), {
        identity: options.identity,
        leaseDurationSeconds,
      })
      yield* Ref.set(state, next)
      if (decision._tag === "Follow") return false
      const spec = {
        holderIdentity: decision.record.holder ?? options.identity,
        leaseDurationSeconds,
        renewTime: microTime(now),
        leaseTransitions: decision.record.transitions,
        ...(decision._tag === "Renew" ? {} : { acquireTime: microTime(now) }),
      }
      // Both calls answer with the Lease as stored (its new resourceVersion): the next renewal's base.
      if (decision._tag === "Create") {
        written = (yield* api.create(resources.leases, options.namespace, { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: options.name }, spec })) as unknown as V1Lease
      } else {
        const base = current ?? {}
        written = (yield* api.replace(resources.leases, ref, { ...base, metadata: { ...base.metadata, name: options.name }, spec: { ...base.spec, ...spec } })) as unknown as V1Lease
      }
      if (decision._tag !== "Renew") yield* Effect.logInfo(`leader election: ${options.identity} now leads ${options.name}`)
      yield* Ref.set(leadingUntil, now + timings.renewDeadlineMs)
      return true
    })
    yield* round.pipe(
      Effect.catch((error) => Effect.as(Effect.logDebug(`leader election round failed (retrying): ${apiErrorText(error)}`), false)),
      Effect.flatMap((renewed) => Effect.sleep(`${nextRoundInMs(timings, renewed)} millis`)),
      Effect.forever,
      Effect.forkScoped,
    )
    return Effect.map(Ref.get(leadingUntil), (until) => Date.now() < until)
  })
