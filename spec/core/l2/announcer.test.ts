import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  defaultAnnouncer,
  defaultAnnouncerConfig,
  makeAnnouncer,
  nextWakeMs,
  step,
  type AnnouncerConfig,
  type AnnouncerInput,
  type AnnouncerOutput,
  type AnnouncerState,
} from "../../../core/l2/announcer.ts"
import { decodeFrame, encodeFrame } from "../../../core/l2/frame.ts"
import { allNodesAddress } from "../../../core/l2/ipv6.ts"
import type { Mac } from "../../../core/l2/mac.ts"
import type { Address } from "../../../core/net/address.ts"
import { eth0, eth1, mac, ok, vip4, vip6 } from "./fixtures.ts"


const take = (address: Address, nowMs: number, iface = eth0): AnnouncerInput => ({ _tag: "OwnershipChanged", address, iface, owned: true, nowMs })
const lose = (address: Address, nowMs: number, iface = eth0): AnnouncerInput => ({ _tag: "OwnershipChanged", address, iface, owned: false, nowMs })

const sends = (outputs: ReadonlyArray<AnnouncerOutput>) => outputs.filter((o) => o._tag === "Send")

/**
 * Virtual time: applies the inputs in order, and before each one delivers every Tick the announcer
 * asked for (WakeAt) that falls before it; then keeps ticking until untilMs. Returns the send times.
 */
const simulate = (initial: AnnouncerState, inputs: ReadonlyArray<AnnouncerInput & { nowMs: number }>, untilMs: number) => {
  let state = initial
  const sent: Array<{ atMs: number; iface: string; address: Address; frames: number }> = []
  const apply = (input: AnnouncerInput, atMs: number) => {
    const t = step(state, input)
    state = t.state
    const s = sends(t.outputs)
    const byPair = new Map<string, { iface: string; address: Address; frames: number }>()
    for (const o of s) {
      const key = `${o.iface}|${o.address.value}`
      byPair.set(key, { iface: o.iface, address: o.address, frames: (byPair.get(key)?.frames ?? 0) + 1 })
    }
    for (const p of byPair.values()) sent.push({ atMs, ...p })
  }
  const tickUntil = (limitMs: number) => {
    for (let wake = nextWakeMs(state); wake !== undefined && wake <= limitMs; wake = nextWakeMs(state)) {
      apply({ _tag: "Tick", nowMs: wake }, wake)
    }
  }
  for (const input of inputs) {
    tickUntil(input.nowMs)
    apply(input, input.nowMs)
  }
  tickUntil(untilMs)
  return { state, sent }
}

describe("announcement frames", () => {
  it("announces IPv4 as a gratuitous ARP request (RFC 5227) and reply (RFC 5944), both broadcast", () => {
    const t = step(defaultAnnouncer, take(vip4, 1000))
    expect(t.outputs).toEqual([
      {
        _tag: "Send",
        iface: "eth0",
        address: vip4,
        frame: {
          _tag: "ArpFrame",
          ethernet: { dst: "ff:ff:ff:ff:ff:ff", src: eth0.mac },
          arp: { operation: "request", senderMac: eth0.mac, senderIp: vip4, targetMac: "00:00:00:00:00:00", targetIp: vip4 },
        },
      },
      {
        _tag: "Send",
        iface: "eth0",
        address: vip4,
        frame: {
          _tag: "ArpFrame",
          ethernet: { dst: "ff:ff:ff:ff:ff:ff", src: eth0.mac },
          arp: { operation: "reply", senderMac: eth0.mac, senderIp: vip4, targetMac: eth0.mac, targetIp: vip4 },
        },
      },
      { _tag: "WakeAt", atMs: 1100 },
    ])
  })

  it("announces IPv6 as an unsolicited NA to all-nodes: S=0, O=1, Target-LLA (RFC 4861 §7.2.6)", () => {
    const t = step(defaultAnnouncer, take(vip6, 0))
    const frames = sends(t.outputs).map((o) => o.frame)
    expect(frames).toEqual([
      {
        _tag: "NdpFrame",
        ethernet: { dst: "33:33:00:00:00:01", src: eth0.mac },
        ip: { source: vip6, destination: allNodesAddress, trafficClass: 0, flowLabel: 0 },
        ndp: { _tag: "NeighborAdvertisement", router: false, solicited: false, override: true, target: vip6, options: [{ _tag: "TargetLinkLayerAddress", mac: eth0.mac }] },
      },
    ])
    for (const frame of frames) expect(ok(decodeFrame(encodeFrame(frame)))).toEqual(frame)
  })
})

