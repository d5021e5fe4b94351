// The speaker's one driver loop on a virtual clock: inputs from concurrent sources are applied in
// order, none lost (the L2 plane race: an ownership change and an interface change used to overwrite
// each other); the join and hand-over timers run on Effect's Clock.
import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Ref } from "effect"
import { TestClock } from "effect/testing"
import { addressKey } from "../../../core/l2/ownership.ts"
import { formatAddress } from "../../../core/net/address.ts"
import type { NodeOutput } from "../../../core/speaker/node.ts"
import { nodeSettings } from "../../../core/speaker/settings.ts"
import { runNodeDriver } from "../../../shell/speaker/node-driver.ts"
import { eth0, eth1, l2Docs, l2Services, snapshotOf, sources } from "../../core/speaker/node/fixtures.ts"

/** A plane that, like the old one, reads its map, yields, then writes it back. */
const slowPlane = Effect.gen(function* () {
  const owned = yield* Ref.make<ReadonlyMap<string, ReadonlySet<string>>>(new Map())
  const inUse = yield* Ref.make<ReadonlyArray<string>>([])
  const outputs: Array<NodeOutput["_tag"]> = []
  const execute = (o: NodeOutput) => Effect.gen(function* () {
    outputs.push(o._tag)
    if (o._tag === "UseInterfaces") {
      const before = yield* Ref.get(inUse)
      yield* Effect.yieldNow
      yield* Ref.set(inUse, [...new Set([...before.filter((n) => o.interfaces.some((i) => i.name === n)), ...o.interfaces.map((i) => i.name)])])
    }
    if (o._tag === "Claim" || o._tag === "Release") {
      const before = yield* Ref.get(owned)
      yield* Effect.yieldNow
      const key = formatAddress(o.address)
      const names = new Set(before.get(key) ?? [])
      for (const n of o.interfaces) if (o._tag === "Claim") names.add(n); else names.delete(n)
      const after = new Map(before)
      if (names.size === 0) after.delete(key)
      else after.set(key, names)
      yield* Ref.set(owned, after)
    }
  })
  return { owned, inUse, outputs, execute }
})

/** Lets the driver's fiber take every queued input (it yields inside the slow plane). */
const settle = Effect.gen(function* () {
  for (let i = 0; i < 500; i++) yield* Effect.yieldNow
})
/** Advances the virtual clock, then lets the driver run. */
const advance = (ms: number) => TestClock.adjust(ms).pipe(Effect.andThen(settle))

