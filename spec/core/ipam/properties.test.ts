// Properties of core/ipam over random operation sequences on small pools, and a model-based test
// against the naive reference allocator (spec/support/naive-allocator.ts), which scans addresses one
// by one as MetalLB does. fast-check prints the seed and the shrunk sequence on failure.
import { HashMap, Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Pool } from "../../../core/config/config.ts"
import {
  allocate,
  allocateFromPool,
  type Allocator,
  assign,
  makeAllocator,
  type Outcome,
  poolStats,
  release,
  setPools,
} from "../../../core/ipam/allocator.ts"
import { poolContains } from "../../../core/ipam/pool-state.ts"
import { incompatibility, type Port, type ServiceRef } from "../../../core/ipam/service.ts"
import { type Address, type Family, formatAddress } from "../../../core/net/address.ts"
import { NaiveAllocator } from "../../support/naive-allocator.ts"
import { ip, poolsOf } from "./pools.ts"

const configA = poolsOf(
  { name: "small", addresses: ["192.0.2.0/30", "2001:db8::/126"] },
  { name: "buggy", addresses: ["192.0.2.254-192.0.3.2"], avoidBuggyIPs: true },
  { name: "pinned", addresses: ["198.51.100.8/30"], serviceAllocation: { priority: 5, namespaces: ["team"] } },
  { name: "manual", addresses: ["203.0.113.0/31", "2001:db8:1::/127"], autoAssign: false },
)
// A reload: "small" shrinks, "buggy" is renamed and loses avoidBuggyIPs, "manual" disappears.
const configB = poolsOf(
  { name: "small", addresses: ["192.0.2.0/31", "2001:db8::/126"] },
  { name: "renamed", addresses: ["192.0.2.254-192.0.3.2"] },
  { name: "pinned", addresses: ["198.51.100.8/30"], serviceAllocation: { priority: 5, namespaces: ["team"] } },
)
const configs = [configA, configB]
const poolNames = ["small", "buggy", "pinned", "manual", "renamed", "missing"]

const services: ReadonlyArray<ServiceRef> = ["a", "b", "c", "d", "e", "f"].map((name, i) => ({
  key: `${i % 2 === 0 ? "team" : "default"}/${name}`,
  namespace: i % 2 === 0 ? "team" : "default",
  labels: {},
  namespaceLabels: {},
}))

const candidateAddresses = [
  "192.0.2.0", "192.0.2.1", "192.0.2.3", "192.0.2.255", "192.0.3.0", "192.0.3.1", "198.51.100.9",
  "203.0.113.1", "2001:db8::1", "2001:db8:1::1", "198.18.0.1",
].map(ip)

type Op =
  | { readonly kind: "allocate"; readonly service: number; readonly families: ReadonlyArray<Family>; readonly ports: ReadonlyArray<Port>; readonly sharingKey: string; readonly backendKey: string }
  | { readonly kind: "fromPool"; readonly pool: string; readonly service: number; readonly families: ReadonlyArray<Family>; readonly ports: ReadonlyArray<Port>; readonly sharingKey: string; readonly backendKey: string }
  | { readonly kind: "assign"; readonly service: number; readonly addresses: ReadonlyArray<Address>; readonly ports: ReadonlyArray<Port>; readonly sharingKey: string; readonly backendKey: string }
  | { readonly kind: "release"; readonly service: number }
  | { readonly kind: "reload"; readonly config: number }

const portArb = fc.record({ protocol: fc.constantFrom("TCP" as const, "UDP" as const), port: fc.constantFrom(53, 80, 443) })
const keysArb = fc.record({ sharingKey: fc.constantFrom("", "", "k1", "k2"), backendKey: fc.constantFrom("", "", "app=x") })
const familiesArb = fc.constantFrom<ReadonlyArray<Family>>(["ipv4"], ["ipv4"], ["ipv6"], ["ipv4", "ipv6"], ["ipv6", "ipv4"])
const common = { service: fc.nat(services.length - 1), ports: fc.uniqueArray(portArb, { maxLength: 2, selector: (p) => `${p.protocol}${p.port}` }) }

const opArb = (withReload: boolean): fc.Arbitrary<Op> =>
  fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant("allocate" as const), ...common, families: familiesArb }).chain((o) => keysArb.map((k) => ({ ...o, ...k }))), weight: 5 },
    { arbitrary: fc.record({ kind: fc.constant("fromPool" as const), pool: fc.constantFrom(...poolNames), ...common, families: familiesArb }).chain((o) => keysArb.map((k) => ({ ...o, ...k }))), weight: 2 },
    {
      arbitrary: fc.record({ kind: fc.constant("assign" as const), ...common, addresses: fc.uniqueArray(fc.constantFrom(...candidateAddresses), { minLength: 1, maxLength: 2 }) })
        .chain((o) => keysArb.map((k) => ({ ...o, ...k }))),
      weight: 3,
    },
    { arbitrary: fc.record({ kind: fc.constant("release" as const), service: fc.nat(services.length - 1) }), weight: 2 },
    ...(withReload ? [{ arbitrary: fc.record({ kind: fc.constant("reload" as const), config: fc.nat(configs.length - 1) }), weight: 1 }] : []),
  )