describe("announcement schedule (virtual time)", () => {
  it("announces at 0, +100, +300 ms, then on the 1.1 s grid until 5 s after taking ownership", () => {
    const { state, sent } = simulate(defaultAnnouncer, [take(vip4, 10_000)], 60_000)
    expect(sent.map((s) => s.atMs - 10_000)).toEqual([0, 100, 300, 1100, 2200, 3300, 4400])
    expect(sent.every((s) => s.frames === 2)).toBe(true)
    expect(nextWakeMs(state)).toBeUndefined()
  })

  it("keeps announcing while requests are seen, up to 5 s after the last one", () => {
    const { sent } = simulate(defaultAnnouncer, [take(vip4, 0), { _tag: "RequestSeen", address: vip4, nowMs: 4000 }], 60_000)
    expect(sent.map((s) => s.atMs)).toEqual([0, 100, 300, 1100, 2200, 3300, 4400, 5500, 6600, 7700, 8800])
  })

  it("does not restart for a request after the schedule has ended", () => {
    const { sent } = simulate(defaultAnnouncer, [take(vip4, 0), { _tag: "RequestSeen", address: vip4, nowMs: 20_000 }], 60_000)
    expect(sent.map((s) => s.atMs)).toEqual([0, 100, 300, 1100, 2200, 3300, 4400])
  })

  it("stops at maxDurationMs however busy the address is", () => {
    const requests = Array.from({ length: 100 }, (_, i): AnnouncerInput & { nowMs: number } => ({ _tag: "RequestSeen", address: vip4, nowMs: 500 + i * 1000 }))
    const { sent } = simulate(defaultAnnouncer, [take(vip4, 0), ...requests], 200_000)
    expect(sent.at(-1)?.atMs).toBe(29_700)
    expect(sent.every((s) => s.atMs <= defaultAnnouncerConfig.maxDurationMs)).toBe(true)
  })

  it("stops at once when ownership is lost, on that interface only", () => {
    const { sent, state } = simulate(defaultAnnouncer, [take(vip4, 0), take(vip4, 0, eth1), lose(vip4, 1500)], 60_000)
    expect(sent.filter((s) => s.iface === "eth0").map((s) => s.atMs)).toEqual([0, 100, 300, 1100])
    expect(sent.filter((s) => s.iface === "eth1").map((s) => s.atMs)).toEqual([0, 100, 300, 1100, 2200, 3300, 4400])
    expect(state.schedules.size).toBe(1)
    const t = step(step(defaultAnnouncer, take(vip6, 0)).state, lose(vip6, 50))
    expect(t.outputs).toEqual([])
    expect(nextWakeMs(t.state)).toBeUndefined()
  })

  it("ignores a repeated ownership of the same interface and MAC, restarts for a new MAC", () => {
    const first = step(defaultAnnouncer, take(vip4, 0))
    expect(sends(step(first.state, take(vip4, 700)).outputs)).toEqual([])
    const moved = step(first.state, take(vip4, 700, { name: "eth0", mac: mac("02:00:00:00:00:03") }))
    expect(sends(moved.outputs).map((o) => o.frame.ethernet.src)).toEqual(["02:00:00:00:00:03", "02:00:00:00:00:03"])
    expect(nextWakeMs(moved.state)).toBe(800)
  })

  it("re-announces at once on Reannounce (graceful hand-over) and restarts the schedule", () => {
    const { sent } = simulate(defaultAnnouncer, [take(vip6, 0), take(vip6, 0, eth1), { _tag: "Reannounce", address: vip6, nowMs: 20_000 }], 60_000)
    const eth0Times = sent.filter((s) => s.iface === "eth0").map((s) => s.atMs)
    expect(eth0Times).toEqual([0, 100, 300, 1100, 2200, 3300, 4400, 20_000, 20_100, 20_300, 21_100, 22_200, 23_300, 24_400])
    expect(sent.filter((s) => s.iface === "eth1").length).toBe(eth0Times.length)
    expect(sends(step(defaultAnnouncer, { _tag: "Reannounce", address: vip6, nowMs: 5 }).outputs)).toEqual([])
  })

  it("answers another station's claim 250 ms later with a restarted schedule, if the address is still owned then", () => {
    const conflict = (nowMs: number): AnnouncerInput => ({ _tag: "ConflictSeen", address: vip4, nowMs })
    // Long after the schedule ended (a node that wrongly claimed it for a moment pulled the neighbours away).
    const { sent } = simulate(defaultAnnouncer, [take(vip4, 0), conflict(20_000), conflict(20_010)], 60_000)
    expect(sent.map((s) => s.atMs)).toEqual([0, 100, 300, 1100, 2200, 3300, 4400, 20_250, 20_350, 20_550, 21_350, 22_450, 23_550, 24_650])
    // Ownership passed on before the answer was due (a legitimate move): nothing pulls the neighbours back.
    const moved = simulate(defaultAnnouncer, [take(vip4, 0), conflict(20_000), lose(vip4, 20_040)], 60_000)
    expect(moved.sent.map((s) => s.atMs).filter((t) => t >= 20_000)).toEqual([])
    // Within the hold-off of the schedule's start: its own frames are still going out, no restart.
    const early = simulate(defaultAnnouncer, [take(vip4, 0), conflict(1_000)], 60_000)
    expect(early.sent.map((s) => s.atMs)).toEqual([0, 100, 300, 1100, 2200, 3300, 4400])
    // A leaving node does not answer.
    const leaving = simulate(defaultAnnouncer, [take(vip4, 0), { _tag: "Silence", nowMs: 10_000 }, conflict(20_000)], 60_000)
    expect(leaving.sent.map((s) => s.atMs).filter((t) => t >= 10_000)).toEqual([])
  })

  it("answers conflicts at most once per hold-off, however often another station claims the address (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 200 }), (gapsMs) => {
        // Another station claims the address every few hundred ms; each tick the announcer asks for is delivered.
        let state = step(defaultAnnouncer, take(vip4, 0)).state
        const starts: Array<number> = [0]
        const observe = () => {
          for (const sch of state.schedules.values()) if (sch.startedAtMs !== starts.at(-1)) starts.push(sch.startedAtMs)
        }
        const tickUntil = (limitMs: number) => {
          for (let wake = nextWakeMs(state); wake !== undefined && wake <= limitMs; wake = nextWakeMs(state)) {
            state = step(state, { _tag: "Tick", nowMs: wake }).state
            observe()
          }
        }
        let nowMs = 10_000
        for (const gap of gapsMs) {
          nowMs += gap
          tickUntil(nowMs)
          state = step(state, { _tag: "ConflictSeen", address: vip4, nowMs }).state
          observe()
        }
        tickUntil(nowMs + 10_000)
        // The claims kept coming for longer than the hold-off: they were answered (at least once) ...
        if (nowMs - 10_000 > defaultAnnouncerConfig.conflictHoldOffMs + defaultAnnouncerConfig.conflictDelayMs) expect(starts.length).toBeGreaterThan(1)
        // ... and never sooner than the hold-off after the previous (re)start, each the delay after a claim.
        for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(defaultAnnouncerConfig.conflictHoldOffMs + defaultAnnouncerConfig.conflictDelayMs)
      }),
      { numRuns: 300 },
    )
  })

  it("a leaving node (Silence) announces nothing more: not the rest of the schedule, not for requests, new claims or Reannounce", () => {
    const { sent, state } = simulate(defaultAnnouncer, [
      take(vip4, 0),
      { _tag: "Silence", nowMs: 150 },
      { _tag: "RequestSeen", address: vip4, nowMs: 200 },
      take(vip6, 400),
      { _tag: "Reannounce", address: vip4, nowMs: 500 },
    ], 60_000)
    expect(sent.map((s) => s.atMs)).toEqual([0, 100])
    expect(nextWakeMs(state)).toBeUndefined()
    // It still knows what it owns (the responder answers until the speaker stops) and loses it as usual.
    expect(state.schedules.size).toBe(2)
    expect(step(state, lose(vip6, 600)).state.schedules.size).toBe(1)
  })

  it("sends once for a late tick and rejoins the grid instead of catching up", () => {
    const t0 = step(defaultAnnouncer, take(vip4, 0))
    const late = step(t0.state, { _tag: "Tick", nowMs: 1500 })
    expect(sends(late.outputs).length).toBe(2)
    expect(nextWakeMs(late.state)).toBe(2200)
    expect(step(late.state, { _tag: "Tick", nowMs: 2199 }).outputs).toEqual([{ _tag: "WakeAt", atMs: 2200 }])
  })

  it("follows a configured schedule and refuses nonsensical configurations", () => {
    const config: AnnouncerConfig = { retryOffsetsMs: [], repeatIntervalMs: 500, quietPeriodMs: 2000, maxDurationMs: 10_000, conflictDelayMs: 250, conflictHoldOffMs: 2200 }
    const { sent } = simulate(ok(makeAnnouncer(config)), [take(vip4, 0)], 60_000)
    expect(sent.map((s) => s.atMs)).toEqual([0, 500, 1000, 1500, 2000])
    const bad = (c: Partial<AnnouncerConfig>) => Result.isFailure(makeAnnouncer({ ...defaultAnnouncerConfig, ...c }))
    expect(bad({ retryOffsetsMs: [300, 100] })).toBe(true)
    expect(bad({ retryOffsetsMs: [0] })).toBe(true)
    expect(bad({ repeatIntervalMs: 0 })).toBe(true)
    expect(bad({ quietPeriodMs: -1 })).toBe(true)
    expect(bad({ maxDurationMs: Number.NaN })).toBe(true)
    expect(bad({ conflictDelayMs: -1 })).toBe(true)
    expect(bad({ conflictHoldOffMs: Number.POSITIVE_INFINITY })).toBe(true)
    expect(ok(makeAnnouncer(defaultAnnouncerConfig)).config).toEqual(defaultAnnouncerConfig)
  })
})

