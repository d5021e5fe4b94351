// A reference allocator that follows MetalLB's internal/allocator literally: mutable maps, and every
// allocation scans a pool's addresses one by one from the start. It is the model the property tests
// compare core/ipam against, and the baseline bench/ipam measures it against. Deliberately simple:
// no interval sets, no persistent structures, nothing shared with core/ipam but the input types.
import type { Pool } from "../../core/config/config.ts"
import { matches } from "../../core/config/selector.ts"
import type { Address, Family } from "../../core/net/address.ts"
import type { Port, ServiceRef, SharingKeys } from "../../core/ipam/service.ts"

export interface NaiveAllocation {
  readonly service: string
  readonly pool: string
  readonly addresses: ReadonlyArray<Address>
  readonly ports: ReadonlyArray<Port>
  readonly sharingKey: string
  readonly backendKey: string
}

interface Use {
  sharingKey: string
  backendKey: string
  users: Map<string, ReadonlyArray<Port>>
}

export type NaiveResult = { readonly ok: true; readonly addresses: ReadonlyArray<Address> } | { readonly ok: false; readonly error: string }

const key = (a: Address) => `${a.family}/${a.value}`
const buggy = (a: Address) => a.family === "ipv4" && (a.value % 256n === 0n || a.value % 256n === 255n)

export class NaiveAllocator {
  pools: ReadonlyMap<string, Pool>
  readonly allocations = new Map<string, NaiveAllocation>()
  readonly uses = new Map<string, Use>()

  constructor(pools: ReadonlyMap<string, Pool>) {
    this.pools = pools
  }

  private contains(pool: Pool, a: Address): boolean {
    return pool.ranges.some((r) => r.family === a.family && a.value >= r.first && a.value <= r.last) && !(pool.avoidBuggyIPs && buggy(a))
  }

  private compatible(pool: Pool, s: ServiceRef): boolean {
    const sa = pool.serviceAllocation
    if (sa === undefined) return true
    if ((sa.namespaces.length > 0 || sa.namespaceSelectors.length > 0) &&
      !sa.namespaces.includes(s.namespace) && !sa.namespaceSelectors.some((x) => matches(x, s.namespaceLabels))) return false
    return sa.serviceSelectors.length === 0 || sa.serviceSelectors.some((x) => matches(x, s.labels))
  }

  private checkSharing(service: string, a: Address, ports: ReadonlyArray<Port>, keys: SharingKeys): string | undefined {
    const use = this.uses.get(key(a))
    if (use === undefined) return undefined
    const refused = use.sharingKey === "" || keys.sharingKey === "" || use.sharingKey !== keys.sharingKey || use.backendKey !== keys.backendKey
    if (refused) return use.users.size === 1 && use.users.has(service) ? undefined : "AddressInUse"
    for (const [other, otherPorts] of use.users) {
      if (other === service) continue
      if (ports.some((p) => otherPorts.some((q) => p.protocol === q.protocol && p.port === q.port))) return "PortConflict"
    }
    return undefined
  }

  release(service: string): void {
    const alloc = this.allocations.get(service)
    if (alloc === undefined) return
    for (const a of alloc.addresses) {
      const use = this.uses.get(key(a))
      use?.users.delete(service)
      if (use?.users.size === 0) this.uses.delete(key(a))
    }
    this.allocations.delete(service)
  }

  private record(alloc: NaiveAllocation): void {
    for (const a of alloc.addresses) {
      const use = this.uses.get(key(a)) ?? { sharingKey: alloc.sharingKey, backendKey: alloc.backendKey, users: new Map() }
      use.sharingKey = alloc.sharingKey
      use.backendKey = alloc.backendKey
      use.users.set(alloc.service, alloc.ports)
      this.uses.set(key(a), use)
    }
    this.allocations.set(alloc.service, alloc)
  }

  assign(service: ServiceRef, addresses: ReadonlyArray<Address>, ports: ReadonlyArray<Port>, keys: SharingKeys, families?: ReadonlyArray<Family>): NaiveResult {
    if (addresses.length === 0 || addresses.length > 2 || (addresses.length === 2 && addresses[0]!.family === addresses[1]!.family)) {
      return { ok: false, error: "FamilyMismatch" }
    }
    if (families !== undefined && addresses.some((a) => !families.includes(a.family))) return { ok: false, error: "FamilyMismatch" }
    const holders = addresses.map((a) => [...this.pools.values()].find((p) => this.contains(p, a)))
    if (holders.some((h) => h === undefined)) return { ok: false, error: "AddressNotInPool" }
    if (holders.some((h) => h !== holders[0])) return { ok: false, error: "AddressesInDifferentPools" }
    const pool = holders[0]!
    if (!this.compatible(pool, service)) return { ok: false, error: "IncompatiblePool" }
    for (const a of addresses) {
      const problem = this.checkSharing(service.key, a, ports, keys)
      if (problem !== undefined) return { ok: false, error: problem }
    }
    this.release(service.key)
    this.record({ service: service.key, pool: pool.name, addresses, ports, sharingKey: keys.sharingKey, backendKey: keys.backendKey })
    return { ok: true, addresses }
  }