interface Run {
  readonly allocator: Allocator
  readonly pools: ReadonlyMap<string, Pool>
  readonly results: ReadonlyArray<string>
}

const describeOutcome = (outcome: Outcome) =>
  Result.isSuccess(outcome) ? outcome.success[1].addresses.map(formatAddress).join(",") : outcome.failure._tag

/** Applies one op; returns the new allocator and a text describing the result. */
const step = (allocator: Allocator, op: Op): { readonly allocator: Allocator; readonly result: string; readonly pools?: ReadonlyMap<string, Pool> } => {
  const keep = (outcome: Outcome) => ({ allocator: Result.isSuccess(outcome) ? outcome.success[0] : allocator, result: describeOutcome(outcome) })
  switch (op.kind) {
    case "allocate":
      return keep(allocate(allocator, { ...op, service: services[op.service]! }))
    case "fromPool":
      return keep(allocateFromPool(allocator, op.pool, { ...op, service: services[op.service]! }))
    case "assign":
      return keep(assign(allocator, { ...op, service: services[op.service]! }))
    case "release":
      return { allocator: release(allocator, services[op.service]!.key), result: "released" }
    case "reload": {
      const { allocator: next, released } = setPools(allocator, configs[op.config]!)
      return { allocator: next, result: `released:${released.join(",")}`, pools: configs[op.config]! }
    }
  }
}

const runAll = (ops: ReadonlyArray<Op>): Run => {
  let allocator = makeAllocator(configA)
  let pools = configA
  const results: Array<string> = []
  for (const op of ops) {
    const next = step(allocator, op)
    allocator = next.allocator
    pools = next.pools ?? pools
    results.push(next.result)
  }
  return { allocator, pools, results }
}

const snapshot = (allocator: Allocator) =>
  [...HashMap.values(allocator.allocations)]
    .map((a) => `${a.service}@${a.pool}:${a.addresses.map(formatAddress).join(",")}|${a.sharingKey}|${a.backendKey}|${a.ports.map((p) => `${p.protocol}${p.port}`).join(",")}`)
    .sort()

const holders = (allocator: Allocator) => {
  const byAddress = new Map<string, Array<{ service: string; sharingKey: string; backendKey: string; ports: ReadonlyArray<Port> }>>()
  for (const a of HashMap.values(allocator.allocations)) {
    for (const address of a.addresses) {
      const key = formatAddress(address)
      byAddress.set(key, [...(byAddress.get(key) ?? []), a])
    }
  }
  return byAddress
}

const runs = { numRuns: 1000 }
const opsArb = (withReload: boolean) => fc.array(opArb(withReload), { maxLength: 30 })

