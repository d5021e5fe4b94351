// Why a Service's addresses or pool would change, in the terms of the edit that causes it. The decision
// (keep or give up, which pool, which address) is the controller's: reconcile.ts says why it gave up the
// held addresses (`released`) and why it found no other (`failure`). Here that answer is only named
// after the configuration change behind it: the pool the address came from was removed, shrank, renamed
// or split, avoids .0/.255 addresses, or no longer serves the service.
import type { Config, Pool } from "../config/config.ts"
import type { KeepRefusal, ServiceOutcome } from "../controller/reconcile.ts"
import { parseAddress } from "../net/address.ts"

export type ChangeReason =
  /** The pool the address came from is gone, and no other pool holds the address. */
  | { readonly _tag: "PoolRemoved"; readonly pool: string; readonly address: string }
  /** The pool is still there but no longer holds the address. */
  | { readonly _tag: "PoolShrank"; readonly pool: string; readonly address: string }
  /** A pool holds the address in its ranges but refuses it as a .0/.255 address (avoidBuggyIPs). */
  | { readonly _tag: "AvoidBuggyIPs"; readonly pool: string; readonly address: string }
  /** The pool's addresses are now one pool of another name. */
  | { readonly _tag: "PoolRenamed"; readonly from: string; readonly to: string }
  /** The pool's addresses are now spread over several pools. */
  | { readonly _tag: "PoolSplit"; readonly from: string; readonly into: ReadonlyArray<string> }
  /** The pool's serviceAllocation no longer admits the service (its namespace or labels). */
  | { readonly _tag: "PoolNoLongerServes"; readonly pool: string; readonly rule: "namespace" | "serviceSelector" }
  /** Another service holds the address in a way this one cannot share. */
  | { readonly _tag: "AddressTaken"; readonly address: string; readonly by: ReadonlyArray<string>; readonly detail: string }
  /** The service's address-pool annotation names another pool than the one holding its address. */
  | { readonly _tag: "AnnotatedPoolDiffers"; readonly annotated: string; readonly holding: string }
  /** It requests other addresses (loadBalancerIPs, spec.loadBalancerIP). */
  | { readonly _tag: "RequestsOthers"; readonly requested: ReadonlyArray<string> }
  /** Its address families no longer match the addresses. */
  | { readonly _tag: "FamiliesChanged"; readonly wanted: ReadonlyArray<string> }
  /** No pool holds the address (the pool it came from is not known). */
  | { readonly _tag: "NotInAnyPool"; readonly address: string }
  /** The same addresses, counted in another pool (the pool annotation follows). */
  | { readonly _tag: "Rehomed"; readonly from: string; readonly to: string }
  /** Its new addresses come from this pool. */
  | { readonly _tag: "AllocatedFrom"; readonly pool: string }
  /** No address could be given: the allocator's answer. */
  | { readonly _tag: "NoAddress"; readonly message: string }
  /** Anything else the controller said (its events). */
  | { readonly _tag: "Other"; readonly message: string }

export interface ReasonContext {
  /** The configuration the service's current addresses were allocated under (undefined: not known). */
  readonly before: Config | undefined
  readonly after: Config
}

const overlaps = (a: Pool, b: Pool): boolean =>
  a.ranges.some((r) => b.ranges.some((s) => r.family === s.family && r.first <= s.last && s.first <= r.last))

const holds = (pool: Pool | undefined, text: string): boolean => {
  const parsed = parseAddress(text)
  if (parsed._tag === "Failure" || pool === undefined) return false
  const a = parsed.success
  return pool.ranges.some((r) => r.family === a.family && a.value >= r.first && a.value <= r.last)
}

/** The pool a service's address was in before: its pool annotation, or the old pool holding the address. */
export const poolBefore = (context: ReasonContext, annotation: string | undefined, addresses: ReadonlyArray<string>): string | undefined => {
  if (annotation !== undefined) return annotation
  const [first] = addresses
  if (first === undefined || context.before === undefined) return undefined
  return [...context.before.pools.values()].find((p) => holds(p, first))?.name
}

/**
 * A pool of the old configuration whose addresses moved to other pools: renamed (all to one pool of
 * another name, the old name gone) or split (over several pools); undefined when it did neither.
 */
export const poolMove = (context: ReasonContext, from: string): ChangeReason | undefined => {
  const old = context.before?.pools.get(from)
  if (old === undefined) return undefined
  const into = [...context.after.pools.values()].filter((p) => overlaps(old, p)).map((p) => p.name).sort()
  const others = into.filter((name) => name !== from)
  if (others.length === 0) return undefined
  if (into.length === 1 && !context.after.pools.has(from)) return { _tag: "PoolRenamed", from, to: into[0]! }
  return { _tag: "PoolSplit", from, into }
}

