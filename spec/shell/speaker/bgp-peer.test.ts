// Two BgpPeer drivers wired back to back through an in-memory byte pipe: the whole chain (FSM, codec,
// framing, RIB planner, timers) without a network. Interop with real routers is in bgp-interop.test.ts.
import { describe, expect, it } from "vitest"
import type { Message } from "../../../core/bgp/messages.ts"
import type { DesiredRoute } from "../../../core/bgp/rib.ts"
import type { SessionConfig } from "../../../core/bgp/session.ts"
import { decode, frame } from "../../../core/bgp/codec/index.ts"
import { makePrefix } from "../../../core/net/prefix.ts"
import { BgpPeer, type Connection } from "../../../shell/speaker/bgp-peer.ts"
import { eventually } from "../../support/netns.ts"
import { Result } from "effect"

/** Two connected ends; bytes are delivered asynchronously, in order, and optionally tapped. */
const pipe = (tap?: (fromA: boolean, bytes: Uint8Array) => void): [Connection, Connection] => {
  const listeners = { a: [] as Array<(b: Uint8Array) => void>, b: [] as Array<(b: Uint8Array) => void> }
  const closers = { a: [] as Array<() => void>, b: [] as Array<() => void> }
  let closed = false
  const close = () => {
    if (closed) return
    closed = true
    queueMicrotask(() => [...closers.a, ...closers.b].forEach((f) => f()))
  }
  const end = (self: "a" | "b", other: "a" | "b", localAddress: string): Connection => ({
    write: (bytes) => {
      if (closed) return
      tap?.(self === "a", bytes)
      const copy = bytes.slice()
      setTimeout(() => { if (!closed) listeners[other].forEach((f) => f(copy)) }, 1)
    },
    close,
    onData: (f) => listeners[self].push(f),
    onClose: (f) => closers[self].push(f),
    localAddress,
  })
  return [end("a", "b", "192.0.2.1"), end("b", "a", "192.0.2.2")]
}

const config = (localAsn: number, peerAsn: number, passive: boolean, id: number): SessionConfig => ({
  localAsn,
  peerAsn,
  localBgpIdentifier: id,
  holdTimeSeconds: 9,
  keepaliveTimeSeconds: 0,
  connectRetryTimeSeconds: 5,
  families: ["ipv4", "ipv6"],
  gracefulRestart: { enabled: false, restartTimeSeconds: 120, restarting: false, forwardingPreserved: false },
  passive,
  backoff: { initialDelayMs: 100, maxDelayMs: 1000 },
})

const routes = (n: number): ReadonlyArray<DesiredRoute> =>
  Array.from({ length: n }, (_, i) => ({ prefix: makePrefix("ipv4", 0xc6120000n + BigInt(i), 32), communities: [] }))

describe("BgpPeer driver back to back", () => {
  it("establishes, sends the routes in few UPDATEs, withdraws, and shuts down with a Cease", async () => {
    const fromA: Array<Message> = []
    let buffer: Uint8Array = new Uint8Array(0)
    const [a, b] = pipe((isA, bytes) => {
      if (!isA) return
      const joined = new Uint8Array(buffer.length + bytes.length)
      joined.set(buffer)
      joined.set(bytes, buffer.length)
      const framed = frame(joined)
      if (Result.isFailure(framed)) throw new Error(framed.failure.reason)
      buffer = framed.success.rest
      for (const m of framed.success.messages) {
        const d = decode(m, { fourOctetAsn: true })
        if (Result.isSuccess(d)) fromA.push(d.success)
      }
    })
    const passive = new BgpPeer({ name: "router", session: config(64501, 64500, true, 2), transport: { connect: (_ok, failed) => queueMicrotask(() => failed("passive")) } })
    const active = new BgpPeer({ name: "speaker", session: config(64500, 64501, false, 1), transport: { connect: (connected) => queueMicrotask(() => { passive.accept(b); connected(a) }) } })
    passive.start()
    active.setRoutes(routes(1000))
    active.start()
    await eventually("both Established", async () => (active.state === "Established" && passive.state === "Established") || undefined, { timeoutMs: 5_000, intervalMs: 20 })
    await eventually("all routes sent", async () => (fromA.filter((m) => m._tag === "Update").flatMap((m) => (m._tag === "Update" ? m.nlri : [])).length === 1000) || undefined, { timeoutMs: 5_000, intervalMs: 20 })
    expect(active.updatesSent).toBe(2)
    expect(active.negotiated).toMatchObject({ holdTimeSeconds: 9, keepaliveTimeSeconds: 3, fourOctetAsn: true, families: ["ipv4", "ipv6"], peerAsn: 64501 })
    active.setRoutes(routes(10))
    const withdrawn = () => fromA.flatMap((m) => (m._tag === "Update" ? m.withdrawn : [])).length
    await eventually("990 withdrawals", async () => withdrawn() === 990 || undefined, { timeoutMs: 5_000, intervalMs: 20 })
    // 990 /32 withdrawals are 4950 bytes: two UPDATEs.
    expect(active.updatesSent).toBe(4)
    active.stop()
    await eventually("the router sees the session end", async () => passive.state !== "Established" || undefined, { timeoutMs: 5_000, intervalMs: 20 })
    const last = fromA[fromA.length - 1]
    expect(last).toMatchObject({ _tag: "Notification", code: 6, subcode: 2 })
    passive.stop()
  })

  it("cancels a dial the session gives up on (ConnectRetry, stop) instead of leaving it to its timeout", async () => {
    const dials: Array<{ cancelled: boolean }> = []
    const peer = new BgpPeer({
      name: "speaker",
      session: { ...config(64500, 64501, false, 1), connectRetryTimeSeconds: 1 },
      // A peer that never answers: the dial would hang until the transport's own timeout.
      transport: {
        connect: () => {
          const dial = { cancelled: false }
          dials.push(dial)
          return () => { dial.cancelled = true }
        },
      },
    })
    peer.start()
    expect(dials).toHaveLength(1)
    await eventually("the ConnectRetry timer's second dial", async () => (dials.length === 2 ? true : undefined), { timeoutMs: 3_000, intervalMs: 20 })
    expect(dials.map((d) => d.cancelled)).toEqual([true, false])
    peer.stop()
    expect(dials.map((d) => d.cancelled)).toEqual([true, true])
  })
})
