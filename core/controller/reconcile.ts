// The controller's decisions (MetalLB controller/service.go convergeBalancer), as pure functions over a
// persistent Allocator: for each Service, which addresses it should hold, what its status and pool
// annotation should say, and which events tell the user why. The shell applies the difference.
//
// Order of preference for a service's addresses: requested ones (annotation or spec.loadBalancerIP);
// then the addresses it already holds (or, after a restart, those in its status, so a restart never
// changes an address); then a new allocation from the annotated pool or from every candidate pool.
// Unlike MetalLB, a service whose annotations cannot be read keeps the addresses it has.
import { Result } from "effect"
import type { Config } from "../config/config.ts"
import { type Allocation, allocationOf, type Allocator, assign, makeAllocator, release, setPools } from "../ipam/allocator.ts"
import { allocateForService, familiesOf } from "../ipam/dual-stack.ts"
import type { IpamError } from "../ipam/errors.ts"
import { type Address, formatAddress, parseAddress } from "../net/address.ts"
import { type AllocationIntent, intentOf, serviceKey, type ServiceView } from "./service.ts"

export interface ControllerEvent {
  readonly type: "Normal" | "Warning"
  readonly reason: string
  readonly message: string
}

/** Why the addresses a service held (or showed in its status) could not stay its own. */
export type KeepRefusal =
  /** It requests other addresses (loadBalancerIPs annotation or spec.loadBalancerIP). */
  | { readonly _tag: "RequestsOthers"; readonly requested: ReadonlyArray<string> }
  /** Its families (ClusterIPs, ipFamilyPolicy) no longer match the addresses held. */
  | { readonly _tag: "FamiliesChanged"; readonly wanted: ReadonlyArray<string> }
  /** The allocator refuses them now: no pool holds them, the pool does not serve it, or they are in use. */
  | { readonly _tag: "Refused"; readonly error: IpamError }
  /** Its address-pool annotation names another pool than the one holding the addresses. */
  | { readonly _tag: "OtherPool"; readonly annotated: string; readonly holding: string }

/** What a service should look like. `ingress` undefined: not ours, leave it untouched. */
export interface ServiceOutcome {
  readonly key: string
  readonly ingress?: ReadonlyArray<string>
  /** The metallb.io/ip-allocated-from-pool annotation; undefined removes it. */
  readonly pool?: string
  readonly events: ReadonlyArray<ControllerEvent>
  /** The addresses it held were given up, and why (for `plan` and `explain`; events say it in words). */
  readonly released?: { readonly held: ReadonlyArray<string>; readonly why: KeepRefusal }
  /** No address could be allocated, and why. */
  readonly failure?: IpamError
}

export interface ControllerState {
  readonly allocator: Allocator
  /** The configuration in force; undefined until a valid one has been seen. */
  readonly config?: Config
}

export interface ControllerOptions {
  /** --lb-class: only services of this loadBalancerClass; without it, only services with no class. */
  readonly loadBalancerClass?: string
}

export const initialState: ControllerState = { allocator: makeAllocator(new Map()) }

const texts = (addresses: ReadonlyArray<Address>) => addresses.map(formatAddress)
const sameSet = (a: ReadonlyArray<Address>, b: ReadonlyArray<Address>) =>
  a.length === b.length && texts(a).every((t) => texts(b).includes(t))

const warning = (reason: string, message: string): ControllerEvent => ({ type: "Warning", reason, message })

const isOurs = (service: ServiceView, options: ControllerOptions) =>
  options.loadBalancerClass === undefined ? service.loadBalancerClass === undefined : service.loadBalancerClass === options.loadBalancerClass

const cleared = (state: ControllerState, key: string, events: ReadonlyArray<ControllerEvent>) =>
  ({ state: { ...state, allocator: release(state.allocator, key) }, outcome: { key, ingress: [], events } })

const parseStatus = (ips: ReadonlyArray<string>): ReadonlyArray<Address> =>
  ips.flatMap((ip) => {
    const parsed = parseAddress(ip)
    return Result.isSuccess(parsed) ? [parsed.success] : []
  })

type Kept =
  | { readonly _tag: "Kept"; readonly allocator: Allocator; readonly allocation: Allocation }
  | { readonly _tag: "NotKept"; readonly why: KeepRefusal }
  | { readonly _tag: "NothingHeld" }

/** Keeps the addresses the service holds (or shows in its status) if they still fit its request; else says why not. */
const keepExisting = (allocator: Allocator, intent: AllocationIntent, service: ServiceView): Kept => {
  const held = allocationOf(allocator, intent.service.key)?.addresses ?? parseStatus(service.ingressIPs)
  if (held.length === 0) return { _tag: "NothingHeld" }
  if (intent.requested.length > 0 && !sameSet(held, intent.requested)) return { _tag: "NotKept", why: { _tag: "RequestsOthers", requested: texts(intent.requested) } }
  const families = familiesOf(intent.clusterIPs, intent.ipFamilyPolicy)
  if (Result.isFailure(families)) return { _tag: "NotKept", why: { _tag: "Refused", error: families.failure } }
  const heldFamilies = held.map((a) => a.family)
  const dualWanted = families.success.length === 2 && intent.ipFamilyPolicy !== "PreferDualStack"
  if (heldFamilies.some((f) => !families.success.includes(f)) || (dualWanted && held.length < 2)) {
    return { _tag: "NotKept", why: { _tag: "FamiliesChanged", wanted: families.success } }
  }
  const kept = assign(allocator, { ...intent, addresses: held, families: families.success })
  if (Result.isFailure(kept)) return { _tag: "NotKept", why: { _tag: "Refused", error: kept.failure } }
  const [next, allocation] = kept.success
  if (intent.pool !== undefined && allocation.pool !== intent.pool) return { _tag: "NotKept", why: { _tag: "OtherPool", annotated: intent.pool, holding: allocation.pool } }
  return { _tag: "Kept", allocator: next, allocation }
}

