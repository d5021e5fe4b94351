// The controller process's loop: watch Services, Namespaces, the metallb.io configuration and the
// Secrets it refers to; on every change (debounced) resolve the configuration and reconcile every
// Service through core/controller; write what differs (status.loadBalancer, the pool annotation,
// IPAddressPool status, ConfigurationState) and the events. An invalid configuration never costs a
// service its address: the last valid configuration stays in force, ConfigurationState says why, and
// a Warning event (ConfigurationError) on each offending metallb.io object says what, once per error.
// A pass only decides: its writes go to a few workers (latest outcome per service wins), so the next
// pass never waits for them; a write not yet seen back through the watch is not repeated; a service
// whose last outcome needed nothing and whose object has not changed since is not recomputed.
import {
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  PatchStrategy,
  setHeaderOptions,
  type V1Namespace,
  type V1Secret,
  type V1Service,
  V1MicroTime,
} from "@kubernetes/client-node"
import { Effect, Queue, Ref, type Scope, Stream } from "effect"
import type { Config } from "../../core/config/config.ts"
import { type ConfigError, formatConfigError } from "../../core/config/errors.ts"
import { resolve } from "../../core/config/resolve.ts"
import { applyConfig, type ControllerEvent, type ControllerState, initialState, reconcileAll, serviceDeleted, type ServiceOutcome } from "../../core/controller/reconcile.ts"
import { allocatedFromPoolAnnotation, serviceKey } from "../../core/controller/service.ts"
import { poolStats } from "../../core/ipam/allocator.ts"
import type { ControllerMetrics } from "./controller-metrics.ts"
import { apiErrorText } from "./api-error.ts"
import { configKinds, metallbGroup, secretOf } from "./config-objects.ts"
import { watch, type Watched } from "./informer.ts"
import { keyedWorkers } from "./keyed-workers.ts"
import { serviceView } from "./views.ts"

// Re-exported for shell/kube/speaker.ts until it imports them from their own modules.
export { apiErrorText, configKinds }

export interface ControllerOptions {
  readonly kubeConfig: KubeConfig
  /** The namespace metallb-ts runs in (its configuration and Secrets live there). */
  readonly namespace: string
  readonly loadBalancerClass?: string
  /** Reported as the events' reportingInstance. */
  readonly instance: string
  /** How long a pass waits after the first change of a burst (default 100 ms). */
  readonly debounceMs?: number
  /** Reconcile only while this says so (leader election); always when absent. */
  readonly isLeader?: Effect.Effect<boolean>
  /** Full reconcile at least this often (default 2 s). */
  readonly resyncMs?: number
  /** API writes in flight at once during a pass (default 16). */
  readonly writeConcurrency?: number
  readonly metrics?: ControllerMetrics
}

const group = metallbGroup
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch)
const reportingController = "metallb.io/controller"
/** Every service is recomputed at least this often, settled or not. */
const fullPassIntervalMs = 30_000

/** Status fields are int64, but a JSON number is exact only to 2^53: larger counts are written as 2^53-1. */
const statusCount = (value: bigint) => Number(value > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : value)

const asDocument = (object: KubernetesObject) => ({ value: object, source: { file: `${object.kind}/${object.metadata?.name}` } })

/** What the configuration depends on: not status, resourceVersion or managedFields, which our own writes change. */
const configFingerprintOf = (object: KubernetesObject) => {
  const { status: _status, metadata, ...rest } = object as KubernetesObject & { status?: unknown }
  return { ...rest, metadata: { name: metadata?.name, namespace: metadata?.namespace, labels: metadata?.labels, annotations: metadata?.annotations } }
}

interface Loop {
  readonly state: ControllerState
  /** Fingerprint of the configuration objects last resolved (valid or not) and reported. */
  readonly configFingerprint?: string
  /** Whether the last resolved configuration was invalid (the one in force is then stale). */
  readonly configStale: boolean
}

/** What the controller last wrote to a service, and the resourceVersion it read before writing. */
interface Written {
  readonly resourceVersion: string | undefined
  readonly ingress: string
  readonly pool: string | undefined
}

const emptyLoop: Loop = { state: initialState, configStale: false }

/** The versions of a service and of its namespace an outcome was computed from. */
interface Versions {
  readonly service: string | undefined
  readonly namespace: string | undefined
}

