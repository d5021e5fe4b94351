// Simulated TCP between two hosts: bytes arrive in order after the link latency, or never. A path cut
// or a dead host breaks the connection silently (as a pulled cable does): neither end learns of it
// until a protocol timer (BGP hold, BFD) says so. A close is delivered as a FIN after the latency.
import type { Connection } from "../speaker/bgp-peer.ts"
import type { SimContext } from "./context.ts"

export interface SimTcpOptions {
  readonly latencyMs: number
}

export const connectionPair = (ctx: SimContext, a: string, b: string, options: SimTcpOptions): readonly [Connection, Connection] => {
  let broken = false
  let closed = false
  const data: Record<string, Array<(bytes: Uint8Array) => void>> = { [a]: [], [b]: [] }
  const closes: Record<string, Array<() => void>> = { [a]: [], [b]: [] }
  const lastArrival: Record<string, number> = { [a]: 0, [b]: 0 }
  const end = (self: string, other: string): Connection => ({
    localAddress: self,
    write: (bytes) => {
      if (broken || closed) return
      if (!ctx.network.reachable(self, other)) {
        broken = true
        return
      }
      const copy = bytes.slice()
      const at = Math.max(ctx.scheduler.nowMs + options.latencyMs, lastArrival[other] ?? 0)
      lastArrival[other] = at
      ctx.scheduler.at(at, () => {
        if (broken || !ctx.network.reachable(self, other)) {
          broken = true
          return
        }
        for (const f of data[other] ?? []) f(copy)
      })
    },
    close: () => {
      if (closed) return
      closed = true
      for (const f of closes[self] ?? []) f()
      if (broken || !ctx.network.reachable(self, other)) return
      ctx.scheduler.after(options.latencyMs, () => {
        for (const f of closes[other] ?? []) f()
      })
    },
    onData: (f) => data[self]?.push(f),
    onClose: (f) => closes[self]?.push(f),
  })
  return [end(a, b), end(b, a)] as const
}
