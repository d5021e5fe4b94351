// The controller loop's bookkeeping as a pure machine: `step(state, input) -> { state, outputs }`.
// The shell (shell/controller/) feeds it what the watches saw and when a pass is due, and executes
// what comes out (writes, events, logs); the simulator drives the very same machine.
//
// What it decides, as MetalLB's controller does, with the cost of a pass proportional to what changed:
// - the configuration in force (core/config/in-force.ts): an invalid one never replaces the last valid
//   one, ConfigurationState says why, and a Warning event on each offending object says what, once per
//   distinct error; resolved again when the outcome could not be reported;
// - which services to recompute: those whose object or namespace changed, all after a new
//   configuration, all every fullPassIntervalMs; a service whose outcome needed nothing is settled;
// - which writes are due: only what differs from the service as seen, and never again while a write
//   is not yet seen back through the watch (a failed write is retried at the next pass);
// - events: once per outcome of a service, not at every pass;
// - pool status: only when the counts differ from what the pool shows and from what was last written;
// - leadership: a new leader rebuilds from status (another replica may have allocated), a former one
//   drops the writes it has not made.
import { HashMap, HashSet, Option } from "effect"
import type { ConfigSources } from "../config/in-force.ts"
import { type ConfigInForce, noConfig, retryConfig, updateConfig } from "../config/in-force.ts"
import { type ConfigError, formatConfigError } from "../config/errors.ts"
import { poolStats } from "../ipam/allocator.ts"
import {
  applyConfig,
  type ControllerEvent,
  type ControllerOptions,
  type ControllerState,
  initialState,
  reconcileAll,
  serviceDeleted,
  type ServiceOutcome,
} from "./reconcile.ts"
import { fullPassIntervalMs } from "./settings.ts"
import { allocatedFromPoolAnnotation, serviceKey, type ServiceView } from "./service.ts"

/** A Service as a watch shows it. */
export interface ServiceSnapshot {
  readonly view: ServiceView
  /** metadata.resourceVersion: a write is "seen back" once the watch shows another version. */
  readonly resourceVersion: string | undefined
  readonly uid?: string | undefined
  /** metadata.creationTimestamp (for the time-to-address metric). */
  readonly createdMs?: number | undefined
}

export interface NamespaceSnapshot {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly resourceVersion: string | undefined
}

/** The object an event is about. */
export interface Regarding {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly namespace: string
  readonly uid?: string | undefined
}

export interface PoolStatusCounts {
  readonly assignedIPv4: number
  readonly assignedIPv6: number
  readonly availableIPv4: number
  readonly availableIPv6: number
}

export type LoopInput =
  | { readonly _tag: "ServiceUpserted"; readonly service: ServiceSnapshot }
  | { readonly _tag: "ServiceDeleted"; readonly key: string }
  | { readonly _tag: "NamespaceChanged"; readonly namespace: NamespaceSnapshot }
  | { readonly _tag: "NamespaceDeleted"; readonly name: string }
  /** The metallb.io objects (with their status) and Secrets as they are now. */
  | { readonly _tag: "ConfigChanged"; readonly sources: ConfigSources }
  | { readonly _tag: "LeadershipChanged"; readonly leading: boolean }
  | { readonly _tag: "PassDue"; readonly nowMs: number }
  /** A service's writes (status and/or annotation, `writeId` of the latest) failed. */
  | { readonly _tag: "ServiceWriteFailed"; readonly key: string; readonly writeId: number }
  | { readonly _tag: "PoolStatusWriteFailed"; readonly name: string }
  /** Whether ConfigurationState could be written (false: resolve and report again at the next pass). */
  | { readonly _tag: "ConfigReported"; readonly ok: boolean }

export type LogLevel = "Info" | "Warning"

