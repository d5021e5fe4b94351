// IPAM at scale (issue: IPAM benchmark). Allocates services one by one from a v4 /16 (until full: it
// holds 65,536) and a v6 /64 (100,000), printing the per-allocation time around 1k, 10k, 50k and 100k
// allocated and the heap the allocator holds. The baseline is the naive allocator (MetalLB's algorithm:
// a scan from the start of the pool), measured in the same run at the same fill levels: it is filled
// directly to each level, then timed over a window of allocations.
import { Result } from "effect"
import { allocate, type Allocator, makeAllocator } from "../core/ipam/allocator.ts"
import type { ServiceRef } from "../core/ipam/service.ts"
import { resolve } from "../core/config/resolve.ts"
import type { Pool } from "../core/config/config.ts"
import type { Family } from "../core/net/address.ts"
import { NaiveAllocator } from "../spec/support/naive-allocator.ts"

const checkpoints = [1_000, 10_000, 50_000, 100_000]
const windowSize = 1_000
const naiveWindowSize = 100
const noSharing = { sharingKey: "", backendKey: "" }

const poolsOf = (cidr: string): ReadonlyMap<string, Pool> => {
  const r = resolve([{ value: { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: "bench" }, spec: { addresses: [cidr] } } }])
  if (r._tag === "Invalid") throw new Error(JSON.stringify(r.errors))
  return r.config.pools
}

const services = (count: number): Array<ServiceRef> =>
  Array.from({ length: count }, (_, i) => ({ key: `bench/svc-${i}`, namespace: "bench", labels: {}, namespaceLabels: {} }))

const gc = (): void => (globalThis as { gc?: () => void }).gc?.()
const heapMiB = () => process.memoryUsage().heapUsed / 2 ** 20

interface Figures {
  readonly perAllocationUs: Map<number, number>
  readonly heapMiB: number
  readonly allocated: number
}

/** Allocates up to `total` services, timing the window of allocations that ends at each checkpoint. */
const runAllocator = (cidr: string, family: Family, total: number, refs: ReadonlyArray<ServiceRef>): Figures => {
  gc()
  const heapBefore = heapMiB()
  let allocator: Allocator = makeAllocator(poolsOf(cidr))
  const perAllocationUs = new Map<number, number>()
  let windowStart = performance.now()
  let allocated = 0
  for (let i = 0; i < total; i++) {
    if (checkpoints.includes(i + windowSize)) windowStart = performance.now()
    const outcome = allocate(allocator, { service: refs[i]!, families: [family], ports: [], ...noSharing })
    if (Result.isFailure(outcome)) break
    allocator = outcome.success[0]
    allocated = i + 1
    if (checkpoints.includes(allocated)) perAllocationUs.set(allocated, ((performance.now() - windowStart) / windowSize) * 1000)
  }
  gc()
  const heap = heapMiB() - heapBefore
  if (allocator.allocations === undefined) throw new Error("unreachable: keeps the allocator alive until measured")
  return { perAllocationUs, heapMiB: heap, allocated }
}

/** The naive allocator filled to `level` by direct assignment, then timed over a window of allocations. */
const naivePerAllocationUs = (cidr: string, family: Family, level: number, refs: ReadonlyArray<ServiceRef>): number | undefined => {
  const pools = poolsOf(cidr)
  const pool = [...pools.values()][0]!
  const first = pool.ranges[0]!.first
  if (BigInt(level + naiveWindowSize) > pool.ranges[0]!.last - first + 1n) return undefined
  const naive = new NaiveAllocator(pools)
  for (let i = 0; i < level - naiveWindowSize; i++) naive.assign(refs[i]!, [{ family, value: first + BigInt(i) }], [], noSharing)
  const start = performance.now()
  for (let i = level - naiveWindowSize; i < level; i++) {
    if (!naive.allocate(refs[i]!, [family], [], noSharing).ok) return undefined
  }
  return ((performance.now() - start) / naiveWindowSize) * 1000
}

const fmt = (us: number | undefined) => (us === undefined ? "-".padStart(10) : `${us.toFixed(us < 10 ? 2 : 0)} µs`.padStart(10))

export const run = (): void => {
  if ((globalThis as { gc?: unknown }).gc === undefined) console.log("  (run with --expose-gc for exact heap figures)")
  const refs = services(100_000)
  const cases = [
    { title: "IPv4 /16 (65,536 addresses)", cidr: "198.18.0.0/16", family: "ipv4" as const },
    { title: "IPv6 /64", cidr: "2001:db8::/64", family: "ipv6" as const },
  ]
  const verdicts: Array<string> = []
  for (const c of cases) {
    const ours = runAllocator(c.cidr, c.family, 100_000, refs)
    console.log(`\nIPAM: allocate ${ours.allocated.toLocaleString("en-US")} services from ${c.title}; heap held: ${ours.heapMiB.toFixed(1)} MiB`)
    console.log(`  ${"allocated".padEnd(10)} ${"core/ipam".padStart(10)} ${"naive scan".padStart(10)}  ratio`)
    for (const level of checkpoints) {
      const mine = ours.perAllocationUs.get(level)
      const naive = mine === undefined ? undefined : naivePerAllocationUs(c.cidr, c.family, level, refs)
      const ratio = mine !== undefined && naive !== undefined ? `${(naive / mine).toFixed(0)}x` : "-"
      console.log(`  ${level.toLocaleString("en-US").padEnd(10)} ${fmt(mine)} ${fmt(naive)}  ${ratio}`)
      if (level === 50_000 && mine !== undefined && naive !== undefined) {
        verdicts.push(`${c.family} at 50k: ${(naive / mine).toFixed(0)}x faster than the scan (target >= 50x) ${naive / mine >= 50 ? "MET" : "MISSED"}`)
      }
    }
    const at1k = ours.perAllocationUs.get(1_000)
    const atTop = ours.perAllocationUs.get(100_000) ?? ours.perAllocationUs.get(50_000)
    if (at1k !== undefined && atTop !== undefined) {
      const growth = atTop / at1k
      verdicts.push(`${c.family}: per-allocation time at ${ours.perAllocationUs.has(100_000) ? "100k" : "50k"} is ${growth.toFixed(2)}x that at 1k (target <= 3x) ${growth <= 3 ? "MET" : "MISSED"}`)
    }
    if (c.family === "ipv6") verdicts.push(`ipv6: ${ours.heapMiB.toFixed(1)} MiB heap for 100k allocations in a /64 (target < 64 MiB) ${ours.heapMiB < 64 ? "MET" : "MISSED"}`)
  }
  console.log("\n  targets:")
  for (const v of verdicts) console.log(`    ${v}`)
}
