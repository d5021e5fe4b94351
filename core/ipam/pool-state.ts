// One pool's address accounting: which addresses cannot be handed out (in use, plus the .0 and .255
// of every /24 when avoidBuggyIPs is set), how many are in use, and the exact capacity. Free space is
// an interval set per family, so finding the lowest free address is O(log n) in the number of
// allocations and independent of the pool's size: a /64 costs what a /24 costs.
import type { Pool } from "../config/config.ts"
import type { Address } from "../net/address.ts"
import * as IntervalSet from "../net/interval-set.ts"
import type { AddressRange } from "../net/prefix.ts"

export interface PerFamily<A> {
  readonly ipv4: A
  readonly ipv6: A
}

export interface PoolState {
  readonly pool: Pool
  /** In use, and for avoidBuggyIPs pools also every IPv4 address ending in .0 or .255. */
  readonly unavailable: PerFamily<IntervalSet.IntervalSet>
  /** Distinct addresses in use. */
  readonly assigned: PerFamily<bigint>
  /** Addresses that may be handed out at all (buggy ones excluded). */
  readonly capacity: PerFamily<bigint>
}

/** MetalLB's ipConfusesBuggyFirmwares: IPv4 addresses ending in .0 or .255. */
export const isBuggy = (address: Address): boolean =>
  address.family === "ipv4" && (address.value % 256n === 0n || address.value % 256n === 255n)

const floorDiv = (a: bigint, b: bigint) => (a >= 0n ? a / b : -((-a + b - 1n) / b))

/** How many x in first..last have x mod 256 == residue. */
const countResidue = (first: bigint, last: bigint, residue: bigint) =>
  floorDiv(last - residue, 256n) - floorDiv(first - 1n - residue, 256n)

const buggyCount = (range: AddressRange) => countResidue(range.first, range.last, 0n) + countResidue(range.first, range.last, 255n)

export const makePoolState = (pool: Pool): PoolState => {
  const capacity = { ipv4: 0n, ipv6: 0n }
  for (const range of pool.ranges) {
    const size = range.last - range.first + 1n
    capacity[range.family] += range.family === "ipv4" && pool.avoidBuggyIPs ? size - buggyCount(range) : size
  }
  return { pool, unavailable: { ipv4: IntervalSet.empty, ipv6: IntervalSet.empty }, assigned: { ipv4: 0n, ipv6: 0n }, capacity }
}

/** True when the pool may hand out this address: inside one of its ranges and not a buggy one. */
export const poolContains = (pool: Pool, address: Address): boolean =>
  pool.ranges.some((r) => r.family === address.family && address.value >= r.first && address.value <= r.last) &&
  !(pool.avoidBuggyIPs && isBuggy(address))

/**
 * Marks an address used. In an avoidBuggyIPs pool the .0 and .255 of its /24 are blocked too, so the
 * used addresses of neighbouring /24s merge into one interval and the search for a free address never
 * has to step over buggy addresses one /24 at a time (blocks stay after release: they are never usable).
 */
export const markUsed = (state: PoolState, address: Address): PoolState => {
  let set = IntervalSet.add(state.unavailable[address.family], address.value, address.value)
  if (state.pool.avoidBuggyIPs && address.family === "ipv4") {
    const base = address.value - (address.value % 256n)
    set = IntervalSet.add(IntervalSet.add(set, base, base), base + 255n, base + 255n)
  }
  return {
    ...state,
    unavailable: { ...state.unavailable, [address.family]: set },
    assigned: { ...state.assigned, [address.family]: state.assigned[address.family] + 1n },
  }
}

export const markFree = (state: PoolState, address: Address): PoolState => ({
  ...state,
  unavailable: { ...state.unavailable, [address.family]: IntervalSet.remove(state.unavailable[address.family], address.value, address.value) },
  assigned: { ...state.assigned, [address.family]: state.assigned[address.family] - 1n },
})

/**
 * The lowest address of the range that is neither in use nor buggy. The loop is bounded: a /24 with a
 * used address has its buggy addresses blocked, so at most its .0 and the previous .255 are stepped over.
 */
export const firstFreeIn = (state: PoolState, range: AddressRange): bigint | undefined => {
  const skipBuggy = state.pool.avoidBuggyIPs && range.family === "ipv4"
  let from = range.first
  for (;;) {
    const candidate = IntervalSet.firstAbsent(state.unavailable[range.family], from, range.last)
    if (candidate === undefined || !skipBuggy || !isBuggy({ family: "ipv4", value: candidate })) return candidate
    from = candidate + 1n
  }
}

export interface PoolStats {
  readonly capacity: PerFamily<bigint>
  readonly assigned: PerFamily<bigint>
  readonly available: PerFamily<bigint>
}

export const statsOf = (state: PoolState): PoolStats => ({
  capacity: state.capacity,
  assigned: state.assigned,
  available: { ipv4: state.capacity.ipv4 - state.assigned.ipv4, ipv6: state.capacity.ipv6 - state.assigned.ipv6 },
})

const int64Max = (1n << 63n) - 1n

/** IPAddressPool status fields are int64: a /64's 2^64 clamps to 2^63-1 there (metrics and CLI keep the exact value). */
export const clampInt64 = (value: bigint): bigint => (value > int64Max ? int64Max : value)
