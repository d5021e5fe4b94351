// The allocator: which service holds which addresses, decided as MetalLB's internal/allocator does
// (METALLB.md §3), as a persistent value. Every operation returns a new Allocator on success and an
// IpamError otherwise, leaving the old value untouched, so a failed operation changes nothing.
//
// Where MetalLB is random this is deterministic: pinned pools (serviceAllocation) are tried by priority
// (ascending, 0 last), ties by name; default pools (autoAssign, no serviceAllocation) by name. Within a
// pool the lowest usable address of each family wins, ranges in spec order, as in MetalLB; for a
// service with a sharing key, "usable" includes addresses already shared under the same keys whose
// ports do not collide.
import { HashMap, Option, Result } from "effect"
import type { Pool } from "../config/config.ts"
import { type Address, type Family, formatAddress } from "../net/address.ts"
import {
  AddressesInDifferentPools,
  AddressInUse,
  AddressNotInPool,
  FamilyMismatch,
  type IpamError,
  PoolExhausted,
  PortConflict,
  UnknownPool,
  WrongFamilyHeld,
} from "./errors.ts"
import { firstFreeIn, makePoolState, markFree, markUsed, type PerFamily, type PoolState, poolContains, type PoolStats, statsOf } from "./pool-state.ts"
import { incompatibility, type Port, samePort, type ServiceRef, type SharingKeys } from "./service.ts"

export interface Allocation {
  readonly service: string
  readonly pool: string
  /** One address, or one of each family. */
  readonly addresses: ReadonlyArray<Address>
  readonly ports: ReadonlyArray<Port>
  readonly sharingKey: string
  readonly backendKey: string
}

/**
 * Who holds an address. Nearly every address has one holder, so the holder's Allocation is stored
 * as is; only an address shared by several services gets an object of its own. All holders of a
 * shared address have the same keys (the sharing check guarantees it).
 */
interface SharedUse {
  readonly shared: true
  readonly pool: string
  readonly sharingKey: string
  readonly backendKey: string
  readonly users: ReadonlyArray<Allocation>
}

type AddressUse = Allocation | SharedUse

const usersOf = (use: AddressUse): ReadonlyArray<Allocation> => ("shared" in use ? use.users : [use])

const useOf = (users: ReadonlyArray<Allocation>): AddressUse | undefined => {
  const [first] = users
  if (first === undefined || users.length === 1) return first
  return { shared: true, pool: first.pool, sharingKey: first.sharingKey, backendKey: first.backendKey, users }
}

export interface Allocator {
  readonly pools: HashMap.HashMap<string, PoolState>
  readonly allocations: HashMap.HashMap<string, Allocation>
  /** Per family, keyed by the address value itself (no key objects of its own). */
  readonly uses: PerFamily<HashMap.HashMap<bigint, AddressUse>>
  /** In-use addresses with a sharing key, per (pool, family, key), ascending: where a sharing service may join. */
  readonly shared: HashMap.HashMap<string, ReadonlyArray<bigint>>
}

export interface AssignRequest extends SharingKeys {
  readonly service: ServiceRef
  readonly addresses: ReadonlyArray<Address>
  readonly ports: ReadonlyArray<Port>
  /** The service's families (from its ClusterIPs), when known: requested addresses must be of these. */
  readonly families?: ReadonlyArray<Family>
}

export interface AllocateRequest extends SharingKeys {
  readonly service: ServiceRef
  /** One family, or both for a dual-stack service (primary first). */
  readonly families: ReadonlyArray<Family>
  readonly ports: ReadonlyArray<Port>
}

export type Outcome = Result.Result<readonly [Allocator, Allocation], IpamError>

const useAt = (allocator: Allocator, address: Address): AddressUse | undefined =>
  Option.getOrUndefined(HashMap.get(allocator.uses[address.family], address.value))

const withUse = (allocator: Allocator, address: Address, use: AddressUse | undefined): Allocator => {
  const uses = allocator.uses[address.family]
  const next = use === undefined ? HashMap.remove(uses, address.value) : HashMap.set(uses, address.value, use)
  return { ...allocator, uses: { ...allocator.uses, [address.family]: next } }
}
const sharedIndexKey = (pool: string, family: Family, sharingKey: string) => `${pool}\u0000${family}\u0000${sharingKey}`

export const makeAllocator = (pools: ReadonlyMap<string, Pool>): Allocator => ({
  pools: HashMap.fromIterable([...pools.values()].map((p) => [p.name, makePoolState(p)] as const)),
  allocations: HashMap.empty(),
  uses: { ipv4: HashMap.empty(), ipv6: HashMap.empty() },
  shared: HashMap.empty(),
})

