import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { defaultAnnouncer, defaultAnnouncerConfig, nextWakeMs, step, type AnnouncerInput, type AnnouncerState } from "../../../core/l2/announcer.ts"
import type { L2Interface } from "../../../core/l2/ownership.ts"
import type { Address } from "../../../core/net/address.ts"
import { modelAnnouncer, type ModelState, modelStep, modelWakeMs } from "./announcer-model.ts"
import { eth0, eth1, mac } from "./fixtures.ts"

// Several addresses of both families, two interfaces and a MAC change: the order of what one step sends
// for several schedules (a tick, a Reannounce on two interfaces) is part of the behaviour.
const addresses: ReadonlyArray<Address> = Array.from({ length: 6 }, (_, i) =>
  i % 2 === 0 ? { family: "ipv4", value: 0xcb007100n + BigInt(i) } : { family: "ipv6", value: 0x20010db8000000000000000000000100n + BigInt(i) })
const ifaces: ReadonlyArray<L2Interface> = [eth0, eth1, { name: "eth0", mac: mac("02:00:00:00:00:03") }]

type Op =
  | { readonly kind: "own"; readonly a: number; readonly i: number; readonly owned: boolean }
  | { readonly kind: "request" | "reannounce" | "conflict"; readonly a: number }
  | { readonly kind: "tick" | "lateTick" | "silence" }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("own" as const), a: fc.nat(5), i: fc.nat(2), owned: fc.boolean() }), weight: 12 },
  { arbitrary: fc.record({ kind: fc.constantFrom("request" as const, "reannounce" as const, "conflict" as const), a: fc.nat(5) }), weight: 8 },
  { arbitrary: fc.record({ kind: fc.constantFrom("tick" as const, "lateTick" as const) }), weight: 12 },
  { arbitrary: fc.record({ kind: fc.constant("silence" as const) }), weight: 1 },
)
const opsArb = fc.array(fc.tuple(opArb, fc.integer({ min: 0, max: 2500 })), { maxLength: 120 })

/** Steps the announcer and the model with the same inputs; the first step where their outputs differ, if any. */
const firstDifference = (ops: ReadonlyArray<readonly [Op, number]>, model: ModelState): string | undefined => {
  let state: AnnouncerState = defaultAnnouncer
  let nowMs = 0
  for (const [index, [op, advanceMs]] of ops.entries()) {
    nowMs += advanceMs
    const address = addresses["a" in op ? op.a : 0]!
    let input: AnnouncerInput
    switch (op.kind) {
      case "own":
        input = { _tag: "OwnershipChanged", address, iface: ifaces[op.i]!, owned: op.owned, nowMs }
        break
      case "request":
        input = { _tag: "RequestSeen", address, nowMs }
        break
      case "reannounce":
        input = { _tag: "Reannounce", address, nowMs }
        break
      case "conflict":
        input = { _tag: "ConflictSeen", address, nowMs }
        break
      case "tick":
      case "lateTick": {
        // On time, or late by the step's advance (a busy event loop), so that several are due at once.
        const wake = nextWakeMs(state)
        nowMs = Math.max(nowMs, op.kind === "tick" ? wake ?? nowMs : (wake ?? nowMs) + advanceMs)
        input = { _tag: "Tick", nowMs }
        break
      }
      case "silence":
        input = { _tag: "Silence", nowMs }
        break
    }
    const t = step(state, input)
    const m = modelStep(model, input)
    state = t.state
    model = m.state
    const got = JSON.stringify(t.outputs, (_k, v: unknown) => (typeof v === "bigint" ? v.toString(16) : v))
    const want = JSON.stringify(m.outputs, (_k, v: unknown) => (typeof v === "bigint" ? v.toString(16) : v))
    if (got !== want) return `step ${index} (${input._tag}): ${got} != ${want}`
    if (nextWakeMs(state) !== modelWakeMs(model)) return `step ${index}: next wake ${nextWakeMs(state)} != ${modelWakeMs(model)}`
  }
  return undefined
}

describe("announcer against its plain model", () => {
  it("sends what a walk over every schedule sends, in the same order, and wakes at the same time (property)", () => {
    fc.assert(fc.property(opsArb, (ops) => {
      expect(firstDifference(ops, modelAnnouncer(defaultAnnouncerConfig))).toBeUndefined()
    }), { numRuns: 1_000 })
  })

  it("the comparison notices an order changed (a model that sends a tick's schedules in reverse)", () => {
    const found = fc.check(fc.property(opsArb, (ops) => firstDifference(ops, modelAnnouncer(defaultAnnouncerConfig, true)) === undefined), { numRuns: 1_000 })
    expect(found.failed).toBe(true)
  })

  it("2,000 addresses taken over: the queue holds one entry each, every address is announced 7 times and the queue drains", () => {
    let state: AnnouncerState = defaultAnnouncer
    let sent = 0
    for (let i = 0; i < 2_000; i++) {
      const t = step(state, { _tag: "OwnershipChanged", address: { family: "ipv6", value: 0x20010db8030000000000000000000000n + BigInt(i) }, iface: eth0, owned: true, nowMs: i * 0.1 })
      state = t.state
      sent += t.outputs.filter((o) => o._tag === "Send").length
    }
    expect(state.due.size).toBe(2_000)
    expect(state.byAddress.size).toBe(2_000)
    // At once, +100, +300, +1100, +2200, +3300, +4400 ms.
    for (let wake = nextWakeMs(state); wake !== undefined; wake = nextWakeMs(state)) {
      const t = step(state, { _tag: "Tick", nowMs: wake })
      state = t.state
      sent += t.outputs.filter((o) => o._tag === "Send").length
    }
    expect(sent).toBe(2_000 * 7)
    expect(state.due.size).toBe(0)
  })
})