export type LoopOutput =
  | {
    readonly _tag: "WriteServiceStatus"
    readonly key: string
    readonly writeId: number
    readonly ingress: ReadonlyArray<string>
    /** The service showed no address before: the shell observes the time to its first address. */
    readonly firstAddress: boolean
    readonly createdMs?: number | undefined
  }
  /** Set (pool) or remove (undefined) the metallb.io/ip-allocated-from-pool annotation. */
  | { readonly _tag: "WritePoolAnnotation"; readonly key: string; readonly writeId: number; readonly pool: string | undefined }
  /** `key`: the service an event belongs to (its writes go first), or the configuration object's kind/name. */
  | { readonly _tag: "Emit"; readonly key: string; readonly regarding: Regarding; readonly event: ControllerEvent }
  | { readonly _tag: "WriteConfigurationState"; readonly errors: ReadonlyArray<ConfigError>; readonly transientOnly: boolean }
  | { readonly _tag: "WritePoolStatus"; readonly name: string; readonly status: PoolStatusCounts }
  /** Leadership lost: writes not yet made are no longer ours to make. */
  | { readonly _tag: "DropWrites" }
  | { readonly _tag: "Log"; readonly level: LogLevel; readonly message: string }
  | { readonly _tag: "Leading"; readonly leading: boolean }
  /** A configuration is in force (`loaded`) and the latest one was rejected (`stale`). */
  | { readonly _tag: "ConfigStatus"; readonly loaded: boolean; readonly stale: boolean }
  /** A pass ended: services known and recomputed. */
  | { readonly _tag: "PassDone"; readonly services: number; readonly recomputed: number }

/** What was written to a service and not yet seen back: the version it was decided on, and what it says. */
interface Written {
  readonly resourceVersion: string | undefined
  readonly ingress: string
  readonly pool: string | undefined
  readonly writeId: number
}

export interface LoopState {
  readonly options: ControllerOptions
  /** The namespace metallb-ts runs in (where configuration objects live). */
  readonly namespace: string
  readonly controller: ControllerState
  readonly config: ConfigInForce
  /** The configuration sources as last seen (resolved at the next pass if they changed). */
  readonly sources: ConfigSources | undefined
  readonly services: HashMap.HashMap<string, ServiceSnapshot>
  readonly serviceKeysByNamespace: HashMap.HashMap<string, HashSet.HashSet<string>>
  readonly namespaces: HashMap.HashMap<string, NamespaceSnapshot>
  /** Services to recompute at the next pass (the others are settled). */
  readonly dirty: HashSet.HashSet<string>
  readonly written: HashMap.HashMap<string, Written>
  /** Per service, the outcome whose events were emitted. */
  readonly emitted: HashMap.HashMap<string, string>
  /** Configuration errors already reported by an event (kind, name, text). */
  readonly reportedConfigErrors: HashSet.HashSet<string>
  /** Per pool, the status last written and not yet shown. */
  readonly poolWritten: HashMap.HashMap<string, string>
  readonly leading: boolean
  readonly lastFullPassMs: number | undefined
  readonly nextWriteId: number
}

export const initialLoopState = (namespace: string, options: ControllerOptions = {}): LoopState => ({
  options,
  namespace,
  controller: initialState,
  config: noConfig,
  sources: undefined,
  services: HashMap.empty(),
  serviceKeysByNamespace: HashMap.empty(),
  namespaces: HashMap.empty(),
  dirty: HashSet.empty(),
  written: HashMap.empty(),
  emitted: HashMap.empty(),
  reportedConfigErrors: HashSet.empty(),
  poolWritten: HashMap.empty(),
  leading: false,
  lastFullPassMs: undefined,
  nextWriteId: 1,
})

export interface StepResult {
  readonly state: LoopState
  readonly outputs: ReadonlyArray<LoopOutput>
}

const same = (state: LoopState): StepResult => ({ state, outputs: [] })

const allServicesDirty = (state: LoopState): HashSet.HashSet<string> => HashSet.fromIterable(HashMap.keys(state.services))

/** Status fields are int64, but a JSON number is exact only to 2^53: larger counts are written as 2^53-1. */
const statusCount = (value: bigint) => Number(value > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : value)

const record = (value: unknown): Readonly<Record<string, unknown>> | undefined =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined

/** The configuration object (apiVersion, namespace, uid) an error names, among the sources' documents. */
const configObject = (sources: ConfigSources | undefined, kind: string, name: string) =>
  sources?.documents.map((d) => record(d.value)).find((o) => o?.["kind"] === kind && record(o?.["metadata"])?.["name"] === name)