describe("announcer properties", () => {
  const addresses = [vip4, vip6]
  const ifaces = [eth0, eth1, { name: "eth0", mac: mac("02:00:00:00:00:03") }]
  type Op =
    | { readonly kind: "own"; readonly a: number; readonly i: number; readonly owned: boolean }
    | { readonly kind: "request" | "reannounce"; readonly a: number }
    | { readonly kind: "tick" | "silence" }
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant("own" as const), a: fc.nat(1), i: fc.nat(2), owned: fc.boolean() }), weight: 10 },
    { arbitrary: fc.record({ kind: fc.constantFrom("request" as const, "reannounce" as const), a: fc.nat(1) }), weight: 10 },
    { arbitrary: fc.record({ kind: fc.constant("tick" as const) }), weight: 10 },
    // Rare, so that most runs announce for a while before the node leaves.
    { arbitrary: fc.record({ kind: fc.constant("silence" as const) }), weight: 1 },
  )
  const scheduleArb = fc.array(fc.tuple(opArb, fc.integer({ min: 0, max: 3000 })), { maxLength: 60 })

  it("announces only owned addresses, at once when taken, never after loss or Silence, never past maxDurationMs (property)", () => {
    fc.assert(
      fc.property(scheduleArb, (ops) => {
        let state = defaultAnnouncer
        let nowMs = 0
        let silent = false
        /** pair key -> { mac, startedAtMs } for each owned (address, interface name) */
        const owned = new Map<string, { mac: Mac; startedAtMs: number }>()
        const key = (a: Address, ifaceName: string) => `${a.value}|${ifaceName}`
        for (const [op, advanceMs] of ops) {
          nowMs += advanceMs
          let input: AnnouncerInput
          let mustAnnounce: string | undefined
          switch (op.kind) {
            case "own": {
              const address = addresses[op.a] ?? vip4
              const iface = ifaces[op.i] ?? eth0
              const k = key(address, iface.name)
              const before = owned.get(k)
              if (op.owned) {
                if (before === undefined || before.mac !== iface.mac) {
                  owned.set(k, { mac: iface.mac, startedAtMs: nowMs })
                  if (!silent) mustAnnounce = k
                }
              } else owned.delete(k)
              input = { _tag: "OwnershipChanged", address, iface, owned: op.owned, nowMs }
              break
            }
            case "request":
              input = { _tag: "RequestSeen", address: addresses[op.a] ?? vip4, nowMs }
              break
            case "reannounce": {
              const address = addresses[op.a] ?? vip4
              for (const [k, v] of owned) if (k.startsWith(`${address.value}|`)) owned.set(k, { ...v, startedAtMs: nowMs })
              input = { _tag: "Reannounce", address, nowMs }
              break
            }
            case "tick":
              input = { _tag: "Tick", nowMs: nextWakeMs(state) ?? nowMs }
              nowMs = Math.max(nowMs, input.nowMs)
              break
            case "silence":
              silent = true
              input = { _tag: "Silence", nowMs }
              break
          }
          const t = step(state, input)
          state = t.state
          const sent = sends(t.outputs)
          if (silent) expect(sent).toEqual([])
          for (const s of sent) {
            const holder = owned.get(key(s.address, s.iface))
            expect(holder).toBeDefined()
            expect(s.frame.ethernet.src).toBe(holder?.mac)
            expect(nowMs - (holder?.startedAtMs ?? 0)).toBeLessThanOrEqual(defaultAnnouncerConfig.maxDurationMs)
          }
          if (mustAnnounce !== undefined) expect(sent.some((s) => key(s.address, s.iface) === mustAnnounce)).toBe(true)
          const wake = t.outputs.find((o) => o._tag === "WakeAt")
          expect(wake?._tag === "WakeAt" ? wake.atMs : undefined).toBe(nextWakeMs(state))
        }
      }),
      { numRuns: 1000 },
    )
  })
})

describe("announcer schedule with fractional clocks", () => {
  it("terminates: ticks delivered exactly at each WakeAt never repeat a slot (property)", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e7, noNaN: true }), (startMs) => {
        const address = { family: "ipv4" as const, value: 0xc6336401n }
        const iface = { name: "eth0", mac: "02:00:00:00:00:01" as Mac }
        let t = step(defaultAnnouncer, { _tag: "OwnershipChanged", address, iface, owned: true, nowMs: startMs })
        let sends = t.outputs.filter((o) => o._tag === "Send").length
        for (let i = 0; i < 1000; i++) {
          const wake = t.outputs.find((o) => o._tag === "WakeAt")
          if (wake === undefined || wake._tag !== "WakeAt") break
          t = step(t.state, { _tag: "Tick", nowMs: wake.atMs })
          sends += t.outputs.filter((o) => o._tag === "Send").length
        }
        expect(t.outputs.some((o) => o._tag === "WakeAt")).toBe(false)
        // 0, +100, +300, then the 1.1 s grid up to 5 s: 7 announcements of two frames each.
        expect(sends).toBeLessThanOrEqual(2 * 8)
      }),
      { numRuns: 1000 },
    )
  })
})
