// Examples for every allocator rule of METALLB.md §3.
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import {
  allocate,
  allocateFromPool,
  allocationOf,
  type Allocator,
  assign,
  candidatePools,
  holdersOf,
  makeAllocator,
  type Outcome,
  poolStats,
  release,
  setPools,
} from "../../../core/ipam/allocator.ts"
import { allocateForService } from "../../../core/ipam/dual-stack.ts"
import { clampInt64 } from "../../../core/ipam/pool-state.ts"
import type { Port } from "../../../core/ipam/service.ts"
import { ip, noSharing, poolsOf, svc, tcp, texts, udp } from "./pools.ts"

const ok = (outcome: Outcome): Allocator => {
  if (Result.isFailure(outcome)) throw new Error(`expected success: ${outcome.failure.message}`)
  return outcome.success[0]
}
const addressesOf = (outcome: Outcome) => (Result.isSuccess(outcome) ? texts(outcome.success[1].addresses) : outcome.failure._tag)
const v4 = ["ipv4"] as const

describe("allocate", () => {
  it("hands out the lowest free address, the broadcast address included without avoidBuggyIPs", () => {
    let a = makeAllocator(poolsOf({ name: "p", addresses: ["192.0.2.254/31"] }))
    const first = allocate(a, { service: svc("a"), families: v4, ports: [], ...noSharing })
    expect(addressesOf(first)).toEqual(["192.0.2.254"])
    a = ok(first)
    expect(addressesOf(allocate(a, { service: svc("b"), families: v4, ports: [], ...noSharing }))).toEqual(["192.0.2.255"])
  })

  it("skips .0 and .255 with avoidBuggyIPs, also across /24 boundaries of a range", () => {
    let a = makeAllocator(poolsOf({ name: "p", addresses: ["192.0.2.254-198.51.100.1"], avoidBuggyIPs: true }))
    // 192.0.2.254, then 192.0.2.255 and 192.0.3.0 are skipped.
    const got: Array<string> = []
    for (const name of ["a", "b", "c"]) {
      const outcome = allocate(a, { service: svc(name), families: v4, ports: [], ...noSharing })
      got.push(...(addressesOf(outcome) as Array<string>))
      a = ok(outcome)
    }
    expect(got).toEqual(["192.0.2.254", "192.0.3.1", "192.0.3.2"])
  })

  it("tries pinned pools by priority (0 last, ties by name), then default pools by name", () => {
    const pools = poolsOf(
      { name: "zz-default", addresses: ["192.0.2.0/30"] },
      { name: "aa-default", addresses: ["192.0.2.4/30"] },
      { name: "no-auto", addresses: ["192.0.2.8/30"], autoAssign: false },
      { name: "pinned-0", addresses: ["192.0.2.12/30"], serviceAllocation: { namespaces: ["team"] } },
      { name: "pinned-20", addresses: ["192.0.2.16/30"], serviceAllocation: { priority: 20, namespaces: ["team"] } },
      { name: "pinned-10", addresses: ["192.0.2.20/30"], serviceAllocation: { priority: 10, namespaces: ["team"] } },
      { name: "pinned-10b", addresses: ["192.0.2.24/30"], serviceAllocation: { priority: 10, namespaces: ["team"] } },
      { name: "other-team", addresses: ["192.0.2.28/30"], serviceAllocation: { priority: 1, namespaces: ["other"] } },
    )
    const a = makeAllocator(pools)
    expect(candidatePools(a, svc("x", { namespace: "team" }))).toEqual(["pinned-10", "pinned-10b", "pinned-20", "pinned-0", "aa-default", "zz-default"])
    expect(candidatePools(a, svc("x"))).toEqual(["aa-default", "zz-default"])
    expect(addressesOf(allocate(a, { service: svc("x", { namespace: "team" }), families: v4, ports: [], ...noSharing }))).toEqual(["192.0.2.20"])
  })

  it("falls through to the next pool when one is full, and reports exhaustion when all are", () => {
    let a = makeAllocator(poolsOf({ name: "a", addresses: ["192.0.2.0/32"] }, { name: "b", addresses: ["192.0.2.1/32"] }))
    a = ok(allocate(a, { service: svc("one"), families: v4, ports: [], ...noSharing }))
    const second = allocate(a, { service: svc("two"), families: v4, ports: [], ...noSharing })
    expect(addressesOf(second)).toEqual(["192.0.2.1"])
    const third = allocate(ok(second), { service: svc("three"), families: v4, ports: [], ...noSharing })
    expect(Result.isFailure(third) && third.failure._tag).toBe("PoolExhausted")
  })

  it("gives a service its existing allocation again", () => {
    let a = makeAllocator(poolsOf({ name: "p", addresses: ["192.0.2.0/29"] }))
    a = ok(allocate(a, { service: svc("a"), families: v4, ports: [], ...noSharing }))
    a = ok(allocate(a, { service: svc("b"), families: v4, ports: [], ...noSharing }))
    expect(addressesOf(allocate(a, { service: svc("a"), families: v4, ports: [tcp(80)], ...noSharing }))).toEqual(["192.0.2.0"])
  })

  it("honours namespaces, namespace selectors and service selectors of pinned pools", () => {
    const pools = poolsOf({
      name: "gold",
      addresses: ["192.0.2.0/30"],
      serviceAllocation: { namespaceSelectors: [{ matchLabels: { tier: "gold" } }], serviceSelectors: [{ matchLabels: { app: "web" } }] },
    })
    const a = makeAllocator(pools)
    const web = (nsLabels: Record<string, string>, labels: Record<string, string>) =>
      allocateFromPool(a, "gold", { service: svc("w", { namespaceLabels: nsLabels, labels }), families: v4, ports: [], ...noSharing })
    expect(addressesOf(web({ tier: "gold" }, { app: "web" }))).toEqual(["192.0.2.0"])
    const badNamespace = web({ tier: "silver" }, { app: "web" })
    expect(Result.isFailure(badNamespace) && badNamespace.failure).toMatchObject({ _tag: "IncompatiblePool", reason: "namespace" })
    const badService = web({ tier: "gold" }, { app: "db" })
    expect(Result.isFailure(badService) && badService.failure).toMatchObject({ _tag: "IncompatiblePool", reason: "serviceSelector" })
  })

  it("allocates from a named pool even without autoAssign, and refuses unknown pools", () => {
    const a = makeAllocator(poolsOf({ name: "manual", addresses: ["192.0.2.0/30"], autoAssign: false }))
    expect(Result.isFailure(allocate(a, { service: svc("a"), families: v4, ports: [], ...noSharing }))).toBe(true)
    expect(addressesOf(allocateFromPool(a, "manual", { service: svc("a"), families: v4, ports: [], ...noSharing }))).toEqual(["192.0.2.0"])
    expect(addressesOf(allocateFromPool(a, "nope", { service: svc("a"), families: v4, ports: [], ...noSharing }))).toBe("UnknownPool")
  })
})

