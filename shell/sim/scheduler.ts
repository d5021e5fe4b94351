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
      if (this.cancelled.size > 0 && this.cancelled.delete(top.seq)) continue
      this.nowMs = top.atMs
      return top.event
    }
  }

  private pop(): void {
    const last = this.heap.pop()
    if (last === undefined || this.heap.length === 0) return
    this.siftDown(last)
  }

  // Sifting moves a hole and writes the item once where it belongs (no swaps): this runs for every event.
  private siftUp(i: number): void {
    const heap = this.heap
    const item = heap[i]!
    let at = i
    while (at > 0) {
      const parent = (at - 1) >> 1
      const p = heap[parent]!
      if (p.atMs < item.atMs || (p.atMs === item.atMs && p.seq < item.seq)) break
      heap[at] = p
      at = parent
    }
    heap[at] = item
  }

  /** Puts `item` in the root's place and sifts it down. */
  private siftDown(item: Scheduled<E>): void {
    const heap = this.heap
    const n = heap.length
    let at = 0
    for (;;) {
      const left = 2 * at + 1
      if (left >= n) break
      const right = left + 1
      let child = left
      let c = heap[left]!
      if (right < n) {
        const r = heap[right]!
        if (r.atMs < c.atMs || (r.atMs === c.atMs && r.seq < c.seq)) {
          child = right
          c = r
        }
      }
      if (item.atMs < c.atMs || (item.atMs === c.atMs && item.seq < c.seq)) break
      heap[at] = c
      at = child
    }
    heap[at] = item
  }
}