export const allocationOf = (allocator: Allocator, service: string): Allocation | undefined =>
  Option.getOrUndefined(HashMap.get(allocator.allocations, service))

/** The services holding an address (several when shared). */
export const holdersOf = (allocator: Allocator, address: Address): ReadonlyArray<string> => {
  const use = useAt(allocator, address)
  return use === undefined ? [] : usersOf(use).map((u) => u.service)
}

export const poolStats = (allocator: Allocator, pool: string): PoolStats | undefined =>
  Option.match(HashMap.get(allocator.pools, pool), { onNone: () => undefined, onSome: statsOf })

const sharingRefusal = (use: AddressUse, keys: SharingKeys): string | undefined => {
  if (use.sharingKey === "") return "the existing service does not allow sharing"
  if (keys.sharingKey === "") return "this service does not allow sharing"
  if (use.sharingKey !== keys.sharingKey) return `sharing key ${JSON.stringify(keys.sharingKey)} does not match ${JSON.stringify(use.sharingKey)}`
  if (use.backendKey !== keys.backendKey) return "services sharing an address with externalTrafficPolicy Local must select the same pods"
  return undefined
}

/** MetalLB checkSharing: may `service` hold `address` with these ports and keys? */
const sharingProblem = (allocator: Allocator, service: string, address: Address, ports: ReadonlyArray<Port>, keys: SharingKeys): IpamError | undefined => {
  const use = useAt(allocator, address)
  if (use === undefined) return undefined
  const others = usersOf(use).filter((u) => u.service !== service)
  const refusal = sharingRefusal(use, keys)
  if (refusal !== undefined) {
    // The sole holder may change its own keys.
    if (others.length === 0) return undefined
    return new AddressInUse({ text: formatAddress(address), by: others.map((u) => u.service), reason: refusal })
  }
  for (const other of others) {
    const clash = ports.find((p) => other.ports.some((q) => samePort(p, q)))
    if (clash !== undefined) return new PortConflict({ text: formatAddress(address), port: clash, by: other.service })
  }
  return undefined
}

const insertSorted = (values: ReadonlyArray<bigint>, value: bigint): ReadonlyArray<bigint> => {
  let lo = 0
  let hi = values.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((values[mid] ?? 0n) < value) lo = mid + 1
    else hi = mid
  }
  return values[lo] === value ? values : [...values.slice(0, lo), value, ...values.slice(lo)]
}

const withSharedIndex = (allocator: Allocator, pool: string, address: Address, sharingKey: string, present: boolean): Allocator => {
  if (sharingKey === "") return allocator
  const key = sharedIndexKey(pool, address.family, sharingKey)
  const current = Option.getOrElse(HashMap.get(allocator.shared, key), (): ReadonlyArray<bigint> => [])
  const next = present ? insertSorted(current, address.value) : current.filter((v) => v !== address.value)
  return { ...allocator, shared: next.length === 0 ? HashMap.remove(allocator.shared, key) : HashMap.set(allocator.shared, key, next) }
}

const updatePool = (allocator: Allocator, pool: string, f: (s: PoolState) => PoolState): Allocator =>
  ({ ...allocator, pools: HashMap.modify(allocator.pools, pool, f) })

const addUser = (allocator: Allocator, address: Address, allocation: Allocation): Allocator => {
  const use = useAt(allocator, address)
  if (use === undefined) {
    const used = updatePool(allocator, allocation.pool, (s) => markUsed(s, address))
    return withSharedIndex(withUse(used, address, allocation), allocation.pool, address, allocation.sharingKey, true)
  }
  const users = [...usersOf(use).filter((u) => u.service !== allocation.service), allocation]
  let next = withUse(allocator, address, useOf(users))
  if (use.sharingKey !== allocation.sharingKey) {
    next = withSharedIndex(withSharedIndex(next, allocation.pool, address, use.sharingKey, false), allocation.pool, address, allocation.sharingKey, true)
  }
  return next
}

const removeUser = (allocator: Allocator, address: Address, service: string): Allocator => {
  const use = useAt(allocator, address)
  if (use === undefined) return allocator
  const remaining = useOf(usersOf(use).filter((u) => u.service !== service))
  if (remaining !== undefined) return withUse(allocator, address, remaining)
  const freed = updatePool(allocator, use.pool, (s) => markFree(s, address))
  return withSharedIndex(withUse(freed, address, undefined), use.pool, address, use.sharingKey, false)
}

