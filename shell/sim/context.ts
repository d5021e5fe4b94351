// What every simulated actor shares: virtual time, the network, randomness and the trace.
import type { Timers } from "../speaker/timers.ts"
import type { Network, Task } from "./network.ts"
import type { Random } from "./random.ts"
import type { Scheduler } from "./scheduler.ts"

export interface SimContext {
  readonly scheduler: Scheduler<Task>
  readonly network: Network
  readonly random: Random
  /** Appends one line to the event trace (time is added). */
  readonly trace: (who: string, what: string) => void
  /** Virtual timers for the production protocol drivers. */
  readonly timers: Timers
}

export const virtualTimers = (scheduler: Scheduler<Task>): Timers => ({
  set: (delayMs, callback) => scheduler.after(delayMs, callback),
  clear: (handle) => scheduler.cancel(handle as number),
  nowMs: () => scheduler.nowMs,
})