describe("assign (requested addresses, and status after a restart)", () => {
  const pools = poolsOf(
    { name: "v4", addresses: ["192.0.2.0/24"], autoAssign: false },
    { name: "v6", addresses: ["2001:db8::/120"] },
    { name: "dual", addresses: ["198.51.100.0/24", "2001:db8:1::/120"] },
    { name: "buggy", addresses: ["203.0.113.0/24"], avoidBuggyIPs: true },
  )
  const request = (addresses: Array<string>, name = "a") => ({ service: svc(name), addresses: addresses.map(ip), ports: [], ...noSharing })

  it("assigns addresses of one pool, ignoring autoAssign", () => {
    expect(addressesOf(assign(makeAllocator(pools), request(["192.0.2.77"])))).toEqual(["192.0.2.77"])
    expect(addressesOf(assign(makeAllocator(pools), request(["198.51.100.1", "2001:db8:1::1"])))).toEqual(["198.51.100.1", "2001:db8:1::1"])
  })

  it("refuses addresses outside every pool, split across pools, buggy ones, and bad family combinations", () => {
    const a = makeAllocator(pools)
    expect(addressesOf(assign(a, request(["198.18.0.1"])))).toBe("AddressNotInPool")
    expect(addressesOf(assign(a, request(["192.0.2.1", "2001:db8::1"])))).toBe("AddressesInDifferentPools")
    expect(addressesOf(assign(a, request(["203.0.113.255"])))).toBe("AddressNotInPool")
    expect(addressesOf(assign(a, request(["198.51.100.1", "198.51.100.2"])))).toBe("FamilyMismatch")
    expect(addressesOf(assign(a, { ...request(["2001:db8::1"]), families: ["ipv4"] }))).toBe("FamilyMismatch")
  })

  it("refuses an address held by a service that does not share, naming it", () => {
    const a = ok(assign(makeAllocator(pools), request(["192.0.2.5"], "first")))
    const second = assign(a, request(["192.0.2.5"], "second"))
    expect(Result.isFailure(second) && second.failure).toMatchObject({ _tag: "AddressInUse", by: ["default/first"] })
  })
})

