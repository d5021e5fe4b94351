// Runs a back-to-back harness in virtual time: the subclass says what happens next, this runs it.
export interface NextEvent {
  readonly atMs: number
  readonly run: () => void
}

export abstract class VirtualTimeRunner {
  nowMs = 0

  protected abstract nextEvent(): NextEvent | undefined

  /** Runs every event due up to `untilMs` (inclusive), in time order. */
  runUntil(untilMs: number): void {
    for (;;) {
      const next = this.nextEvent()
      if (next === undefined || next.atMs > untilMs) break
      this.nowMs = next.atMs
      next.run()
    }
    this.nowMs = Math.max(this.nowMs, untilMs)
  }

  /** Runs until `done` holds or `limitMs` passes; returns whether it held. */
  runUntilTrue(done: () => boolean, limitMs: number): boolean {
    while (!done()) {
      const next = this.nextEvent()
      if (next === undefined || next.atMs > limitMs) return false
      this.nowMs = next.atMs
      next.run()
    }
    return true
  }
}
