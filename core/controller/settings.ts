// The controller loop's timings, shared by the real shell (shell/controller/) and the simulator
// (shell/sim/controller-actor.ts), so the simulator's figures describe the product's behaviour.

/** A pass runs this long after the first change of a burst (not a quiet period: a stream of changes must not starve it). */
export const passDelayMs = 100

/** Leadership and failed writes are looked at this often (the real shell runs no pass unless one of them asks). */
export const resyncIntervalMs = 2_000

/**
 * The safety net: every service is recomputed (and the real shell compares its whole caches with what it
 * fed) at least this often, settled or not. Passes are otherwise driven by what changed (the informers'
 * handlers see every change, re-lists included), and a pass over the changed services decides what a full
 * one would (a property in spec/core/controller/loop.test.ts), so this only bounds how long an unforeseen
 * miss could last. A full pass at 20,000 Services costs 0.6-0.9 s of CPU (measured at load 12): every
 * 30 min that is ~0.03 s per minute of idle, where the issue allows 0.1 (MetalLB has no such pass).
 */
export const fullPassIntervalMs = 1_800_000

/** Service writes in flight at once (one per service at a time). */
export const writeConcurrency = 16