describe("sharing", () => {
  const pools = poolsOf({ name: "p", addresses: ["192.0.2.0/29"] })
  const share = (name: string, ports: Array<Port>, sharingKey = "k", backendKey = "") =>
    ({ service: svc(name), families: ["ipv4"] as const, ports, sharingKey, backendKey })

  it("shares one address between services with the same key and disjoint ports; TCP/53 and UDP/53 differ", () => {
    let a = makeAllocator(pools)
    a = ok(allocate(a, share("dns-tcp", [tcp(53)])))
    const udpOutcome = allocate(a, share("dns-udp", [udp(53)]))
    expect(addressesOf(udpOutcome)).toEqual(["192.0.2.0"])
    a = ok(udpOutcome)
    expect(holdersOf(a, ip("192.0.2.0"))).toEqual(["default/dns-tcp", "default/dns-udp"])
    expect(poolStats(a, "p")?.assigned.ipv4).toBe(1n)
    // Same port again: not on that address; the next free one.
    expect(addressesOf(allocate(a, share("dns-tcp-2", [tcp(53)])))).toEqual(["192.0.2.1"])
  })

  it("refuses to share across different keys, or different backends (externalTrafficPolicy Local)", () => {
    let a = makeAllocator(pools)
    a = ok(assign(a, { ...share("a", [tcp(80)]), addresses: [ip("192.0.2.3")] }))
    const otherKey = assign(a, { ...share("b", [tcp(81)], "other"), addresses: [ip("192.0.2.3")] })
    expect(Result.isFailure(otherKey) && otherKey.failure._tag).toBe("AddressInUse")
    const otherBackend = assign(a, { ...share("b", [tcp(81)], "k", "app=other"), addresses: [ip("192.0.2.3")] })
    expect(Result.isFailure(otherBackend) && otherBackend.failure._tag).toBe("AddressInUse")
    const portClash = assign(a, { ...share("b", [tcp(80)]), addresses: [ip("192.0.2.3")] })
    expect(Result.isFailure(portClash) && portClash.failure).toMatchObject({ _tag: "PortConflict", by: "default/a" })
  })

  it("lets the sole holder change its sharing key", () => {
    let a = makeAllocator(pools)
    a = ok(assign(a, { ...share("a", [tcp(80)]), addresses: [ip("192.0.2.3")] }))
    a = ok(assign(a, { ...share("a", [tcp(80)], "renamed"), addresses: [ip("192.0.2.3")] }))
    expect(addressesOf(assign(a, { ...share("b", [tcp(81)], "renamed"), addresses: [ip("192.0.2.3")] }))).toEqual(["192.0.2.3"])
    expect(addressesOf(assign(a, { ...share("b", [tcp(81)], "k"), addresses: [ip("192.0.2.3")] }))).toBe("AddressInUse")
  })

  it("frees a shared address only when its last holder is released", () => {
    let a = makeAllocator(pools)
    a = ok(allocate(a, share("a", [tcp(80)])))
    a = ok(allocate(a, share("b", [tcp(81)])))
    a = release(a, "default/a")
    expect(holdersOf(a, ip("192.0.2.0"))).toEqual(["default/b"])
    a = release(a, "default/b")
    expect(holdersOf(a, ip("192.0.2.0"))).toEqual([])
    expect(poolStats(a, "p")?.assigned.ipv4).toBe(0n)
  })
})

