// Timers for the protocol drivers: real ones in a process, virtual ones in the simulator. The drivers
// never call setTimeout directly, so the simulator runs the very same driver code in virtual time.
export interface Timers {
  readonly set: (delayMs: number, callback: () => void) => unknown
  readonly clear: (handle: unknown) => void
  readonly nowMs: () => number
}

export const realTimers: Timers = {
  set: (delayMs, callback) => setTimeout(callback, delayMs),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  nowMs: () => Date.now(),
}