const record = (allocator: Allocator, allocation: Allocation): Allocator => {
  let next = allocator
  for (const address of allocation.addresses) next = addUser(next, address, allocation)
  return { ...next, allocations: HashMap.set(next.allocations, allocation.service, allocation) }
}

/** Frees everything the service holds. Releasing an unknown service is a no-op. */
export const release = (allocator: Allocator, service: string): Allocator => {
  const allocation = allocationOf(allocator, service)
  if (allocation === undefined) return allocator
  let next = allocator
  for (const address of allocation.addresses) next = removeUser(next, address, service)
  return { ...next, allocations: HashMap.remove(next.allocations, service) }
}

/** The one pool whose ranges contain every address (MetalLB poolFor). */
const poolHolding = (pools: HashMap.HashMap<string, PoolState>, addresses: ReadonlyArray<Address>): Result.Result<PoolState, IpamError> => {
  const holders = addresses.map((a) => [...HashMap.values(pools)].find((s) => poolContains(s.pool, a)))
  const missing = addresses.findIndex((_, i) => holders[i] === undefined)
  if (missing >= 0) {
    const address = addresses[missing]!
    // Said precisely: a pool's range holds the address, but the pool avoids buggy .0/.255 addresses.
    const avoiding = [...HashMap.values(pools)].find((s) => s.pool.avoidBuggyIPs && poolContains({ ...s.pool, avoidBuggyIPs: false }, address))
    return Result.fail(new AddressNotInPool({ address, text: formatAddress(address), ...(avoiding === undefined ? {} : { avoidedBy: avoiding.pool.name }) }))
  }
  const first = holders[0]
  if (first === undefined) return Result.fail(new FamilyMismatch({ reason: "no address given" }))
  if (holders.some((h) => h?.pool.name !== first.pool.name)) {
    return Result.fail(new AddressesInDifferentPools({ texts: addresses.map(formatAddress) }))
  }
  return Result.succeed(first)
}

const familyProblem = (addresses: ReadonlyArray<Address>, families: ReadonlyArray<Family> | undefined): FamilyMismatch | undefined => {
  if (addresses.length === 0) return new FamilyMismatch({ reason: "no address given" })
  if (addresses.length > 2) return new FamilyMismatch({ reason: `at most two addresses (one per family), got ${addresses.length}` })
  if (addresses.length === 2 && addresses[0]?.family === addresses[1]?.family) {
    return new FamilyMismatch({ reason: `two addresses must be of different families, got two ${addresses[0]?.family}` })
  }
  const foreign = families === undefined ? undefined : addresses.find((a) => !families.includes(a.family))
  if (foreign !== undefined) {
    return new FamilyMismatch({ reason: `${formatAddress(foreign)} is ${foreign.family} but the service's ClusterIPs are ${families?.join("+")}` })
  }
  return undefined
}

/** MetalLB Assign: give the service exactly these addresses (requested IPs, or status after a restart). Ignores autoAssign. */
export const assign = (allocator: Allocator, request: AssignRequest): Outcome => {
  const wrongFamily = familyProblem(request.addresses, request.families)
  if (wrongFamily !== undefined) return Result.fail(wrongFamily)
  const holding = poolHolding(allocator.pools, request.addresses)
  if (Result.isFailure(holding)) return Result.fail(holding.failure)
  const pool = holding.success.pool
  const incompatible = incompatibility(pool, request.service)
  if (incompatible !== undefined) return Result.fail(incompatible)
  for (const address of request.addresses) {
    const problem = sharingProblem(allocator, request.service.key, address, request.ports, request)
    if (problem !== undefined) return Result.fail(problem)
  }
  const allocation: Allocation = {
    service: request.service.key,
    pool: pool.name,
    addresses: request.addresses,
    ports: request.ports,
    sharingKey: request.sharingKey,
    backendKey: request.backendKey,
  }
  return Result.succeed([record(release(allocator, request.service.key), allocation), allocation] as const)
}

/** The lowest address of the range the service may take: free, or shared under its keys without port clashes. */
const candidateIn = (allocator: Allocator, state: PoolState, rangeIndex: number, request: AllocateRequest): bigint | undefined => {
  const range = state.pool.ranges[rangeIndex]
  if (range === undefined) return undefined
  const free = firstFreeIn(state, range)
  if (request.sharingKey === "") return free
  const shared = Option.getOrElse(HashMap.get(allocator.shared, sharedIndexKey(state.pool.name, range.family, request.sharingKey)), (): ReadonlyArray<bigint> => [])
  for (const value of shared) {
    if (value < range.first) continue
    if (value > range.last || (free !== undefined && value > free)) break
    if (sharingProblem(allocator, request.service.key, { family: range.family, value }, request.ports, request) === undefined) return value
  }
  return free
}