describe("node driver", () => {
  it.effect("applies an ownership change and an interface change offered at the same time, both", () =>
    Effect.gen(function* () {
      const plane = yield* slowPlane
      const node = yield* runNodeDriver({ settings: nodeSettings({ nodeName: "n1", excludePatterns: [] }), execute: plane.execute })
      node.offer({ _tag: "InterfacesScanned", interfaces: [eth0] })
      node.offer({ _tag: "ConfigChanged", sources: sources(l2Docs) })
      node.offer({ _tag: "Started" })
      // Two sources at once: the informers (a new service set) and the rescan (eth1 appeared).
      const a = yield* Effect.forkChild(Effect.sync(() => node.offer({ _tag: "ClusterChanged", snapshot: snapshotOf(l2Services(5), ["n1"]) })))
      const b = yield* Effect.forkChild(Effect.sync(() => node.offer({ _tag: "InterfacesScanned", interfaces: [eth0, eth1] })))
      yield* Fiber.join(a)
      yield* Fiber.join(b)
      yield* advance(1)
      expect(yield* Ref.get(plane.inUse)).toEqual(["eth0", "eth1"])
      const owned = yield* Ref.get(plane.owned)
      expect(owned.size).toBe(5)
      for (const names of owned.values()) expect([...names].sort()).toEqual(["eth0", "eth1"])
      // The plane was told exactly what the machine holds.
      expect([...node.state().owned.keys()].sort()).toEqual(l2Services(5).map((s) => addressKey(s.addresses[0]!)).sort())
    }))

  it.effect("decides alone when no member answers within the join timeout, on the virtual clock", () =>
    Effect.gen(function* () {
      const plane = yield* slowPlane
      const node = yield* runNodeDriver({ settings: nodeSettings({ nodeName: "n1", excludePatterns: [], membership: true, seeds: ["n2"] }), execute: plane.execute })
      const t0 = yield* Clock.currentTimeMillis
      node.offer({ _tag: "InterfacesScanned", interfaces: [eth0] })
      node.offer({ _tag: "ConfigChanged", sources: sources(l2Docs) })
      node.offer({ _tag: "ClusterChanged", snapshot: snapshotOf(l2Services(3)) })
      node.offer({ _tag: "Started" })
      yield* settle
      yield* advance(9_999)
      expect((yield* Ref.get(plane.owned)).size).toBe(0)
      yield* advance(1)
      expect((yield* Ref.get(plane.owned)).size).toBe(3)
      expect((yield* Clock.currentTimeMillis) - t0).toBe(10_000)
    }))

  it.effect("hands over on Terminate: silent at once, everything released when the hand-over ends", () =>
    Effect.gen(function* () {
      const plane = yield* slowPlane
      const node = yield* runNodeDriver({ settings: nodeSettings({ nodeName: "n1", excludePatterns: [], membership: true }), execute: plane.execute })
      node.offer({ _tag: "InterfacesScanned", interfaces: [eth0] })
      node.offer({ _tag: "ConfigChanged", sources: sources(l2Docs) })
      node.offer({ _tag: "ClusterChanged", snapshot: snapshotOf(l2Services(3), ["n1"]) })
      node.offer({ _tag: "Started" })
      yield* advance(1)
      expect((yield* Ref.get(plane.owned)).size).toBe(3)
      node.offer({ _tag: "Terminate" })
      yield* advance(1)
      expect(plane.outputs).toContain("Silence")
      expect((yield* Ref.get(plane.owned)).size).toBe(3)
      yield* advance(1_998)
      expect((yield* Ref.get(plane.owned)).size).toBe(3)
      yield* advance(1)
      expect((yield* Ref.get(plane.owned)).size).toBe(0)
      expect(plane.outputs.at(-1)).toBe("Stopped")
    }))

  it.effect("keeps one cluster view waiting, built when taken, however many changes come during a long pass", () =>
    Effect.gen(function* () {
      // The first pass's claims block (a slow driver), while the informers report 1,000 changes.
      const gate = yield* Deferred.make<void>()
      let stepped = 0
      const node = yield* runNodeDriver({
        settings: nodeSettings({ nodeName: "n1", excludePatterns: [] }),
        execute: (o) => (o._tag === "Claim" ? Deferred.await(gate) : Effect.void),
        onStepped: () => void stepped++,
      })
      node.offer({ _tag: "InterfacesScanned", interfaces: [eth0] })
      node.offer({ _tag: "ConfigChanged", sources: sources(l2Docs) })
      node.offer({ _tag: "Started" })
      node.offerLatest("cluster", () => ({ _tag: "ClusterChanged", snapshot: snapshotOf(l2Services(2), ["n1"]) }))
      yield* settle
      expect(node.queued()).toBe(0)
      let built = 0
      for (let i = 1; i <= 1_000; i++) {
        node.offerLatest("cluster", () => {
          built++
          return { _tag: "ClusterChanged", snapshot: snapshotOf(l2Services(2 + (i % 50)), ["n1"]) }
        })
        node.offer({ _tag: "LinksPolled", up: new Set(["eth0"]), polled: new Set(["eth0"]) })
        // The event inputs queue in order; the views do not pile up behind them.
        expect(node.queued()).toBe(1 + i)
      }
      expect(built).toBe(0)
      yield* Deferred.succeed(gate, undefined)
      for (let i = 0; i < 100_000 && node.queued() > 0; i++) yield* Effect.yieldNow
      yield* settle
      expect(node.queued()).toBe(0)
      // Only the newest view was built and decided: 1,000 % 50 + 2 services.
      expect(built).toBe(1)
      expect(node.state().snapshot?.services.length).toBe(2)
      expect(node.state().owned.size).toBe(2)
      expect(stepped).toBe(4 + 1 + 1_000)
    }))

  it.effect("keeps the order of everything else: a view offered later than an event is decided after it", () =>
    Effect.gen(function* () {
      const node = yield* runNodeDriver({ settings: nodeSettings({ nodeName: "n1", excludePatterns: [] }), execute: () => Effect.void })
      node.offer({ _tag: "InterfacesScanned", interfaces: [eth0] })
      node.offer({ _tag: "ConfigChanged", sources: sources(l2Docs) })
      node.offer({ _tag: "Started" })
      node.offerLatest("cluster", () => ({ _tag: "ClusterChanged", snapshot: snapshotOf(l2Services(3), ["n1"]) }))
      node.offer({ _tag: "InterfacesScanned", interfaces: [] })
      node.offerLatest("cluster", () => ({ _tag: "ClusterChanged", snapshot: snapshotOf(l2Services(4), ["n1"]) }))
      yield* advance(1)
      // The view waited in its first place (before the interfaces went away) but with the newest content.
      expect(node.state().snapshot?.services.length).toBe(4)
      expect(node.state().owned.size).toBe(4)
      for (const o of node.state().owned.values()) expect(o.interfaces).toEqual([])
    }))
})
