// The membership driver: MetalLB's key derivation and sealed datagrams; on a virtual clock over an
// in-memory network (the driver's transport, timers and randomness are ports), the detection of a dead
// member, a graceful leave, a node's down interfaces reaching the others, and a wrong key keeping a
// stranger out, deterministic and without sleeping; and once over real UDP on loopback.
import { createHash, randomBytes } from "node:crypto"
import { afterEach, describe, expect, it } from "vitest"
import { freePorts } from "../../support/apiserver.ts"
import { eventually } from "../../support/netns.ts"
import { Scheduler } from "../../../shell/sim/scheduler.ts"
import { virtualTimers } from "../../../shell/sim/context.ts"
import { type DatagramTransport, MembershipDriver, type MembershipOptions, membershipKey, open, seal } from "../../../shell/speaker/membership.ts"

const drivers: Array<MembershipDriver> = []
afterEach(() => {
  for (const d of drivers.splice(0)) d.close()
})

const start = async (name: string, port: number, key: Buffer, seeds: Array<string>) => {
  const d = await MembershipDriver.start({ name, bindAddress: "127.0.0.1", port, key, onChange: () => undefined }, seeds)
  drivers.push(d)
  return d
}

/** Hosts on an in-memory network with 1 ms latency, on one virtual clock; a crashed host drops everything. */
const virtualNetwork = () => {
  const scheduler = new Scheduler<() => void>()
  const timers = virtualTimers(scheduler)
  const listeners = new Map<string, (from: string, bytes: Uint8Array) => void>()
  const crashed = new Set<string>()
  const address = (name: string) => `${name}:7946`
  let seed = 1
  const transport = (from: string): DatagramTransport => ({
    send: (to, bytes) => {
      if (crashed.has(from)) return
      scheduler.after(1, () => {
        if (!crashed.has(to)) listeners.get(to)?.(from, bytes)
      })
    },
    onReceive: (listener) => listeners.set(from, listener),
    close: () => listeners.delete(from),
  })
  const step = (untilMs: number) => {
    for (let task = scheduler.next(untilMs); task !== undefined; task = scheduler.next(untilMs)) task()
  }
  return {
    address,
    nowMs: () => scheduler.nowMs,
    start: (name: string, key: Buffer, seeds: ReadonlyArray<string>, onChange: MembershipOptions["onChange"] = () => undefined) => {
      // Deterministic randomness per driver (a linear congruential generator).
      let state = seed++ * 2654435761
      const random = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0)
      const d = MembershipDriver.over(transport(address(name)), { name, bindAddress: name, port: 7946, key, onChange, timers, random }, seeds)
      drivers.push(d)
      return d
    },
    crash: (name: string) => crashed.add(address(name)),
    runFor: (ms: number) => step(scheduler.nowMs + ms),
    /** Runs until `done` holds (checked after every event); returns that time. Fails after `withinMs`. */
    runUntil: (done: () => boolean, withinMs: number): number => {
      const limit = scheduler.nowMs + withinMs
      for (let task = scheduler.next(limit); task !== undefined; task = scheduler.next(limit)) {
        task()
        if (done()) return scheduler.nowMs
      }
      throw new Error(`not within ${withinMs} ms of virtual time`)
    },
  }
}

describe("membership", () => {
  it("derives MetalLB's key: the secret's bytes then SHA-256 of nothing, cut to 32 bytes", () => {
    const secret = Buffer.from("0123456789abcdef")
    expect(membershipKey(secret).equals(Buffer.concat([secret, createHash("sha256").digest().subarray(0, 16)]))).toBe(true)
    const key = membershipKey(randomBytes(16))
    expect(Buffer.from(open(key, seal(key, Buffer.from("hello"))) ?? []).toString()).toBe("hello")
    const sealed = seal(key, Buffer.from("hello"))
    sealed[20] = (sealed[20] ?? 0) ^ 1
    expect(open(key, sealed)).toBeUndefined()
    expect(open(membershipKey(randomBytes(16)), seal(key, Buffer.from("x")))).toBeUndefined()
  })

  it("joins, detects a dead member in under a second, and drops a leaving one at once (virtual clock)", () => {
    const net = virtualNetwork()
    const key = membershipKey(randomBytes(16))
    const a = net.start("a", key, [])
    const b = net.start("b", key, [net.address("a")])
    const c = net.start("c", key, [net.address("a")])
    net.runFor(2_000)
    expect([a, b, c].map((d) => d.live.size)).toEqual([3, 3, 3])
    const crashAtMs = net.nowMs()
    net.crash("c")
    const detectedAtMs = net.runUntil(() => !a.live.has("c") && !b.live.has("c"), 5_000)
    console.log(`membership (virtual clock): dead member detected by all in ${detectedAtMs - crashAtMs} ms`)
    expect(detectedAtMs - crashAtMs).toBeLessThan(1_500)
    const leftAtMs = net.nowMs()
    b.leave()
    expect(net.runUntil(() => !a.live.has("b"), 1_000) - leftAtMs).toBeLessThanOrEqual(2)
  })

  it("tells every member which Layer 2 interfaces of a node are down, and when they are back (virtual clock)", () => {
    const net = virtualNetwork()
    const key = membershipKey(randomBytes(16))
    const seen: Array<string> = []
    const a = net.start("a", key, [])
    const b = net.start("b", key, [net.address("a")])
    const c = net.start("c", key, [net.address("a")], (_, down) => seen.push(JSON.stringify([...down])))
    net.runFor(2_000)
    const downAtMs = net.nowMs()
    b.setDownInterfaces(["eth1"])
    const knownAtMs = net.runUntil(() => [a, b, c].every((d) => d.downInterfaces.get("b")?.join() === "eth1"), 1_000)
    console.log(`membership (virtual clock): a down interface known to all in ${knownAtMs - downAtMs} ms`)
    expect(seen.at(-1)).toBe(JSON.stringify([["b", ["eth1"]]]))
    b.setDownInterfaces([])
    net.runUntil(() => [a, b, c].every((d) => d.downInterfaces.size === 0), 1_000)
    expect(seen.at(-1)).toBe("[]")
    expect([a, b, c].every((d) => d.live.size === 3)).toBe(true)
  })

  it("keeps out a node with another key (virtual clock)", () => {
    const net = virtualNetwork()
    const a = net.start("a", membershipKey(randomBytes(16)), [])
    const stranger = net.start("stranger", membershipKey(randomBytes(16)), [net.address("a")])
    net.runFor(5_000)
    expect(a.live.has("stranger")).toBe(false)
    expect(stranger.live.has("a")).toBe(false)
    expect(a.dropped).toBeGreaterThan(0)
  })

  it("joins over real UDP on loopback", async () => {
    const key = membershipKey(randomBytes(16))
    const [p1, p2, p3] = await freePorts(3)
    const a = await start("a", p1!, key, [])
    const b = await start("b", p2!, key, [`127.0.0.1:${p1}`])
    const c = await start("c", p3!, key, [`127.0.0.1:${p1}`])
    await eventually("three members everywhere", async () => [a, b, c].every((d) => d.live.size === 3) || undefined, { timeoutMs: 5_000, intervalMs: 20 })
  })
})
