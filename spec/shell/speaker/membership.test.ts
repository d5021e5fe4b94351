// Membership over real UDP on loopback: sealed datagrams, MetalLB's key derivation, detection of a
// dead member, a graceful leave, a node's down interfaces reaching the others, and a wrong key keeping a
// stranger out.
import { createHash, randomBytes } from "node:crypto"
import { afterEach, describe, expect, it } from "vitest"
import { freePorts } from "../../support/apiserver.ts"
import { eventually } from "../../support/netns.ts"
import { MembershipDriver, membershipKey, open, seal } from "../../../shell/speaker/membership.ts"

const drivers: Array<MembershipDriver> = []
afterEach(() => {
  for (const d of drivers.splice(0)) d.close()
})

const start = async (name: string, port: number, key: Buffer, seeds: Array<string>) => {
  const d = await MembershipDriver.start({ name, bindAddress: "127.0.0.1", port, key, onChange: () => undefined }, seeds)
  drivers.push(d)
  return d
}

describe("membership over UDP", () => {
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

  it("joins, detects a dead member in under a second, and drops a leaving one at once", async () => {
    const key = membershipKey(randomBytes(16))
    const [p1, p2, p3] = await freePorts(3)
    const a = await start("a", p1!, key, [])
    const b = await start("b", p2!, key, [`127.0.0.1:${p1}`])
    const c = await start("c", p3!, key, [`127.0.0.1:${p1}`])
    await eventually("three members everywhere", async () => [a, b, c].every((d) => d.live.size === 3) || undefined, { timeoutMs: 5_000, intervalMs: 20 })
    const crashAt = Date.now()
    c.close()
    await eventually("c declared dead", async () => (!a.live.has("c") && !b.live.has("c")) || undefined, { timeoutMs: 5_000, intervalMs: 10 })
    const detectionMs = Date.now() - crashAt
    console.log(`membership over UDP: dead member detected by all in ${detectionMs} ms`)
    expect(detectionMs).toBeLessThan(1_500)
    b.leave()
    await eventually("b gone at once", async () => !a.live.has("b") || undefined, { timeoutMs: 1_000, intervalMs: 5 })
  })

  it("tells every member which Layer 2 interfaces of a node are down, and when they are back", async () => {
    const key = membershipKey(randomBytes(16))
    const [p1, p2, p3] = await freePorts(3)
    const seen: Array<string> = []
    const a = await start("a", p1!, key, [])
    const b = await start("b", p2!, key, [`127.0.0.1:${p1}`])
    const c = await MembershipDriver.start({
      name: "c", bindAddress: "127.0.0.1", port: p3!, key,
      onChange: (_, down) => seen.push(JSON.stringify([...down])),
    }, [`127.0.0.1:${p1}`])
    drivers.push(c)
    await eventually("three members everywhere", async () => [a, b, c].every((d) => d.live.size === 3) || undefined, { timeoutMs: 5_000, intervalMs: 20 })
    const downAt = Date.now()
    b.setDownInterfaces(["eth1"])
    await eventually("eth1 of b down everywhere", async () => [a, b, c].every((d) => d.downInterfaces.get("b")?.join() === "eth1") || undefined, { timeoutMs: 1_000, intervalMs: 5 })
    console.log(`membership over UDP: a down interface known to all in ${Date.now() - downAt} ms`)
    expect(seen.at(-1)).toBe(JSON.stringify([["b", ["eth1"]]]))
    b.setDownInterfaces([])
    await eventually("eth1 of b back everywhere", async () => [a, b, c].every((d) => d.downInterfaces.size === 0) || undefined, { timeoutMs: 1_000, intervalMs: 5 })
    expect(seen.at(-1)).toBe("[]")
    expect([a, b, c].every((d) => d.live.size === 3)).toBe(true)
  })

  it("keeps out a node with another key", async () => {
    const [p1, p2] = await freePorts(2)
    const a = await start("a", p1!, membershipKey(randomBytes(16)), [])
    const stranger = await start("stranger", p2!, membershipKey(randomBytes(16)), [`127.0.0.1:${p1}`])
    await new Promise((r) => setTimeout(r, 500))
    expect(a.live.has("stranger")).toBe(false)
    expect(stranger.live.has("a")).toBe(false)
    expect(a.dropped).toBeGreaterThan(0)
  })
})
