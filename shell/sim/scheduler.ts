// Virtual time for the simulator: a queue of events ordered by (time, insertion order). Nothing waits
// for real time; `runUntil` jumps from one event to the next, so a minute of cluster life runs in
// milliseconds and the same inputs always run in the same order.

interface Scheduled<E> {
  readonly atMs: number
  readonly seq: number
  readonly event: E
}

export class Scheduler<E> {
  private heap: Array<Scheduled<E>> = []
  private seq = 0
  private cancelled = new Set<number>()
  nowMs = 0

  /** Schedules `event` after `delayMs` (>= 0); returns a handle for `cancel`. */
  after(delayMs: number, event: E): number {
    return this.at(this.nowMs + Math.max(0, delayMs), event)
  }

  at(atMs: number, event: E): number {
    const item = { atMs: Math.max(atMs, this.nowMs), seq: this.seq++, event }
    this.heap.push(item)
    this.siftUp(this.heap.length - 1)
    return item.seq
  }

  cancel(handle: number): void {
    this.cancelled.add(handle)
  }

  get pending(): number {
    return this.heap.length - this.cancelled.size
  }

  /** The next event, advancing the clock to it; undefined when none is due by `untilMs`. */
  next(untilMs: number): E | undefined {
    for (;;) {
      const top = this.heap[0]
      if (top === undefined || top.atMs > untilMs) {
        this.nowMs = Math.max(this.nowMs, Math.min(untilMs, top?.atMs ?? untilMs))
        return undefined
      }
      this.pop()
      if (this.cancelled.delete(top.seq)) continue
      this.nowMs = top.atMs
      return top.event
    }
  }

  private pop(): void {
    const last = this.heap.pop()
    if (last === undefined || this.heap.length === 0) return
    this.heap[0] = last
    this.siftDown(0)
  }

  private less(a: Scheduled<E>, b: Scheduled<E>) {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq)
  }

  private siftUp(i: number): void {
    let at = i
    while (at > 0) {
      const parent = (at - 1) >> 1
      if (!this.less(this.heap[at]!, this.heap[parent]!)) break
      ;[this.heap[at], this.heap[parent]] = [this.heap[parent]!, this.heap[at]!]
      at = parent
    }
  }

  private siftDown(i: number): void {
    let at = i
    for (;;) {
      const left = 2 * at + 1
      const right = left + 1
      let smallest = at
      if (left < this.heap.length && this.less(this.heap[left]!, this.heap[smallest]!)) smallest = left
      if (right < this.heap.length && this.less(this.heap[right]!, this.heap[smallest]!)) smallest = right
      if (smallest === at) return
      ;[this.heap[at], this.heap[smallest]] = [this.heap[smallest]!, this.heap[at]!]
      at = smallest
    }
  }
}
