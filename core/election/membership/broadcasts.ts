// Which updates ride on the next outgoing message: SWIM's infection-style dissemination (Das et al. 2002,
// §4.1) with memberlist's transmit-limited queue. Each update is piggybacked at most `limit` times
// (lambda * log(n), see config.ts), the least-sent first and, among equals, the newest first, so a fresh
// event overtakes old news; a newer statement about a member replaces the queued one. A message carries
// as many as fit in a byte budget, so every datagram stays below one Ethernet MTU.
import { updateSize } from "./codec.ts"
import type { Update } from "./messages.ts"

export interface Broadcast {
  readonly update: Update
  readonly transmits: number
  /** Insertion order: larger is newer. */
  readonly order: number
}

export interface BroadcastQueue {
  readonly items: ReadonlyArray<Broadcast>
  readonly nextOrder: number
}

export const emptyQueue: BroadcastQueue = { items: [], nextOrder: 0 }

export const enqueue = (queue: BroadcastQueue, update: Update): BroadcastQueue => ({
  items: [...queue.items.filter((b) => b.update.name !== update.name), { update, transmits: 0, order: queue.nextOrder }],
  nextOrder: queue.nextOrder + 1,
})

export interface Taken {
  readonly updates: ReadonlyArray<Update>
  readonly queue: BroadcastQueue
}

/**
 * Picks updates for one message within `budgetBytes`. `first` (e.g. the receiver's own suspicion, so that
 * it can refute at once) goes ahead of the queue and does not count as a transmission of it.
 */
export const take = (
  queue: BroadcastQueue,
  limit: number,
  budgetBytes: number,
  first: ReadonlyArray<Update> = [],
): Taken => {
  const updates: Array<Update> = []
  let left = budgetBytes
  for (const u of first) {
    const size = updateSize(u)
    if (size > left) break
    updates.push(u)
    left -= size
  }
  // The steady state: nothing queued, so the queue stays the very same object.
  if (queue.items.length === 0) return { updates, queue }
  const sent = new Set<number>()
  const ranked = [...queue.items].sort((a, b) => a.transmits - b.transmits || b.order - a.order)
  for (const b of ranked) {
    if (updates.some((u) => u.name === b.update.name)) continue
    const size = updateSize(b.update)
    if (size > left) continue
    updates.push(b.update)
    sent.add(b.order)
    left -= size
  }
  const items = queue.items.flatMap((b) => {
    if (!sent.has(b.order)) return [b]
    return b.transmits + 1 >= limit ? [] : [{ ...b, transmits: b.transmits + 1 }]
  })
  return { updates, queue: { items, nextOrder: queue.nextOrder } }
}