export const reconcileService = (
  state: ControllerState,
  service: ServiceView,
  namespaceLabels: Readonly<Record<string, string>>,
  options: ControllerOptions = {},
): { readonly state: ControllerState; readonly outcome: ServiceOutcome } => {
  const key = serviceKey(service)
  if (!isOurs(service, options)) {
    return { state: { ...state, allocator: release(state.allocator, key) }, outcome: { key, events: [] } }
  }
  if (service.type !== "LoadBalancer") {
    const holds = allocationOf(state.allocator, key) !== undefined || service.ingressIPs.length > 0
    return holds ? cleared(state, key, []) : { state, outcome: { key, events: [] } }
  }
  if (state.config === undefined) return { state, outcome: { key, events: [] } }
  const intent = intentOf(service, namespaceLabels)
  if (Result.isFailure(intent)) {
    // Keep what the service has: a typo in an annotation must not cost it its address.
    return { state, outcome: { key, events: [warning("AllocationFailed", `Failed to allocate IP for ${JSON.stringify(key)}: ${intent.failure}`)] } }
  }
  const events: Array<ControllerEvent> = intent.success.deprecated.map((name) =>
    warning("deprecatedAnnotation", `annotation ${name} is deprecated, use its metallb.io/ equivalent`))
  if (intent.success.clusterIPs.length === 0) {
    return cleared(state, key, [...events, warning("NoClusterIPs", "the service has no ClusterIPs yet; no address assigned")])
  }
  const families = familiesOf(intent.success.clusterIPs, intent.success.ipFamilyPolicy)
  if (Result.isFailure(families)) {
    return cleared(state, key, [...events, warning("AllocationFailed", `Failed to allocate IP for ${JSON.stringify(key)}: ${families.failure.message}`)])
  }
  const before = allocationOf(state.allocator, key)
  const kept = keepExisting(state.allocator, intent.success, service)
  if (kept._tag === "Kept") {
    const { allocator, allocation } = kept
    const changed = before === undefined || !sameSet(before.addresses, allocation.addresses)
    if (changed && service.ingressIPs.length === 0) {
      events.push({ type: "Normal", reason: "IPAllocated", message: `Assigned IP ${JSON.stringify(texts(allocation.addresses))}` })
    }
    return { state: { ...state, allocator }, outcome: { key, ingress: texts(allocation.addresses), pool: allocation.pool, events } }
  }
  const held = before?.addresses ?? parseStatus(service.ingressIPs)
  const released = release(state.allocator, key)
  const outcome = allocateForService(released, {
    ...intent.success,
    ...(intent.success.requested.length > 0 ? { requested: intent.success.requested } : {}),
  })
  const releasedWhy = kept._tag === "NotKept" && held.length > 0 ? { released: { held: texts(held), why: kept.why } } : {}
  if (Result.isFailure(outcome)) {
    const message = `Failed to allocate IP for ${JSON.stringify(key)}: ${outcome.failure.message}`
    const clearing = held.length > 0 ? [warning("ClearAssignment", `current IP ${JSON.stringify(texts(held))} not allowed by config, clearing`)] : []
    return {
      state: { ...state, allocator: released },
      outcome: { key, ingress: [], events: [...events, ...clearing, warning("AllocationFailed", message)], ...releasedWhy, failure: outcome.failure },
    }
  }
  const [allocator, allocation] = outcome.success
  if (held.length > 0) events.push(warning("ClearAssignment", `current IP ${JSON.stringify(texts(held))} not allowed by config, reassigning`))
  events.push({ type: "Normal", reason: "IPAllocated", message: `Assigned IP ${JSON.stringify(texts(allocation.addresses))}` })
  return { state: { ...state, allocator }, outcome: { key, ingress: texts(allocation.addresses), pool: allocation.pool, events, ...releasedWhy } }
}

export const serviceDeleted = (state: ControllerState, key: string): ControllerState => ({ ...state, allocator: release(state.allocator, key) })

/** A new valid configuration: allocations re-homed (MetalLB SetPools); call reconcileAll next. */
export const applyConfig = (state: ControllerState, config: Config): ControllerState => ({
  config,
  allocator: setPools(state.allocator, config.pools).allocator,
})

/**
 * Every service, services already showing addresses first (most addresses first), then by key: after a
 * restart the addresses in status are claimed before anything new is handed out (MetalLB's startup order).
 */
export const reconcileAll = (
  state: ControllerState,
  services: ReadonlyArray<ServiceView>,
  namespaceLabels: (namespace: string) => Readonly<Record<string, string>>,
  options: ControllerOptions = {},
): { readonly state: ControllerState; readonly outcomes: ReadonlyArray<ServiceOutcome> } => {
  const ordered = [...services].sort((a, b) => b.ingressIPs.length - a.ingressIPs.length || (serviceKey(a) < serviceKey(b) ? -1 : 1))
  let current = state
  const outcomes: Array<ServiceOutcome> = []
  for (const service of ordered) {
    const { state: next, outcome } = reconcileService(current, service, namespaceLabels(service.namespace), options)
    current = next
    outcomes.push(outcome)
  }
  return { state: current, outcomes }
}
