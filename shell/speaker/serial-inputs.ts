// Feeds inputs to a handler one at a time, in arrival order. A handler whose outputs cause another
// input (BGP SessionUp -> SendUpdates, BFD Up -> send a packet that times out) enqueues it instead
// of re-entering the pure state machine mid-step.
export class SerialInputs<Input> {
  private readonly pending: Array<Input> = []
  private draining = false
  private readonly handle: (input: Input) => void

  constructor(handle: (input: Input) => void) {
    this.handle = handle
  }

  push(input: Input): void {
    this.pending.push(input)
    if (this.draining) return
    this.draining = true
    try {
      for (let next = this.pending.shift(); next !== undefined; next = this.pending.shift()) this.handle(next)
    } finally {
      this.draining = false
    }
  }
}