/** Why the held addresses were given up, named after the configuration change. */
export const releaseReason = (context: ReasonContext, why: KeepRefusal, pool: string | undefined): ChangeReason => {
  switch (why._tag) {
    case "RequestsOthers":
      return { _tag: "RequestsOthers", requested: why.requested }
    case "FamiliesChanged":
      return { _tag: "FamiliesChanged", wanted: why.wanted }
    case "OtherPool":
      return poolMove(context, why.annotated) ?? { _tag: "AnnotatedPoolDiffers", annotated: why.annotated, holding: why.holding }
    case "Refused": {
      const error = why.error
      switch (error._tag) {
        case "AddressNotInPool":
          if (error.avoidedBy !== undefined) return { _tag: "AvoidBuggyIPs", pool: error.avoidedBy, address: error.text }
          // Named after the edit only when the old configuration's pool did hold the address.
          if (pool === undefined || !holds(context.before?.pools.get(pool), error.text)) return { _tag: "NotInAnyPool", address: error.text }
          return context.after.pools.has(pool)
            ? { _tag: "PoolShrank", pool, address: error.text }
            : { _tag: "PoolRemoved", pool, address: error.text }
        case "IncompatiblePool":
          return { _tag: "PoolNoLongerServes", pool: error.pool, rule: error.reason }
        case "AddressInUse":
          return { _tag: "AddressTaken", address: error.text, by: error.by, detail: error.reason }
        case "PortConflict":
          return { _tag: "AddressTaken", address: error.text, by: [error.by], detail: `port ${error.port.protocol}/${error.port.port} in use` }
        default:
          return { _tag: "Other", message: error.message }
      }
    }
  }
}

/**
 * Every reason for one service's change: why it gave up its addresses, where the new ones come from,
 * or why there are none; for a pool annotation that alone changes, the pool's rename or split.
 */
export const reasonsFor = (
  context: ReasonContext,
  change: {
    readonly before: ReadonlyArray<string>
    readonly after: ReadonlyArray<string>
    readonly poolBefore: string | undefined
    readonly poolAfter: string | undefined
    readonly released: ServiceOutcome | undefined
    readonly last: ServiceOutcome | undefined
  },
): ReadonlyArray<ChangeReason> => {
  const reasons: Array<ChangeReason> = []
  const sameAddresses = change.before.length === change.after.length && change.before.every((a) => change.after.includes(a))
  if (sameAddresses) {
    if (change.poolBefore !== undefined && change.poolAfter !== undefined && change.poolBefore !== change.poolAfter) {
      reasons.push(poolMove(context, change.poolBefore) ?? { _tag: "Rehomed", from: change.poolBefore, to: change.poolAfter })
    }
    return reasons
  }
  const released = change.released?.released
  if (released !== undefined) reasons.push(releaseReason(context, released.why, change.poolBefore))
  if (change.after.length > 0 && change.poolAfter !== undefined) reasons.push({ _tag: "AllocatedFrom", pool: change.poolAfter })
  if (change.after.length === 0) {
    const failure = change.last?.failure
    if (failure !== undefined) reasons.push({ _tag: "NoAddress", message: failure.message })
    else if (reasons.length === 0) {
      const said = change.last?.events.filter((e) => e.type === "Warning").map((e) => e.message) ?? []
      reasons.push({ _tag: "Other", message: said.length > 0 ? said.join("; ") : "the controller no longer assigns it an address (not a LoadBalancer of this class)" })
    }
  }
  return reasons
}

export const describeReason = (reason: ChangeReason): string => {
  switch (reason._tag) {
    case "PoolRemoved":
      return `pool ${reason.pool} is removed and no other pool holds ${reason.address}`
    case "PoolShrank":
      return `pool ${reason.pool} shrank: ${reason.address} is no longer in it`
    case "AvoidBuggyIPs":
      return `pool ${reason.pool} avoids .0/.255 addresses (avoidBuggyIPs): ${reason.address} is one`
    case "PoolRenamed":
      return `pool ${reason.from} is renamed ${reason.to}`
    case "PoolSplit":
      return `pool ${reason.from} is split into ${reason.into.join(", ")}`
    case "PoolNoLongerServes":
      return `pool ${reason.pool} no longer serves the service (${reason.rule === "namespace" ? "its namespace is not allowed" : "no serviceSelector matches its labels"})`
    case "AddressTaken":
      return `${reason.address} is held by ${reason.by.join(", ")}: ${reason.detail}`
    case "AnnotatedPoolDiffers":
      return `its address-pool annotation names pool ${reason.annotated}, the address is in pool ${reason.holding}`
    case "RequestsOthers":
      return `it requests ${reason.requested.join(", ")}`
    case "FamiliesChanged":
      return `its address families are now ${reason.wanted.join("+")}`
    case "NotInAnyPool":
      return `no pool holds ${reason.address}`
    case "Rehomed":
      return `its address is now in pool ${reason.to}, not ${reason.from}`
    case "AllocatedFrom":
      return `new address from pool ${reason.pool}`
    case "NoAddress":
      return `no other address: ${reason.message}`
    case "Other":
      return reason.message
  }
}
