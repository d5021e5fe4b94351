// Lowest-free address allocation: core/net's interval set against MetalLB's approach (scan every
// address from the start of the pool, checking each against the set of assigned ones: O(pool) per call).
import * as IntervalSet from "../core/net/interval-set.ts"
import type { Comparison } from "./harness.ts"

const allocations = 4_000

const poolStart = 0xc6120000n // 198.18.0.0/15: 131,072 addresses
const poolEnd = poolStart + (1n << 17n) - 1n

const intervalAllocate = (count: number) => {
  let used = IntervalSet.empty
  for (let i = 0; i < count; i++) {
    const address = IntervalSet.firstAbsent(used, poolStart, poolEnd)
    if (address === undefined) throw new Error("pool exhausted")
    used = IntervalSet.add(used, address, address)
  }
  return used
}

const linearScanAllocate = (count: number) => {
  const used = new Set<bigint>()
  for (let i = 0; i < count; i++) {
    let address = poolStart
    while (used.has(address)) address += 1n
    if (address > poolEnd) throw new Error("pool exhausted")
    used.add(address)
  }
  return used
}

const ipv6Start = 0x20010db8000000000000000000000000n
const ipv6End = ipv6Start + (1n << 64n) - 1n

/** Allocate, free every other address, allocate again: a fragmented IPv6 /64. */
const fragmentedIpv6Scan = () => {
  const used = new Set<bigint>()
  const allocate = () => {
    let address = ipv6Start
    while (used.has(address)) address += 1n
    used.add(address)
  }
  for (let i = 0; i < allocations; i++) allocate()
  for (let i = 0n; i < BigInt(allocations); i += 2n) used.delete(ipv6Start + i)
  for (let i = 0; i < allocations / 2; i++) allocate()
  return used
}

const fragmentedIpv6 = () => {
  let used = IntervalSet.empty
  for (let i = 0; i < allocations; i++) {
    const address = IntervalSet.firstAbsent(used, ipv6Start, ipv6End) ?? ipv6End
    used = IntervalSet.add(used, address, address)
  }
  for (let i = 0n; i < BigInt(allocations); i += 2n) used = IntervalSet.remove(used, ipv6Start + i, ipv6Start + i)
  for (let i = 0; i < allocations / 2; i++) {
    const address = IntervalSet.firstAbsent(used, ipv6Start, ipv6End) ?? ipv6End
    used = IntervalSet.add(used, address, address)
  }
  return used
}

export const comparisons: ReadonlyArray<Comparison> = [
  {
    title: `allocate ${allocations} lowest-free addresses from a /15 pool`,
    subject: { name: "interval set (core/net)", units: allocations, unitName: "allocations", run: () => intervalAllocate(allocations) },
    baseline: { name: "linear scan from pool start (MetalLB)", units: allocations, unitName: "allocations", run: () => linearScanAllocate(allocations) },
  },
  {
    title: `fragmented IPv6 /64: ${allocations} allocations, free every other, ${allocations / 2} more`,
    subject: { name: "interval set (core/net)", units: allocations * 2, unitName: "operations", run: fragmentedIpv6 },
    baseline: { name: "linear scan from pool start (MetalLB)", units: allocations * 2, unitName: "operations", run: fragmentedIpv6Scan },
    notes: () => {
      const used = fragmentedIpv6()
      return [`stored intervals: ${IntervalSet.intervalCount(used)} for ${IntervalSet.size(used)} addresses in a pool of 2^64`]
    },
  },
]