/** Bookkeeping kept across passes (passes run one at a time). */
interface Memory {
  /** What was written per service and not yet seen back through the watch. */
  readonly written: Map<string, Written>
  /** Events already emitted per service (outcome and events), so a re-run does not repeat them. */
  readonly emitted: Map<string, string>
  /** Services whose last outcome needed no write, and the versions it was computed from. */
  readonly settled: Map<string, Versions>
  /** The services of the last pass, by key. */
  previous: ReadonlyMap<string, V1Service>
  reportedConfigErrors: ReadonlySet<string>
}

export const runController = (options: ControllerOptions): Effect.Effect<never, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { kubeConfig, namespace, metrics } = options
    const core = kubeConfig.makeApiClient(CoreV1Api)
    const custom = kubeConfig.makeApiClient(CustomObjectsApi)
    const events = kubeConfig.makeApiClient(EventsV1Api)

    const services = yield* watch<V1Service>("services", kubeConfig, "/api/v1/services", () => core.listServiceForAllNamespaces())
    const namespaces = yield* watch<V1Namespace>("namespaces", kubeConfig, "/api/v1/namespaces", () => core.listNamespace())
    const secrets = yield* watch<V1Secret>("secrets", kubeConfig, `/api/v1/namespaces/${namespace}/secrets`, () => core.listNamespacedSecret({ namespace }))
    const configWatches: Array<Watched<KubernetesObject>> = []
    for (const k of configKinds) {
      configWatches.push(yield* watch<KubernetesObject>(k.plural, kubeConfig, `/apis/${group}/${k.version}/namespaces/${namespace}/${k.plural}`,
        () => custom.listNamespacedCustomObject({ group, version: k.version, namespace, plural: k.plural }) as Promise<KubernetesListObject<KubernetesObject>>))
    }
    const all: Array<Watched<KubernetesObject>> = [services, namespaces, secrets, ...configWatches]
    yield* Effect.forEach(all, (w) => w.synced, { discard: true })
    yield* Effect.logInfo(`controller: caches synced (${all.map((w) => w.name).join(", ")})`)

    const loop = yield* Ref.make<Loop>(emptyLoop)
    const memory: Memory = { written: new Map(), emitted: new Map(), settled: new Map(), previous: new Map(), reportedConfigErrors: new Set() }

    /** Every write to the API server goes through here: counted, and logged (not fatal) when it fails. */
    const apiWrite = (what: string, write: () => Promise<unknown>): Effect.Effect<boolean> =>
      Effect.tryPromise({ try: write, catch: (error) => error }).pipe(
        Effect.as(true),
        Effect.tap(() => Effect.sync(() => metrics?.apiWrite(true))),
        Effect.catch((error) =>
          Effect.sync(() => metrics?.apiWrite(false)).pipe(
            Effect.andThen(Effect.logWarning(`${what} not written: ${apiErrorText(error)}`)),
            Effect.as(false),
          )),
      )

    const createEvent = (regarding: { apiVersion: string; kind: string; name: string; namespace: string; uid?: string }, event: ControllerEvent) =>
      apiWrite(`event ${event.reason} for ${regarding.kind} ${regarding.namespace}/${regarding.name}`, () =>
        events.createNamespacedEvent({
          namespace: regarding.namespace,
          body: {
            metadata: { generateName: `${regarding.name || "object"}-` },
            eventTime: new V1MicroTime(),
            reportingController,
            reportingInstance: options.instance,
            action: event.reason,
            reason: event.reason,
            type: event.type,
            // events.k8s.io limits the note to 1 kB.
            note: event.message.length > 1024 ? `${event.message.slice(0, 1021)}...` : event.message,
            regarding,
          },
        }))

    const emit = (service: V1Service, event: ControllerEvent) =>
      createEvent({
        apiVersion: "v1",
        kind: "Service",
        name: service.metadata?.name ?? "",
        namespace: service.metadata?.namespace ?? "default",
        ...(service.metadata?.uid === undefined ? {} : { uid: service.metadata.uid }),
      }, event)

    const writeService = (service: V1Service, key: string, outcome: ServiceOutcome) =>
      Effect.gen(function* () {
        if (outcome.ingress === undefined) return
        const name = service.metadata?.name ?? ""
        const ns = service.metadata?.namespace ?? "default"
        const resourceVersion = service.metadata?.resourceVersion
        // Our last write is what the service says until the watch shows a newer version of it.
        const pending = memory.written.get(key)
        const seen = pending !== undefined && pending.resourceVersion === resourceVersion ? pending : undefined
        const statusIngress = (service.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? "")
        const current = seen?.ingress ?? JSON.stringify(statusIngress)
        const wanted = JSON.stringify(outcome.ingress)
        let ingressWritten = current
        if (current !== wanted) {
          const ok = yield* apiWrite(`status of ${ns}/${name}`, () => core.patchNamespacedServiceStatus(
            { name, namespace: ns, body: { status: { loadBalancer: { ingress: outcome.ingress?.map((ip) => ({ ip, ipMode: "VIP" })) ?? [] } } } },
            mergePatch,
          ))
          if (ok) {
            ingressWritten = wanted
            const created = service.metadata?.creationTimestamp
            if (current === "[]" && outcome.ingress.length > 0 && created !== undefined) {
              metrics?.addressAssigned((Date.now() - new Date(created as unknown as string).getTime()) / 1000)
            }
          }
        }
        const pool = outcome.ingress.length > 0 ? outcome.pool : undefined
        const currentPool = seen !== undefined ? seen.pool : service.metadata?.annotations?.[allocatedFromPoolAnnotation]
        let poolWritten = currentPool
        if (currentPool !== pool) {
          const ok = yield* apiWrite(`annotation of ${ns}/${name}`, () => core.patchNamespacedService(
            { name, namespace: ns, body: { metadata: { annotations: { [allocatedFromPoolAnnotation]: pool ?? null } } } },
            mergePatch,
          ))
          if (ok) poolWritten = pool
        }
        if (ingressWritten !== JSON.stringify(statusIngress) || poolWritten !== service.metadata?.annotations?.[allocatedFromPoolAnnotation]) {
          memory.written.set(key, { resourceVersion, ingress: ingressWritten, pool: poolWritten })
        } else {
          memory.written.delete(key)
        }
      })

    const writeConfigurationState = (errors: ReadonlyArray<ConfigError>, transientOnly: boolean) =>
      apiWrite("ConfigurationState", async () => {
        const result = errors.length === 0 ? "Valid" : "Invalid"
        const summary = errors.map(formatConfigError).join("\n")
        const condition = {
          type: "configReconcilerValid",
          status: errors.length === 0 ? "True" : "False",
          reason: errors.length === 0 ? "Reconciled" : transientOnly ? "InfraError" : "ConfigurationError",
          message: summary.slice(0, 32_000) || "configuration is valid",
          lastTransitionTime: new Date().toISOString(),
        }
        const body = { apiVersion: `${group}/v1beta1`, kind: "ConfigurationState", metadata: { name: "controller", namespace } }
        await custom.createNamespacedCustomObject({ group, version: "v1beta1", namespace, plural: "configurationstates", body }).catch(() => undefined)
        await custom.patchNamespacedCustomObjectStatus(
          { group, version: "v1beta1", namespace, plural: "configurationstates", name: "controller", body: { status: { result, errorSummary: summary, conditions: [condition] } } },
          mergePatch,
        )
      })

    /** A Warning event on each metallb.io object an error names, once per distinct error while it lasts. */
    const reportConfigErrors = (errors: ReadonlyArray<ConfigError>) =>
      Effect.gen(function* () {
        const current = new Set<string>()
        for (const error of errors) {
          if (error.severity === "warning") continue
          const object = configWatches.flatMap((w) => w.list()).find((o) => o.kind === error.object.kind && o.metadata?.name === error.object.name)
          if (object === undefined) continue
          const text = formatConfigError(error)
          const key = JSON.stringify([error.object.kind, error.object.name, text])
          current.add(key)
          if (memory.reportedConfigErrors.has(key)) continue
          yield* createEvent({
            apiVersion: object.apiVersion ?? `${group}/v1beta1`,
            kind: error.object.kind,
            name: error.object.name,
            namespace: object.metadata?.namespace ?? namespace,
            ...(object.metadata?.uid === undefined ? {} : { uid: object.metadata.uid }),
          }, { type: "Warning", reason: "ConfigurationError", message: text })
        }
        memory.reportedConfigErrors = current
      })

    const poolObjects = configWatches[configKinds.findIndex((k) => k.kind === "IPAddressPool")]
    const writePoolStatus = (config: Config, state: ControllerState) =>
      Effect.forEach([...config.pools.keys()], (name) => {
        const stats = poolStats(state.allocator, name)
        if (stats === undefined) return Effect.void
        const status = {
          assignedIPv4: statusCount(stats.assigned.ipv4),
          assignedIPv6: statusCount(stats.assigned.ipv6),
          availableIPv4: statusCount(stats.available.ipv4),
          availableIPv6: statusCount(stats.available.ipv6),
        }
        const shown = (poolObjects?.list().find((p) => p.metadata?.name === name) as { status?: Record<string, unknown> } | undefined)?.status
        if (shown !== undefined && Object.entries(status).every(([k, v]) => shown[k] === v)) return Effect.void
        return apiWrite(`status of pool ${name}`, () => custom.patchNamespacedCustomObjectStatus(
          { group, version: "v1beta1", namespace, plural: "ipaddresspools", name, body: { status } },
          mergePatch,
        ))
      }, { discard: true })

    const publishPools = () =>
      metrics?.setPoolSource(() => {
        const { state } = Ref.getUnsafe(loop)
        return [...(state.config?.pools.keys() ?? [])].flatMap((pool) => {
          const stats = poolStats(state.allocator, pool)
          return stats === undefined ? [] : [{ pool, stats }]
        })
      })

    /** A service's writes and the events that go with them, done by the workers below. */
    interface Job {
      readonly service: V1Service
      readonly outcome: ServiceOutcome
      readonly events: ReadonlyArray<ControllerEvent>
    }
    const writes = yield* keyedWorkers<Job>(
      options.writeConcurrency ?? 16,
      (key, job) =>
        writeService(job.service, key, job.outcome).pipe(
          Effect.andThen(Effect.forEach(job.events, (e) => emit(job.service, e), { discard: true })),
        ),
      // A newer outcome wins; events the older job had not emitted yet still go out.
      (older, newer) => ({ ...newer, events: [...older.events, ...newer.events] }),
    )
    metrics?.setPendingWrites(writes.size)

    const { settled, emitted } = memory
    let lastFullPassMs = 0

    const leading = yield* Ref.make(false)
    const reconcile = Effect.gen(function* () {
      if (options.isLeader !== undefined && !(yield* options.isLeader)) {
        if (yield* Ref.getAndSet(leading, false)) {
          writes.clear()
          metrics?.leading(false)
          metrics?.setPoolSource(undefined)
          metrics?.config({ loaded: false, stale: false })
        }
        return
      }
      const startedMs = performance.now()
      // Newly leading: another replica may have allocated meanwhile; rebuild from status, not memory.
      if (!(yield* Ref.getAndSet(leading, true))) {
        yield* Ref.set(loop, emptyLoop)
        memory.written.clear()
        emitted.clear()
        settled.clear()
        metrics?.leading(true)
        publishPools()
      }
      const before = yield* Ref.get(loop)
      const configObjects = configWatches.flatMap((w) => w.list())
      const fingerprint = JSON.stringify([configObjects.map(configFingerprintOf), secrets.list().map((s) => [s.metadata?.name, s.type, s.data])])
      let state = before.state
      let configFingerprint = before.configFingerprint
      let configStale = before.configStale
      if (fingerprint !== before.configFingerprint) {
        const resolution = resolve(configObjects.map(asDocument), { namespace, secrets: secrets.list().map(secretOf) })
        let reported: boolean
        if (resolution._tag === "Valid") {
          state = applyConfig(state, resolution.config)
          settled.clear()
          configStale = false
          yield* Effect.logInfo(`controller: configuration applied (${resolution.config.pools.size} pools)`)
          memory.reportedConfigErrors = new Set()
          reported = yield* writeConfigurationState([], false)
        } else {
          configStale = true
          yield* Effect.logWarning(`controller: configuration invalid, keeping the last valid one:\n${resolution.errors.map(formatConfigError).join("\n")}`)
          yield* reportConfigErrors(resolution.errors)
          reported = yield* writeConfigurationState(resolution.errors, resolution.errors.every((e) => e.severity === "transient"))
        }
        // Resolved again next pass if the outcome could not be reported (the API server was away).
        if (reported) configFingerprint = fingerprint
      }
      metrics?.config({ loaded: state.config !== undefined, stale: configStale && state.config !== undefined })
      // Everything is recomputed now and then, whatever the bookkeeping below says.
      if (performance.now() - lastFullPassMs > fullPassIntervalMs) {
        settled.clear()
        lastFullPassMs = performance.now()
      }
      const namespaceVersions = new Map<string, string | undefined>()
      const labels = new Map<string, Readonly<Record<string, string>>>()
      for (const n of namespaces.list()) {
        namespaceVersions.set(n.metadata?.name ?? "", n.metadata?.resourceVersion)
        labels.set(n.metadata?.name ?? "", n.metadata?.labels ?? {})
      }
      const current = services.list()
      const byKey = new Map<string, V1Service>()
      for (const s of current) byKey.set(serviceKey({ namespace: s.metadata?.namespace ?? "", name: s.metadata?.name ?? "" }), s)
      // A deleted service's addresses are free for the services reconciled below.
      for (const key of memory.previous.keys()) {
        if (byKey.has(key)) continue
        state = serviceDeleted(state, key)
        settled.delete(key)
        emitted.delete(key)
        memory.written.delete(key)
      }
      memory.previous = byKey
      // A settled service whose object and namespace did not change would come out the same: skip it.
      const changed: Array<V1Service> = []
      for (const [key, s] of byKey) {
        const was = settled.get(key)
        if (was === undefined || was.service !== s.metadata?.resourceVersion || was.namespace !== namespaceVersions.get(s.metadata?.namespace ?? "")) changed.push(s)
      }
      const { state: next, outcomes } = reconcileAll(state, changed.map(serviceView), (ns) => labels.get(ns) ?? {}, options)
      yield* Ref.set(loop, { state: next, ...(configFingerprint === undefined ? {} : { configFingerprint }), configStale })
      for (const outcome of outcomes) {
        const service = byKey.get(outcome.key)
        if (service === undefined) continue
        const eventKey = JSON.stringify([outcome.ingress, outcome.events])
        const fresh = outcome.events.length > 0 && emitted.get(outcome.key) !== eventKey
        emitted.set(outcome.key, eventKey)
        const statusIngress = JSON.stringify((service.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? ""))
        const pool = outcome.ingress !== undefined && outcome.ingress.length > 0 ? outcome.pool : undefined
        const inPlace = outcome.ingress === undefined ||
          (statusIngress === JSON.stringify(outcome.ingress) && service.metadata?.annotations?.[allocatedFromPoolAnnotation] === pool)
        if (inPlace && outcome.events.length === 0) {
          settled.set(outcome.key, { service: service.metadata?.resourceVersion, namespace: namespaceVersions.get(service.metadata?.namespace ?? "") })
        } else {
          settled.delete(outcome.key)
        }
        if (!inPlace || fresh) writes.offer(outcome.key, { service, outcome, events: fresh ? outcome.events : [] })
      }
      if (next.config !== undefined) yield* writePoolStatus(next.config, next)
      metrics?.reconciled((performance.now() - startedMs) / 1000, current.length, changed.length)
    })

    // Leadership changes are not watch events: a periodic resync catches them (and anything missed).
    const resync = Stream.tick(`${options.resyncMs ?? 2_000} millis`)
    const changes = Stream.mergeAll([...all.map((w) => w.changes), resync], { concurrency: "unbounded" })
    // A pass runs a short while after the first change of a burst, whatever follows: a debounce (wait
    // for quiet) would starve the controller while Services keep arriving.
    const trigger = yield* Queue.sliding<void>(1)
    yield* changes.pipe(Stream.runForEach(() => Queue.offer(trigger, undefined)), Effect.forkScoped)
    yield* reconcile
    return yield* Effect.gen(function* () {
      yield* Queue.take(trigger)
      yield* Effect.sleep(`${options.debounceMs ?? 100} millis`)
      yield* Queue.clear(trigger)
      yield* reconcile
    }).pipe(Effect.forever)
  })