describe("IPAM properties", () => {
  it("never gives an address to two services unless the sharing rules allow it", () => {
    fc.assert(
      fc.property(opsArb(true), (ops) => {
        for (const [address, users] of holders(runAll(ops).allocator)) {
          if (users.length < 2) continue
          const [first] = users
          for (const u of users) {
            expect(u.sharingKey, address).not.toBe("")
            expect(u.sharingKey).toBe(first!.sharingKey)
            expect(u.backendKey).toBe(first!.backendKey)
          }
          const ports = users.flatMap((u) => u.ports.map((p) => `${p.protocol}${p.port}`))
          expect(new Set(ports).size, `${address}: ${ports}`).toBe(ports.length)
        }
      }),
      runs,
    )
  })

  it("puts every address in the pool recorded for it, and that pool accepts the service (without reloads)", () => {
    fc.assert(
      fc.property(opsArb(false), (ops) => {
        const { allocator, pools } = runAll(ops)
        for (const a of HashMap.values(allocator.allocations)) {
          const pool = pools.get(a.pool)!
          for (const address of a.addresses) expect(poolContains(pool, address)).toBe(true)
          const service = services.find((s) => s.key === a.service)!
          expect(incompatibility(pool, service)).toBeUndefined()
          expect(new Set(a.addresses.map((x) => x.family)).size).toBe(a.addresses.length)
        }
      }),
      runs,
    )
  })

  it("allocate and allocateFromPool only ever hand back addresses of exactly the families asked for", () => {
    let refusedHeld = 0 // the refusal must actually occur in the generated sequences, or the property shows nothing
    fc.assert(
      fc.property(opsArb(true), (ops) => {
        let allocator = makeAllocator(configA)
        for (const op of ops) {
          const held = op.kind === "reload" ? undefined : HashMap.get(allocator.allocations, services[op.service]!.key)
          const next = step(allocator, op)
          if (op.kind === "allocate" || op.kind === "fromPool") {
            const wanted = [...new Set(op.families)].sort().join("+")
            if (/^[A-Z]/.test(next.result)) {
              if (next.result === "WrongFamilyHeld") {
                refusedHeld += 1
                expect(held?._tag).toBe("Some")
                if (held?._tag === "Some") expect([...new Set(held.value.addresses.map((a) => a.family))].sort().join("+")).not.toBe(wanted)
              }
            } else {
              const got = HashMap.get(next.allocator.allocations, services[op.service]!.key)
              expect(got._tag).toBe("Some")
              if (got._tag === "Some") expect([...new Set(got.value.addresses.map((a) => a.family))].sort().join("+")).toBe(wanted)
            }
          }
          allocator = next.allocator
        }
      }),
      runs,
    )
    expect(refusedHeld).toBeGreaterThan(0)
  })

  it("is deterministic: the same operations give the same results and state", () => {
    fc.assert(
      fc.property(opsArb(true), (ops) => {
        const first = runAll(ops)
        const second = runAll(ops)
        expect(second.results).toEqual(first.results)
        expect(snapshot(second.allocator)).toEqual(snapshot(first.allocator))
      }),
      runs,
    )
  })

  it("counts equal a brute-force recount of every pool", () => {
    fc.assert(
      fc.property(opsArb(true), (ops) => {
        const { allocator, pools } = runAll(ops)
        const naive = new NaiveAllocator(pools)
        for (const [name, pool] of pools) {
          const used = { ipv4: new Set<string>(), ipv6: new Set<string>() }
          for (const a of HashMap.values(allocator.allocations)) {
            for (const address of a.addresses) if (poolContains(pool, address)) used[address.family].add(formatAddress(address))
          }
          const stats = poolStats(allocator, name)!
          expect(stats.assigned).toEqual({ ipv4: BigInt(used.ipv4.size), ipv6: BigInt(used.ipv6.size) })
          expect(stats.capacity).toEqual(naive.stats(name).capacity)
          expect(stats.available.ipv4).toBe(stats.capacity.ipv4 - stats.assigned.ipv4)
        }
      }),
      runs,
    )
  })

  it("never moves a service on reload while its addresses are still in a pool; only orphans are released", () => {
    fc.assert(
      fc.property(opsArb(false), fc.nat(configs.length - 1), (ops, target) => {
        const { allocator } = runAll(ops)
        const { allocator: reloaded, released } = setPools(allocator, configs[target]!)
        for (const before of HashMap.values(allocator.allocations)) {
          const stillInPool = [...configs[target]!.values()].some((p) => before.addresses.every((a) => poolContains(p, a)))
          const after = HashMap.get(reloaded.allocations, before.service)
          if (stillInPool) {
            expect(after._tag).toBe("Some")
            if (after._tag === "Some") expect(after.value.addresses).toEqual(before.addresses)
          } else {
            expect(released).toContain(before.service)
            expect(after._tag).toBe("None")
          }
        }
      }),
      runs,
    )
  })

  it("changes nothing when an operation fails", () => {
    fc.assert(
      fc.property(opsArb(true), opArb(false), (ops, last) => {
        const { allocator } = runAll(ops)
        const before = snapshot(allocator)
        const statsBefore = [...configA.keys()].map((p) => poolStats(allocator, p))
        const outcome = step(allocator, last)
        if (!/^[A-Z][A-Za-z]+$/.test(outcome.result)) return // succeeded
        expect(outcome.allocator).toBe(allocator)
        expect(snapshot(allocator)).toEqual(before)
        expect([...configA.keys()].map((p) => poolStats(allocator, p))).toEqual(statsBefore)
      }),
      runs,
    )
  })

  it("matches the naive reference allocator on every operation (model-based)", () => {
    fc.assert(
      fc.property(opsArb(true), (ops) => {
        let allocator = makeAllocator(configA)
        const naive = new NaiveAllocator(configA)
        for (const op of ops) {
          const next = step(allocator, op)
          allocator = next.allocator
          let expected: string
          const service = op.kind === "reload" ? undefined : services[op.service]!
          switch (op.kind) {
            case "allocate": {
              const r = naive.allocate(service!, op.families, op.ports, op)
              expected = r.ok ? r.addresses.map(formatAddress).join(",") : r.error
              break
            }
            case "fromPool": {
              const r = naive.allocateFromPool(op.pool, service!, op.families, op.ports, op)
              expected = r.ok ? r.addresses.map(formatAddress).join(",") : r.error
              break
            }
            case "assign": {
              const r = naive.assign(service!, op.addresses, op.ports, op)
              expected = r.ok ? r.addresses.map(formatAddress).join(",") : r.error
              break
            }
            case "release":
              naive.release(service!.key)
              expected = "released"
              break
            case "reload":
              expected = `released:${naive.setPools(configs[op.config]!).join(",")}`
              break
          }
          expect(next.result, JSON.stringify(op, (_, v) => (typeof v === "bigint" ? v.toString() : v))).toBe(expected)
          const naiveSnapshot = [...naive.allocations.values()]
            .map((a) => `${a.service}@${a.pool}:${a.addresses.map(formatAddress).join(",")}|${a.sharingKey}|${a.backendKey}|${a.ports.map((p) => `${p.protocol}${p.port}`).join(",")}`)
            .sort()
          expect(snapshot(allocator)).toEqual(naiveSnapshot)
        }
      }),
      runs,
    )
  })
})
