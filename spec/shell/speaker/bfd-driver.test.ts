// Two BfdDriver instances through an in-memory datagram link with real timers: they come Up, and
// cutting the link takes the receiving side Down within the detection time (3 x 300 ms) as a path
// failure; a neighbour that stops (AdminDown) takes it Down too, but not as a path failure (RFC 5882).
import { describe, expect, it } from "vitest"
import type { BfdState } from "../../../core/bfd/packet.ts"
import { isPathFailure } from "../../../core/bfd/session.ts"
import type { BfdProfile } from "../../../core/config/config.ts"
import { BfdDriver, type DatagramLink } from "../../../shell/speaker/bfd-driver.ts"
import { eventually } from "../../support/netns.ts"

const profile: BfdProfile = { name: "default", receiveIntervalMs: 300, transmitIntervalMs: 300, detectMultiplier: 3, echoIntervalMs: 50, echoMode: false, passiveMode: false, minimumTtl: 254 }

const links = () => {
  const state = { cut: false }
  const listeners: Record<"a" | "b", Array<(bytes: Uint8Array, ttl: number | undefined) => void>> = { a: [], b: [] }
  const end = (self: "a" | "b", other: "a" | "b"): DatagramLink => ({
    send: (bytes) => { if (!state.cut) setTimeout(() => listeners[other].forEach((f) => f(bytes, 255)), 1) },
    onReceive: (f) => listeners[self].push(f),
  })
  return { a: end("a", "b"), b: end("b", "a"), state }
}

describe("BfdDriver back to back", () => {
  it("comes Up, and goes Down within the detection time when the link is cut", async () => {
    const { a, b, state } = links()
    let downAtMs: number | undefined
    const left = new BfdDriver({ profile, localDiscriminator: 1, link: a, events: { onStateChanged: (from, to, _, remoteState) => { if (isPathFailure(from, to, remoteState)) downAtMs = Date.now() } } })
    const right = new BfdDriver({ profile, localDiscriminator: 2, link: b })
    left.start()
    right.start()
    await eventually("both Up", async () => (left.state === "Up" && right.state === "Up") || undefined, { timeoutMs: 5_000, intervalMs: 20 })
    await new Promise((r) => setTimeout(r, 1_000))
    const cutAtMs = Date.now()
    state.cut = true
    await eventually("left Down", async () => left.state === "Down" || undefined, { timeoutMs: 3_000, intervalMs: 10 })
    const detectionMs = (downAtMs ?? Date.now()) - cutAtMs
    console.log(`BFD detection after cutting the link: ${detectionMs} ms (limit 3 x 300 ms)`)
    // Detection is 900 ms after the last packet received; timers on a loaded machine may fire a little late.
    expect(detectionMs).toBeLessThanOrEqual(900 + 300)
    left.stop()
    right.stop()
  })

  it("goes Down when the neighbour stops (AdminDown), and says it is no path failure", async () => {
    const { a, b } = links()
    const changes: Array<{ from: BfdState; to: BfdState; pathFailure: boolean }> = []
    const left = new BfdDriver({ profile, localDiscriminator: 1, link: a, events: { onStateChanged: (from, to, _, remoteState) => changes.push({ from, to, pathFailure: isPathFailure(from, to, remoteState) }) } })
    const right = new BfdDriver({ profile, localDiscriminator: 2, link: b })
    left.start()
    right.start()
    await eventually("both Up", async () => (left.state === "Up" && right.state === "Up") || undefined, { timeoutMs: 5_000, intervalMs: 20 })
    right.stop()
    await eventually("left Down", async () => left.state === "Down" || undefined, { timeoutMs: 3_000, intervalMs: 10 })
    expect(changes.at(-1)).toEqual({ from: "Up", to: "Down", pathFailure: false })
    left.stop()
  })
})
