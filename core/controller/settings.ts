// The controller loop's timings, shared by the real shell (shell/controller/) and the simulator
// (shell/sim/controller-actor.ts), so the simulator's figures describe the product's behaviour.

/** A pass runs this long after the first change of a burst (not a quiet period: a stream of changes must not starve it). */
export const passDelayMs = 100

/** Leadership and anything a watch missed are picked up at least this often. */
export const resyncIntervalMs = 2_000

/** Every service is recomputed at least this often, settled or not. */
export const fullPassIntervalMs = 30_000

/** Service writes in flight at once (one per service at a time). */
export const writeConcurrency = 16
