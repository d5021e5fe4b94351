// A Kubernetes list+watch as an Effect resource: a live cache of objects plus a stream of "something
// changed" signals. The informer (shell/kube/http/list-watch.ts) re-lists on 410 Gone and watches again
// after timeouts and dropped connections, but stops on a failed list or a refused watch; this wrapper
// restarts it with capped exponential backoff, so a restarted API server or a withdrawn permission never
// leaves the controller or speaker blind.
import type { KubernetesObject } from "@kubernetes/client-node"
import { Deferred, Effect, Queue, type Scope, Stream } from "effect"
import { KubeApi, type ListOptions, type ResourceType, type WatchSource } from "./kube-api.ts"

export interface Watched<T extends KubernetesObject> {
  readonly name: string
  /** The current objects (the informer's cache). */
  readonly list: () => ReadonlyArray<T>
  /** One element per change burst; never blocks the informer (a sliding queue of one). */
  readonly changes: Stream.Stream<void>
  /** Completes once the first list has been loaded: reconcile nothing before every cache is synced. */
  readonly synced: Effect.Effect<void>
  /** Errors seen so far (each one triggered a restart). */
  readonly errorCount: () => number
}

export interface WatchOptions {
  readonly initialBackoffMs?: number
  readonly maxBackoffMs?: number
}

/**
 * What the cache keeps of each object, applied in place when it arrives (the informer's cache holds the
 * very object its handlers are given): a reader that needs a few fields drops the rest (shell/kube/views.ts
 * projectService). Without it the cache keeps all but managedFields.
 */
export interface SourceOptions<T extends KubernetesObject> extends WatchOptions {
  readonly project?: (object: T) => void
}

/** A list+watch of `type` through KubeApi (optionally one namespace, a label selector). */
export const watchResource = <T extends KubernetesObject>(
  name: string,
  type: ResourceType,
  options: WatchOptions & ListOptions = {},
): Effect.Effect<Watched<T>, never, Scope.Scope | KubeApi> =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    return yield* watchSource(name, api.informer<T>(type, options), options)
  })

/**
 * What the cache keeps of an object: all of it but metadata.managedFields, the field managers' records,
 * which nothing here reads and which are often the largest part of an object (a Service the controller
 * has written carries three managers). Dropped in place by the first add/update handler: the informer's
 * cache holds the very object its handlers are given.
 */
const slim = (object: KubernetesObject) => {
  if (object.metadata?.managedFields !== undefined) delete object.metadata.managedFields
}

/** Wraps an informer (not started): started now, restarted after errors, stopped with the scope. */
export const watchSource = <T extends KubernetesObject>(
  name: string,
  informer: WatchSource<T>,
  options: SourceOptions<T> = {},
): Effect.Effect<Watched<T>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const changes = yield* Queue.sliding<void>(1)
    const synced = yield* Deferred.make<void>()
    const initialBackoffMs = options.initialBackoffMs ?? 500
    const maxBackoffMs = options.maxBackoffMs ?? 30_000
    let backoffMs = initialBackoffMs
    let errors = 0
    /** One element per failure: each is followed by a restart after the backoff. */
    const restarts = yield* Queue.unbounded<void>()
    let stopped = false
    let failedSinceStart = false

    const signal = () => {
      Queue.offerUnsafe(changes, undefined)
    }
    const start = () => {
      failedSinceStart = false
      informer.start().then(() => {
        if (failedSinceStart || stopped) return
        backoffMs = initialBackoffMs
        Deferred.doneUnsafe(synced, Effect.void)
        signal()
      }, () => undefined)
    }
    const keep = options.project ?? slim
    informer.on("add", keep)
    informer.on("update", keep)
    informer.on("add", signal)
    informer.on("update", signal)
    informer.on("delete", signal)
    informer.on("error", () => {
      errors += 1
      failedSinceStart = true
      if (stopped) return
      Queue.offerUnsafe(restarts, undefined)
    })
    yield* Effect.acquireRelease(
      Effect.sync(start),
      () =>
        Effect.promise(async () => {
          stopped = true
          await informer.stop().catch(() => undefined)
        }),
    )
    // The backoff waits on Effect's clock (a TestClock in tests), in a fiber of the caller's scope: closing
    // the scope interrupts a pending restart before the informer is stopped.
    yield* Effect.forkScoped(Effect.forever(Effect.gen(function* () {
      yield* Queue.take(restarts)
      const delayMs = backoffMs
      backoffMs = Math.min(backoffMs * 2, maxBackoffMs)
      yield* Effect.sleep(delayMs)
      start()
    })))
    return {
      name,
      list: () => informer.list(),
      changes: Stream.fromQueue(changes),
      synced: Deferred.await(synced),
      errorCount: () => errors,
    }
  })