export const step = (state: LoopState, input: LoopInput): StepResult => {
  switch (input._tag) {
    case "ServiceUpserted":
      return same(serviceUpserted(state, input.service))
    case "ServiceDeleted": {
      const key = input.key
      const known = Option.getOrUndefined(HashMap.get(state.services, key))
      const namespace = known?.view.namespace
      const inNamespace = namespace === undefined ? undefined : Option.getOrUndefined(HashMap.get(state.serviceKeysByNamespace, namespace))
      return same({
        ...state,
        // Its addresses are free for the services of the next pass.
        controller: serviceDeleted(state.controller, key),
        services: HashMap.remove(state.services, key),
        serviceKeysByNamespace: namespace === undefined || inNamespace === undefined
          ? state.serviceKeysByNamespace
          : HashMap.set(state.serviceKeysByNamespace, namespace, HashSet.remove(inNamespace, key)),
        dirty: HashSet.remove(state.dirty, key),
        written: HashMap.remove(state.written, key),
        emitted: HashMap.remove(state.emitted, key),
      })
    }
    case "NamespaceChanged": {
      const before = Option.getOrUndefined(HashMap.get(state.namespaces, input.namespace.name))
      if (before !== undefined && before.resourceVersion === input.namespace.resourceVersion) return same(state)
      const next = { ...state, namespaces: HashMap.set(state.namespaces, input.namespace.name, input.namespace) }
      // Pool selectors may read namespace labels: the services there may come out differently.
      return same(JSON.stringify(before?.labels ?? {}) === JSON.stringify(input.namespace.labels) ? next : dirtyNamespace(next, input.namespace.name))
    }
    case "NamespaceDeleted":
      return same(HashMap.has(state.namespaces, input.name) ? dirtyNamespace({ ...state, namespaces: HashMap.remove(state.namespaces, input.name) }, input.name) : state)
    case "ConfigChanged":
      return same({ ...state, sources: input.sources })
    case "LeadershipChanged":
      return leadershipChanged(state, input.leading)
    case "PassDue":
      return state.leading ? pass(state, input.nowMs) : same(state)
    case "ServiceWriteFailed": {
      const written = Option.getOrUndefined(HashMap.get(state.written, input.key))
      // Only the latest write counts: an older one's failure says nothing about the newer.
      if (written === undefined || written.writeId !== input.writeId || !HashMap.has(state.services, input.key)) return same(state)
      return same({ ...state, written: HashMap.remove(state.written, input.key), dirty: HashSet.add(state.dirty, input.key) })
    }
    case "PoolStatusWriteFailed":
      return same({ ...state, poolWritten: HashMap.remove(state.poolWritten, input.name) })
    case "ConfigReported":
      return same(input.ok ? state : { ...state, config: retryConfig(state.config) })
  }
}

const serviceUpserted = (state: LoopState, service: ServiceSnapshot): LoopState => {
  const key = serviceKey(service.view)
  const before = Option.getOrUndefined(HashMap.get(state.services, key))
  if (before !== undefined && before.resourceVersion === service.resourceVersion && service.resourceVersion !== undefined) return state
  const namespace = service.view.namespace
  const inNamespace = Option.getOrElse(HashMap.get(state.serviceKeysByNamespace, namespace), () => HashSet.empty<string>())
  return {
    ...state,
    services: HashMap.set(state.services, key, service),
    serviceKeysByNamespace: HashSet.has(inNamespace, key) ? state.serviceKeysByNamespace : HashMap.set(state.serviceKeysByNamespace, namespace, HashSet.add(inNamespace, key)),
    dirty: HashSet.add(state.dirty, key),
  }
}

const dirtyNamespace = (state: LoopState, namespace: string): LoopState => {
  const keys = Option.getOrUndefined(HashMap.get(state.serviceKeysByNamespace, namespace))
  if (keys === undefined) return state
  let dirty = state.dirty
  for (const key of keys) dirty = HashSet.add(dirty, key)
  return { ...state, dirty }
}

const leadershipChanged = (state: LoopState, leading: boolean): StepResult => {
  if (leading === state.leading) return same(state)
  if (!leading) {
    return {
      state: { ...state, leading: false },
      outputs: [{ _tag: "DropWrites" }, { _tag: "Leading", leading: false }, { _tag: "ConfigStatus", loaded: false, stale: false }],
    }
  }
  // Newly leading: another replica may have allocated meanwhile; rebuild from status, not memory.
  return {
    state: {
      ...state,
      leading: true,
      controller: initialState,
      config: noConfig,
      dirty: allServicesDirty(state),
      written: HashMap.empty(),
      emitted: HashMap.empty(),
      reportedConfigErrors: HashSet.empty(),
      poolWritten: HashMap.empty(),
      lastFullPassMs: undefined,
    },
    outputs: [{ _tag: "Leading", leading: true }],
  }
}

