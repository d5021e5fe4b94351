// Simulated TCP between two hosts: bytes arrive in order after the link latency. While the path is cut
// or the peer is down, segments wait and are retransmitted (every retransmitTimeoutMs, as an RTO would)
// until the path heals; neither end notices anything but silence, so only protocol timers (BGP hold,
// BFD) detect the failure. A host that restarted has forgotten the connection: the next segment that
// reaches it is answered with a reset, which closes the sender's end. A close is a FIN after the latency.
import type { Connection } from "../speaker/bgp-peer.ts"
import type { SimContext } from "./context.ts"

export interface SimTcpOptions {
  readonly latencyMs: number
  readonly retransmitTimeoutMs?: number
}

export const connectionPair = (ctx: SimContext, a: string, b: string, options: SimTcpOptions): readonly [Connection, Connection] => {
  const closed: Record<string, boolean> = { [a]: false, [b]: false }
  const rtoMs = options.retransmitTimeoutMs ?? 200
  const data: Record<string, Array<(bytes: Uint8Array) => void>> = { [a]: [], [b]: [] }
  const closes: Record<string, Array<() => void>> = { [a]: [], [b]: [] }
  const pending: Record<string, Array<Uint8Array>> = { [a]: [], [b]: [] }
  const retrying: Record<string, boolean> = { [a]: false, [b]: false }
  const lastArrival: Record<string, number> = { [a]: 0, [b]: 0 }
  const epochs: Record<string, number> = { [a]: ctx.network.epoch(a), [b]: ctx.network.epoch(b) }

  const closeEnd = (host: string) => {
    for (const f of closes[host] ?? []) f()
  }
  const reset = (self: string) => {
    if (closed[self]) return
    closed[self] = true
    ctx.scheduler.after(2 * options.latencyMs, () => closeEnd(self))
  }
  const flush = (self: string, other: string): void => {
    const queue = pending[self] ?? []
    if (closed[self] || queue.length === 0) return
    if (!ctx.network.reachable(self, other)) {
      if (retrying[self]) return
      retrying[self] = true
      ctx.scheduler.after(rtoMs, () => {
        retrying[self] = false
        flush(self, other)
      })
      return
    }
    // The peer restarted, or closed its end: the segment is answered with a reset.
    if (ctx.network.epoch(other) !== epochs[other] || closed[other]) return reset(self)
    const chunks = queue.splice(0)
    const at = Math.max(ctx.scheduler.nowMs + options.latencyMs, lastArrival[other] ?? 0)
    lastArrival[other] = at
    ctx.scheduler.at(at, () => {
      if (closed[other]) return
      if (!ctx.network.reachable(self, other)) {
        // Lost in flight: back to the head of the queue, retransmitted later.
        queue.unshift(...chunks)
        flush(self, other)
        return
      }
      for (const chunk of chunks) for (const f of data[other] ?? []) f(chunk)
    })
  }
  const end = (self: string, other: string): Connection => ({
    localAddress: self,
    write: (bytes) => {
      if (closed[self]) return
      pending[self]?.push(bytes.slice())
      flush(self, other)
    },
    close: () => {
      if (closed[self]) return
      closed[self] = true
      closeEnd(self)
      if (!ctx.network.reachable(self, other)) return
      ctx.scheduler.after(options.latencyMs, () => {
        if (closed[other]) return
        closed[other] = true
        closeEnd(other)
      })
    },
    onData: (f) => data[self]?.push(f),
    onClose: (f) => closes[self]?.push(f),
  })
  return [end(a, b), end(b, a)] as const
}