  /** MetalLB: a held allocation of other families than asked for is refused, not handed back. */
  private reassign(service: ServiceRef, families: ReadonlyArray<Family>, ports: ReadonlyArray<Port>, keys: SharingKeys): NaiveResult | undefined {
    const existing = this.allocations.get(service.key)
    if (existing === undefined) return undefined
    const held = new Set(existing.addresses.map((a) => a.family))
    const wanted = new Set(families)
    if (held.size !== wanted.size || [...held].some((f) => !wanted.has(f))) return { ok: false, error: "WrongFamilyHeld" }
    return this.assign(service, existing.addresses, ports, keys)
  }

  allocateFromPool(poolName: string, service: ServiceRef, families: ReadonlyArray<Family>, ports: ReadonlyArray<Port>, keys: SharingKeys): NaiveResult {
    const existing = this.reassign(service, families, ports, keys)
    if (existing !== undefined) return existing
    const pool = this.pools.get(poolName)
    if (pool === undefined) return { ok: false, error: "UnknownPool" }
    if (!this.compatible(pool, service)) return { ok: false, error: "IncompatiblePool" }
    const chosen: Array<Address> = []
    for (const family of families) {
      let found: Address | undefined
      for (const range of pool.ranges) {
        if (range.family !== family || found !== undefined) continue
        for (let v = range.first; v <= range.last; v++) {
          const a = { family, value: v }
          if (pool.avoidBuggyIPs && buggy(a)) continue
          if (this.checkSharing(service.key, a, ports, keys) === undefined) {
            found = a
            break
          }
        }
      }
      if (found === undefined) return { ok: false, error: "PoolExhausted" }
      chosen.push(found)
    }
    return this.assign(service, chosen, ports, keys)
  }

  allocate(service: ServiceRef, families: ReadonlyArray<Family>, ports: ReadonlyArray<Port>, keys: SharingKeys): NaiveResult {
    const existing = this.reassign(service, families, ports, keys)
    if (existing !== undefined) return existing
    const rank = (p: Pool) => ((p.serviceAllocation?.priority ?? 0) === 0 ? Number.POSITIVE_INFINITY : p.serviceAllocation!.priority)
    const pools = [...this.pools.values()].filter((p) => p.autoAssign).sort((a, b) => (a.name < b.name ? -1 : 1))
    const pinned = pools.filter((p) => p.serviceAllocation !== undefined && this.compatible(p, service)).sort((a, b) => rank(a) - rank(b))
    const defaults = pools.filter((p) => p.serviceAllocation === undefined)
    for (const pool of [...pinned, ...defaults]) {
      const r = this.allocateFromPool(pool.name, service, families, ports, keys)
      if (r.ok) return r
    }
    return { ok: false, error: "PoolExhausted" }
  }

  setPools(pools: ReadonlyMap<string, Pool>): ReadonlyArray<string> {
    this.pools = pools
    const released: Array<string> = []
    for (const alloc of [...this.allocations.values()].sort((a, b) => (a.service < b.service ? -1 : 1))) {
      const holders = alloc.addresses.map((a) => [...pools.values()].find((p) => this.contains(p, a)))
      if (holders.some((h) => h === undefined || h !== holders[0])) {
        this.release(alloc.service)
        released.push(alloc.service)
      } else {
        this.allocations.set(alloc.service, { ...alloc, pool: holders[0]!.name })
      }
    }
    return released
  }

  /** Capacity and use per family, counted address by address. */
  stats(poolName: string): { readonly capacity: Record<Family, bigint>; readonly assigned: Record<Family, bigint> } {
    const pool = this.pools.get(poolName)!
    const capacity = { ipv4: 0n, ipv6: 0n }
    for (const r of pool.ranges) {
      for (let v = r.first; v <= r.last; v++) if (!(pool.avoidBuggyIPs && buggy({ family: r.family, value: v }))) capacity[r.family]++
    }
    const assigned = { ipv4: 0n, ipv6: 0n }
    for (const [k] of this.uses) {
      const [family, value] = k.split("/") as [Family, string]
      if (this.contains(pool, { family, value: BigInt(value) })) assigned[family]++
    }
    return { capacity, assigned }
  }
}