describe("dual-stack", () => {
  const pools = poolsOf({ name: "v4only", addresses: ["192.0.2.0/30"] }, { name: "x-dual", addresses: ["198.51.100.0/30", "2001:db8::/126"] })
  const service = (clusterIPs: Array<string>, ipFamilyPolicy: "SingleStack" | "PreferDualStack" | "RequireDualStack", pool?: string) => ({
    service: svc("d"), clusterIPs: clusterIPs.map(ip), ipFamilyPolicy, ports: [], ...noSharing, ...(pool ? { pool } : {}),
  })

  it("takes the families from the ClusterIPs and gives one address of each from one pool", () => {
    expect(addressesOf(allocateForService(makeAllocator(pools), service(["198.18.0.1", "2001:db8:ffff::1"], "RequireDualStack")))).toEqual(["198.51.100.0", "2001:db8::"])
    expect(addressesOf(allocateForService(makeAllocator(pools), service(["2001:db8:ffff::1"], "SingleStack")))).toEqual(["2001:db8::"])
  })

  it("refuses RequireDualStack with one ClusterIP, and falls back to the primary family for PreferDualStack", () => {
    expect(addressesOf(allocateForService(makeAllocator(pools), service(["198.18.0.1"], "RequireDualStack")))).toBe("NotEnoughClusterIPs")
    expect(addressesOf(allocateForService(makeAllocator(pools), service(["198.18.0.1", "2001:db8:ffff::1"], "PreferDualStack", "v4only")))).toEqual(["192.0.2.0"])
    expect(addressesOf(allocateForService(makeAllocator(pools), service(["198.18.0.1", "2001:db8:ffff::1"], "RequireDualStack", "v4only")))).toBe("PoolExhausted")
  })
})

