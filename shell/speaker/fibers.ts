// The port through which callback-style drivers (sockets' events, BgpPeer's transport callbacks, timers)
// start Effect work: every fiber they start is a fiber of the owner's scope (a FiberSet in it), so
// closing the program's scope (SIGTERM) interrupts what is still running, and every resource they open
// lives in a scope forked from the owner's, closed with it if nobody closed it first. No driver calls
// Effect.run* on its own.
import { Effect, Exit, type Fiber, FiberSet, Scope } from "effect"

export interface Fibers {
  /** Starts `effect` as a fiber of the owner's scope (interrupted when it closes). */
  readonly fork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  /** The same, for a Promise-style caller: resolves with the result, rejects with the failure. */
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<A>
  /** Runs a synchronous effect (a datagram sent) at once, in the owner's context, and returns its exit. */
  readonly now: <A, E>(effect: Effect.Effect<A, E>) => Exit.Exit<A, E>
  /** A synchronous read that cannot fail (a counter), for a synchronous caller (a metrics scrape). */
  readonly read: <A>(effect: Effect.Effect<A>) => A
  /** A scope for one resource (a socket, a link), closed by its owner or else with the owner's scope. */
  readonly child: () => Scope.Closeable
  /** Closes such a scope; never rejects (once the owner's scope is closed, the child is closed already). */
  readonly close: (scope: Scope.Closeable) => Promise<void>
}

/**
 * The fibers of the current scope. Make it before the finalizers that still use it (a hand-over): it
 * closes after them, interrupting the fibers left, then closing the resources' scopes.
 */
export const makeFibers: Effect.Effect<Fibers, never, Scope.Scope> = Effect.gen(function* () {
  // The resources' scopes hang from one forked here, not from the owner's directly: a child opened
  // later (a session's socket) would otherwise close before finalizers added earlier (the speaker's
  // hand-over, which still sends Cease and AdminDown on them). Closing: fibers first, then sockets.
  const resources = yield* Scope.fork(yield* Effect.scope)
  const set = yield* FiberSet.make()
  const fork = yield* FiberSet.runtime(set)<never>()
  const run = yield* FiberSet.runtimePromise(set)<never>()
  const context = yield* Effect.context<never>()
  return {
    fork,
    run,
    now: (effect) => Effect.runSyncExitWith(context)(effect),
    read: (effect) => Effect.runSyncWith(context)(effect),
    child: () => Scope.forkUnsafe(resources),
    close: (child) => run(Scope.close(child, Exit.void)).catch(() => undefined),
  }
})