/** The configuration, resolved again if its sources changed; what to report about it. */
const configPass = (state: LoopState): StepResult => {
  if (state.sources === undefined) return same(state)
  const { state: config, change } = updateConfig(state.config, state.sources)
  const next = { ...state, config }
  switch (change._tag) {
    case "Unchanged":
      return same(next)
    case "Applied": {
      const outputs: Array<LoopOutput> = [{ _tag: "Log", level: "Info", message: `controller: configuration applied (${change.config.pools.size} pools)` }]
      if (change.warnings.length > 0) {
        outputs.push({ _tag: "Log", level: "Warning", message: `controller: configuration warnings:\n${change.warnings.map(formatConfigError).join("\n")}` })
      }
      outputs.push({ _tag: "WriteConfigurationState", errors: [], transientOnly: false })
      return {
        state: { ...next, controller: applyConfig(state.controller, change.config), dirty: allServicesDirty(state), reportedConfigErrors: HashSet.empty() },
        outputs,
      }
    }
    case "Rejected": {
      const outputs: Array<LoopOutput> = [{
        _tag: "Log",
        level: "Warning",
        message: `controller: configuration invalid, ${change.keeping ? "keeping the last valid one" : "none in force yet"}:\n${change.errors.map(formatConfigError).join("\n")}`,
      }]
      let reported = HashSet.empty<string>()
      for (const error of change.errors) {
        if (error.severity === "warning") continue
        const object = configObject(state.sources, error.object.kind, error.object.name)
        if (object === undefined) continue
        const text = formatConfigError(error)
        const key = JSON.stringify([error.object.kind, error.object.name, text])
        reported = HashSet.add(reported, key)
        if (HashSet.has(state.reportedConfigErrors, key)) continue
        const metadata = record(object["metadata"])
        const uid = metadata?.["uid"]
        const namespace = metadata?.["namespace"]
        const apiVersion = object["apiVersion"]
        outputs.push({
          _tag: "Emit",
          key: `${error.object.kind}/${error.object.name}`,
          regarding: {
            apiVersion: typeof apiVersion === "string" ? apiVersion : "metallb.io/v1beta1",
            kind: error.object.kind,
            name: error.object.name,
            namespace: typeof namespace === "string" ? namespace : state.namespace,
            ...(typeof uid === "string" ? { uid } : {}),
          },
          event: { type: "Warning", reason: "ConfigurationError", message: text },
        })
      }
      outputs.push({ _tag: "WriteConfigurationState", errors: change.errors, transientOnly: change.errors.every((e) => e.severity === "transient") })
      return { state: { ...next, reportedConfigErrors: reported }, outputs }
    }
  }
}

/** The metallb.io/ip-allocated-from-pool annotation an outcome asks for: only a service with addresses has a pool. */
export const poolAnnotationOf = (outcome: ServiceOutcome): string | undefined =>
  outcome.ingress !== undefined && outcome.ingress.length > 0 ? outcome.pool : undefined