describe("a held allocation of the wrong family (MetalLB: IP for wrong family assigned)", () => {
  const pools = poolsOf({ name: "dual", addresses: ["198.51.100.0/30", "2001:db8::/126"] })

  it("allocate and allocateFromPool refuse it with WrongFamilyHeld instead of handing it back, and change nothing", () => {
    const held = ok(allocate(makeAllocator(pools), { service: svc("a"), families: v4, ports: [], ...noSharing }))
    for (const families of [["ipv6"], ["ipv4", "ipv6"], ["ipv6", "ipv4"]] as const) {
      for (const outcome of [
        allocate(held, { service: svc("a"), families, ports: [], ...noSharing }),
        allocateFromPool(held, "dual", { service: svc("a"), families, ports: [], ...noSharing }),
      ]) {
        expect(addressesOf(outcome)).toBe("WrongFamilyHeld")
        if (Result.isFailure(outcome)) {
          expect(outcome.failure).toMatchObject({ service: "default/a", held: ["198.51.100.0"], heldFamilies: ["ipv4"], wanted: families })
          expect(outcome.failure.message).toBe(`default/a holds 198.51.100.0 (ipv4) but asks for ${families.join("+")}: release it before allocating again`)
        }
      }
    }
    expect(texts(allocationOf(held, "default/a")?.addresses ?? [])).toEqual(["198.51.100.0"])
    // The same families (in either order for a dual-stack holder) are handed back as before.
    expect(addressesOf(allocate(held, { service: svc("a"), families: v4, ports: [], ...noSharing }))).toEqual(["198.51.100.0"])
    const dual = ok(allocate(makeAllocator(pools), { service: svc("b"), families: ["ipv4", "ipv6"], ports: [], ...noSharing }))
    expect(addressesOf(allocateFromPool(dual, "dual", { service: svc("b"), families: ["ipv6", "ipv4"], ports: [], ...noSharing }))).toEqual(["198.51.100.0", "2001:db8::"])
    expect(addressesOf(allocate(dual, { service: svc("b"), families: ["ipv6"], ports: [], ...noSharing }))).toBe("WrongFamilyHeld")
    // Released first, the service gets an address of the family it asks for.
    expect(addressesOf(allocate(release(held, "default/a"), { service: svc("a"), families: ["ipv6"], ports: [], ...noSharing }))).toEqual(["2001:db8::"])
  })

  it("allocateForService: a SingleStack service whose ClusterIP changed family is refused; PreferDualStack keeps its primary-family address", () => {
    const request = (clusterIPs: Array<string>, ipFamilyPolicy: "SingleStack" | "PreferDualStack") =>
      ({ service: svc("a"), clusterIPs: clusterIPs.map(ip), ipFamilyPolicy, ports: [], ...noSharing })
    const held = ok(allocateForService(makeAllocator(pools), request(["198.18.0.1"], "SingleStack")))
    expect(addressesOf(allocateForService(held, request(["2001:db8:ffff::1"], "SingleStack")))).toBe("WrongFamilyHeld")
    expect(addressesOf(allocateForService(held, request(["198.18.0.1", "2001:db8:ffff::1"], "PreferDualStack")))).toEqual(["198.51.100.0"])
  })
})

describe("setPools (configuration reload)", () => {
  it("keeps every address still in a pool, re-homes renamed pools, releases only the orphans", () => {
    let a = makeAllocator(poolsOf({ name: "old", addresses: ["192.0.2.0/24"] }, { name: "gone", addresses: ["198.51.100.0/24"] }))
    a = ok(assign(a, { service: svc("kept"), addresses: [ip("192.0.2.10")], ports: [], ...noSharing }))
    a = ok(assign(a, { service: svc("orphan"), addresses: [ip("198.51.100.10")], ports: [], ...noSharing }))
    const { allocator, released } = setPools(a, poolsOf({ name: "renamed", addresses: ["192.0.2.0/25"] }))
    expect(released).toEqual(["default/orphan"])
    expect(allocationOf(allocator, "default/kept")).toMatchObject({ pool: "renamed" })
    expect(texts(allocationOf(allocator, "default/kept")!.addresses)).toEqual(["192.0.2.10"])
    expect(poolStats(allocator, "renamed")?.assigned.ipv4).toBe(1n)
  })
})

describe("pool statistics", () => {
  it("counts capacity exactly: avoidBuggyIPs removes two per /24, IPv6 /64 is 2^64 (clamped to int64 for status)", () => {
    const a = makeAllocator(poolsOf(
      { name: "buggy", addresses: ["192.0.2.0/23", "203.0.113.250-203.0.113.255"], avoidBuggyIPs: true },
      { name: "huge", addresses: ["2001:db8::/64", "198.51.100.0/24"] },
    ))
    expect(poolStats(a, "buggy")?.capacity).toEqual({ ipv4: 512n - 4n + 6n - 1n, ipv6: 0n })
    expect(poolStats(a, "huge")?.capacity).toEqual({ ipv4: 256n, ipv6: 1n << 64n })
    expect(clampInt64(1n << 64n)).toBe((1n << 63n) - 1n)
  })
})