/**
 * The existing allocation, re-checked with the current ports and keys (MetalLB re-assigns before
 * allocating). Held addresses of other families than the request's are refused with WrongFamilyHeld,
 * as MetalLB refuses them ("IP for wrong family assigned"), rather than handed back: a service whose
 * families changed is released by the controller and allocated again.
 */
const reassignExisting = (allocator: Allocator, request: AllocateRequest): Outcome | undefined => {
  const existing = allocationOf(allocator, request.service.key)
  if (existing === undefined) return undefined
  const heldFamilies = [...new Set(existing.addresses.map((a) => a.family))].sort()
  const wanted = [...new Set(request.families)].sort()
  if (heldFamilies.length !== wanted.length || heldFamilies.some((f, i) => f !== wanted[i])) {
    return Result.fail(new WrongFamilyHeld({ service: existing.service, held: existing.addresses.map(formatAddress), heldFamilies, wanted: request.families }))
  }
  const { service, ports, sharingKey, backendKey } = request
  return assign(allocator, { service, ports, sharingKey, backendKey, addresses: existing.addresses })
}

/** MetalLB AllocateFromPool: an address of each requested family from the named pool. Ignores autoAssign. */
export const allocateFromPool = (allocator: Allocator, pool: string, request: AllocateRequest): Outcome => {
  const existing = reassignExisting(allocator, request)
  if (existing !== undefined) return existing
  const state = Option.getOrUndefined(HashMap.get(allocator.pools, pool))
  if (state === undefined) return Result.fail(new UnknownPool({ pool }))
  const incompatible = incompatibility(state.pool, request.service)
  if (incompatible !== undefined) return Result.fail(incompatible)
  const addresses: Array<Address> = []
  for (const family of request.families) {
    let found: bigint | undefined
    state.pool.ranges.forEach((range, i) => {
      if (found === undefined && range.family === family) found = candidateIn(allocator, state, i, request)
    })
    if (found === undefined) return Result.fail(new PoolExhausted({ pool, families: request.families }))
    addresses.push({ family, value: found })
  }
  return assign(allocator, { ...request, addresses })
}

const priorityRank = (pool: Pool) => {
  const priority = pool.serviceAllocation?.priority ?? 0
  return priority === 0 ? Number.POSITIVE_INFINITY : priority
}

/** The pools `allocate` tries, in order: compatible pinned pools by priority, then default pools; ties by name. */
export const candidatePools = (allocator: Allocator, service: ServiceRef): ReadonlyArray<string> => {
  const pools = [...HashMap.values(allocator.pools)].map((s) => s.pool).filter((p) => p.autoAssign)
  const byName = (a: Pool, b: Pool) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  const pinned = pools
    .filter((p) => p.serviceAllocation !== undefined && incompatibility(p, service) === undefined)
    .sort((a, b) => priorityRank(a) - priorityRank(b) || byName(a, b))
  const defaults = pools.filter((p) => p.serviceAllocation === undefined).sort(byName)
  return [...pinned, ...defaults].map((p) => p.name)
}

/** MetalLB Allocate: the existing allocation, else the first candidate pool that has room. */
export const allocate = (allocator: Allocator, request: AllocateRequest): Outcome => {
  const existing = reassignExisting(allocator, request)
  if (existing !== undefined) return existing
  for (const pool of candidatePools(allocator, request.service)) {
    const outcome = allocateFromPool(allocator, pool, request)
    if (Result.isSuccess(outcome)) return outcome
  }
  return Result.fail(new PoolExhausted({ families: request.families }))
}

/**
 * MetalLB SetPools: a configuration reload. Every allocation whose addresses all lie in one of the new
 * pools stays, re-homed to that pool (renames included); only those whose addresses left every pool
 * are released, and listed so the controller can allocate them again.
 */
export const setPools = (allocator: Allocator, pools: ReadonlyMap<string, Pool>): { readonly allocator: Allocator; readonly released: ReadonlyArray<string> } => {
  let next = makeAllocator(pools)
  const released: Array<string> = []
  const allocations = [...HashMap.values(allocator.allocations)].sort((a, b) => (a.service < b.service ? -1 : 1))
  for (const allocation of allocations) {
    const holding = poolHolding(next.pools, allocation.addresses)
    if (Result.isFailure(holding)) {
      released.push(allocation.service)
      continue
    }
    next = record(next, { ...allocation, pool: holding.success.pool.name })
  }
  return { allocator: next, released }
}
