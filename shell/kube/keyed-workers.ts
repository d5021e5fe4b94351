// Work per key (one Service), done by a fixed number of workers, latest job wins: a job offered while
// an older one for the same key still waits replaces it (merged, so nothing the older one carried is
// lost), and a key is never worked on by two workers at once, so writes for one object stay in
// order. This lets the controller's reconcile pass finish in milliseconds and hand its writes over,
// instead of holding the next pass until thousands of API calls have returned.
import { Effect, Queue, type Scope } from "effect"

export interface KeyedWorkers<A> {
  readonly offer: (key: string, job: A) => void
  /** Drops every job not yet started (leadership lost: the writes are no longer ours to make). */
  readonly clear: () => void
  /** Jobs waiting or running. */
  readonly size: () => number
}

export const keyedWorkers = <A>(
  concurrency: number,
  run: (key: string, job: A) => Effect.Effect<void>,
  merge: (older: A, newer: A) => A = (_older, newer) => newer,
): Effect.Effect<KeyedWorkers<A>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const keys = yield* Queue.unbounded<string>()
    const pending = new Map<string, A>()
    const queued = new Set<string>()
    const running = new Set<string>()

    const enqueue = (key: string) => {
      if (queued.has(key) || running.has(key)) return
      queued.add(key)
      Queue.offerUnsafe(keys, key)
    }
    const worker = Effect.gen(function* () {
      const key = yield* Queue.take(keys)
      queued.delete(key)
      const job = pending.get(key)
      if (job === undefined) return
      pending.delete(key)
      running.add(key)
      yield* run(key, job).pipe(
        Effect.catchCause((cause) => Effect.logError(`work for ${key} failed`, cause)),
        Effect.ensuring(Effect.sync(() => {
          running.delete(key)
          if (pending.has(key)) enqueue(key)
        })),
      )
    }).pipe(Effect.forever)
    for (let i = 0; i < concurrency; i++) yield* Effect.forkScoped(worker)

    return {
      offer: (key, job) => {
        const older = pending.get(key)
        pending.set(key, older === undefined ? job : merge(older, job))
        enqueue(key)
      },
      clear: () => pending.clear(),
      size: () => pending.size + running.size,
    }
  })