const pass = (before: LoopState, nowMs: number): StepResult => {
  const configured = configPass(before)
  let state = configured.state
  const outputs: Array<LoopOutput> = [...configured.outputs]
  outputs.push({ _tag: "ConfigStatus", loaded: state.controller.config !== undefined, stale: state.config.stale && state.controller.config !== undefined })
  // Everything is recomputed now and then, whatever the bookkeeping says.
  if (state.lastFullPassMs === undefined || nowMs - state.lastFullPassMs >= fullPassIntervalMs) {
    state = { ...state, dirty: allServicesDirty(state), lastFullPassMs: nowMs }
  }
  const views: Array<ServiceView> = []
  for (const key of state.dirty) {
    const snapshot = Option.getOrUndefined(HashMap.get(state.services, key))
    if (snapshot !== undefined) views.push(snapshot.view)
  }
  const labels = (namespace: string) => Option.match(HashMap.get(state.namespaces, namespace), { onNone: () => ({}), onSome: (n) => n.labels })
  const { state: controller, outcomes } = reconcileAll(state.controller, views, labels, state.options)
  let { dirty, written, emitted, nextWriteId } = state
  for (const outcome of outcomes) {
    const snapshot = Option.getOrUndefined(HashMap.get(state.services, outcome.key))
    if (snapshot === undefined) continue
    const view = snapshot.view
    const eventKey = JSON.stringify([outcome.ingress, outcome.events])
    const fresh = outcome.events.length > 0 && Option.getOrUndefined(HashMap.get(emitted, outcome.key)) !== eventKey
    emitted = HashMap.set(emitted, outcome.key, eventKey)
    const statusIngress = JSON.stringify(view.ingressIPs)
    const shownPool = view.annotations[allocatedFromPoolAnnotation]
    const wanted = outcome.ingress === undefined ? undefined : JSON.stringify(outcome.ingress)
    const pool = poolAnnotationOf(outcome)
    const inPlace = wanted === undefined || (statusIngress === wanted && shownPool === pool)
    if (inPlace) written = HashMap.remove(written, outcome.key)
    // Settled: recomputed again only when the service, its namespace or the configuration changes.
    dirty = inPlace && outcome.events.length === 0 ? HashSet.remove(dirty, outcome.key) : HashSet.add(dirty, outcome.key)
    if (!inPlace && outcome.ingress !== undefined) {
      // Our last write is what the service says until the watch shows a newer version of it.
      const pending = Option.getOrUndefined(HashMap.get(written, outcome.key))
      const seen = pending !== undefined && pending.resourceVersion === snapshot.resourceVersion ? pending : undefined
      const currentIngress = seen?.ingress ?? statusIngress
      const currentPool = seen !== undefined ? seen.pool : shownPool
      if (currentIngress !== wanted || currentPool !== pool) {
        const writeId = nextWriteId
        nextWriteId += 1
        written = HashMap.set(written, outcome.key, { resourceVersion: snapshot.resourceVersion, ingress: wanted ?? "[]", pool, writeId })
        if (currentIngress !== wanted) {
          outputs.push({
            _tag: "WriteServiceStatus",
            key: outcome.key,
            writeId,
            ingress: outcome.ingress,
            firstAddress: currentIngress === "[]" && outcome.ingress.length > 0,
            ...(snapshot.createdMs === undefined ? {} : { createdMs: snapshot.createdMs }),
          })
        }
        if (currentPool !== pool) outputs.push({ _tag: "WritePoolAnnotation", key: outcome.key, writeId, pool })
      }
    }
    if (fresh) {
      const regarding: Regarding = { apiVersion: "v1", kind: "Service", name: view.name, namespace: view.namespace, ...(snapshot.uid === undefined ? {} : { uid: snapshot.uid }) }
      for (const event of outcome.events) outputs.push({ _tag: "Emit", key: outcome.key, regarding, event })
    }
  }
  state = { ...state, controller, dirty, written, emitted, nextWriteId }
  const pools = poolStatusPass(state)
  outputs.push(...pools.outputs, { _tag: "PassDone", services: HashMap.size(state.services), recomputed: views.length })
  return { state: pools.state, outputs }
}

/** The pool's status as the IPAddressPool object shows it (from the configuration sources). */
const shownPoolStatus = (sources: ConfigSources | undefined, name: string) => record(configObject(sources, "IPAddressPool", name)?.["status"])

const poolStatusPass = (state: LoopState): StepResult => {
  const config = state.controller.config
  if (config === undefined) return same(state)
  const outputs: Array<LoopOutput> = []
  let poolWritten = state.poolWritten
  for (const name of config.pools.keys()) {
    const stats = poolStats(state.controller.allocator, name)
    if (stats === undefined) continue
    const status: PoolStatusCounts = {
      assignedIPv4: statusCount(stats.assigned.ipv4),
      assignedIPv6: statusCount(stats.assigned.ipv6),
      availableIPv4: statusCount(stats.available.ipv4),
      availableIPv6: statusCount(stats.available.ipv6),
    }
    const shown = shownPoolStatus(state.sources, name)
    if (shown !== undefined && Object.entries(status).every(([k, v]) => shown[k] === v)) {
      poolWritten = HashMap.remove(poolWritten, name)
      continue
    }
    const text = JSON.stringify(status)
    if (Option.getOrUndefined(HashMap.get(poolWritten, name)) === text) continue
    poolWritten = HashMap.set(poolWritten, name, text)
    outputs.push({ _tag: "WritePoolStatus", name, status })
  }
  return { state: { ...state, poolWritten }, outputs }
}

/** Services known to the machine (for the shell's metrics and the simulator's checks). */
export const serviceCount = (state: LoopState): number => HashMap.size(state.services)
