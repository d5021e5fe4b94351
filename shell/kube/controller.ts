// The controller process's loop: watch Services, Namespaces, the metallb.io configuration and the
// Secrets it refers to; on every change (debounced) resolve the configuration and reconcile every
// Service through core/controller; write what differs (status.loadBalancer, the pool annotation,
// IPAddressPool status, ConfigurationState) and the events. An invalid configuration never costs a
// service its address: the last valid configuration stays in force and ConfigurationState says why.
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
import { Effect, Ref, type Scope, Stream } from "effect"
import type { Config } from "../../core/config/config.ts"
import type { Located, Secret } from "../../core/config/decode.ts"
import { type ConfigError, formatConfigError } from "../../core/config/errors.ts"
import { resolve } from "../../core/config/resolve.ts"
import { applyConfig, type ControllerEvent, type ControllerState, initialState, reconcileAll, type ServiceOutcome } from "../../core/controller/reconcile.ts"
import { allocatedFromPoolAnnotation, serviceKey } from "../../core/controller/service.ts"
import { poolStats } from "../../core/ipam/allocator.ts"
import { watch, type Watched } from "./informer.ts"
import { serviceView } from "./views.ts"

export interface ControllerOptions {
  readonly kubeConfig: KubeConfig
  /** The namespace metallb-ts runs in (its configuration and Secrets live there). */
  readonly namespace: string
  readonly loadBalancerClass?: string
  /** Reported as the events' reportingInstance. */
  readonly instance: string
  readonly debounceMs?: number
  /** Reconcile only while this says so (leader election); always when absent. */
  readonly isLeader?: Effect.Effect<boolean>
  /** Full reconcile at least this often (default 2 s). */
  readonly resyncMs?: number
}

export const configKinds = [
  { kind: "IPAddressPool", version: "v1beta1", plural: "ipaddresspools" },
  { kind: "L2Advertisement", version: "v1beta1", plural: "l2advertisements" },
  { kind: "BGPAdvertisement", version: "v1beta1", plural: "bgpadvertisements" },
  { kind: "BGPPeer", version: "v1beta2", plural: "bgppeers" },
  { kind: "BFDProfile", version: "v1beta1", plural: "bfdprofiles" },
  { kind: "Community", version: "v1beta1", plural: "communities" },
] as const

const group = "metallb.io"
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch)
const reportingController = "metallb.io/controller"

/** Status fields are int64, but a JSON number is exact only to 2^53: larger counts are written as 2^53-1. */
const statusCount = (value: bigint) => Number(value > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : value)

const asDocument = (object: KubernetesObject) => ({ value: object, source: { file: `${object.kind}/${object.metadata?.name}` } })

/** What the configuration depends on: not status, resourceVersion or managedFields, which our own writes change. */
const configFingerprintOf = (object: KubernetesObject) => {
  const { status: _status, metadata, ...rest } = object as KubernetesObject & { status?: unknown }
  return { ...rest, metadata: { name: metadata?.name, namespace: metadata?.namespace, labels: metadata?.labels, annotations: metadata?.annotations } }
}

/** An API error as a person reads it: code and the server's message. */
export const apiErrorText = (error: unknown): string => {
  const e = error as { code?: number; body?: unknown; message?: string }
  const body = typeof e.body === "string" ? e.body : JSON.stringify(e.body)
  return `${e.code ?? ""} ${e.message ?? String(error)} ${body ?? ""}`.trim().slice(0, 500)
}

const secretOf = (secret: V1Secret): Located<Secret> => ({
  object: {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: secret.metadata?.name ?? "", ...(secret.metadata?.namespace === undefined ? {} : { namespace: secret.metadata.namespace }) },
    ...(secret.type === undefined ? {} : { type: secret.type }),
    ...(secret.data === undefined ? {} : { data: secret.data }),
  },
  ref: { kind: "Secret", name: secret.metadata?.name ?? "", ...(secret.metadata?.namespace === undefined ? {} : { namespace: secret.metadata.namespace }) },
})

interface Loop {
  readonly state: ControllerState
  /** Fingerprint of the configuration objects last applied. */
  readonly configFingerprint?: string
  /** Events already emitted per service, so a re-run does not repeat them. */
  readonly emitted: ReadonlyMap<string, string>
}

export const runController = (options: ControllerOptions): Effect.Effect<never, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { kubeConfig, namespace } = options
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

    const loop = yield* Ref.make<Loop>({ state: initialState, emitted: new Map() })

    const emit = (service: V1Service, event: ControllerEvent) =>
      Effect.tryPromise({ try: () =>
        events.createNamespacedEvent({
          namespace: service.metadata?.namespace ?? "default",
          body: {
            metadata: { generateName: `${service.metadata?.name ?? "service"}-` },
            eventTime: new V1MicroTime(),
            reportingController,
            reportingInstance: options.instance,
            action: event.reason,
            reason: event.reason,
            type: event.type,
            note: event.message,
            regarding: { apiVersion: "v1", kind: "Service", name: service.metadata?.name ?? "", namespace: service.metadata?.namespace ?? "default", ...(service.metadata?.uid === undefined ? {} : { uid: service.metadata.uid }) },
          },
        }), catch: (error) => error }).pipe(Effect.catch((error) => Effect.logWarning(`event ${event.reason} for ${serviceKey({ namespace: service.metadata?.namespace ?? "", name: service.metadata?.name ?? "" })} not written: ${apiErrorText(error)}`)))

    const writeService = (service: V1Service, outcome: ServiceOutcome) =>
      Effect.gen(function* () {
        if (outcome.ingress === undefined) return
        const name = service.metadata?.name ?? ""
        const ns = service.metadata?.namespace ?? "default"
        const current = (service.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? "")
        if (JSON.stringify(current) !== JSON.stringify(outcome.ingress)) {
          yield* Effect.tryPromise({
            try: () => core.patchNamespacedServiceStatus(
              { name, namespace: ns, body: { status: { loadBalancer: { ingress: outcome.ingress?.map((ip) => ({ ip, ipMode: "VIP" })) ?? [] } } } },
              mergePatch,
            ),
            catch: (error) => error,
          }).pipe(Effect.catch((error) => Effect.logWarning(`status of ${ns}/${name} not written: ${apiErrorText(error)}`)))
        }
        const pool = outcome.ingress.length > 0 ? outcome.pool : undefined
        if (service.metadata?.annotations?.[allocatedFromPoolAnnotation] !== pool) {
          yield* Effect.tryPromise({
            try: () => core.patchNamespacedService(
              { name, namespace: ns, body: { metadata: { annotations: { [allocatedFromPoolAnnotation]: pool ?? null } } } },
              mergePatch,
            ),
            catch: (error) => error,
          }).pipe(Effect.catch((error) => Effect.logWarning(`annotation of ${ns}/${name} not written: ${apiErrorText(error)}`)))
        }
      })

    const writeConfigurationState = (errors: ReadonlyArray<ConfigError>, transientOnly: boolean) =>
      Effect.tryPromise({ catch: (error) => error, try: async () => {
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
      } }).pipe(Effect.catch((error) => Effect.logWarning(`ConfigurationState not written: ${apiErrorText(error)}`)))

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
        return Effect.tryPromise({
          try: () => custom.patchNamespacedCustomObjectStatus(
            { group, version: "v1beta1", namespace, plural: "ipaddresspools", name, body: { status } },
            mergePatch,
          ),
          catch: (error) => error,
        }).pipe(Effect.catch((error) => Effect.logWarning(`status of pool ${name} not written: ${apiErrorText(error)}`)))
      }, { discard: true })

    const leading = yield* Ref.make(false)
    const reconcile = Effect.gen(function* () {
      if (options.isLeader !== undefined && !(yield* options.isLeader)) {
        yield* Ref.set(leading, false)
        return
      }
      // Newly leading: another replica may have allocated meanwhile; rebuild from status, not memory.
      if (!(yield* Ref.getAndSet(leading, true))) yield* Ref.set(loop, { state: initialState, emitted: new Map() })
      const before = yield* Ref.get(loop)
      const documents = configWatches.flatMap((w) => w.list()).map(asDocument)
      const fingerprint = JSON.stringify([configWatches.flatMap((w) => w.list()).map(configFingerprintOf), secrets.list().map((s) => [s.metadata?.name, s.type, s.data])])
      let state = before.state
      let configFingerprint = before.configFingerprint
      if (fingerprint !== before.configFingerprint) {
        const resolution = resolve(documents, { namespace, secrets: secrets.list().map(secretOf) })
        if (resolution._tag === "Valid") {
          state = applyConfig(state, resolution.config)
          configFingerprint = fingerprint
          yield* Effect.logInfo(`controller: configuration applied (${resolution.config.pools.size} pools)`)
          yield* writeConfigurationState([], false)
        } else {
          yield* Effect.logWarning(`controller: configuration invalid, keeping the last valid one:\n${resolution.errors.map(formatConfigError).join("\n")}`)
          yield* writeConfigurationState(resolution.errors, resolution.errors.every((e) => e.severity === "transient"))
        }
      }
      const labels = new Map(namespaces.list().map((n) => [n.metadata?.name ?? "", n.metadata?.labels ?? {}]))
      const current = services.list()
      const byKey = new Map(current.map((s) => [serviceKey({ namespace: s.metadata?.namespace ?? "", name: s.metadata?.name ?? "" }), s]))
      const { state: next, outcomes } = reconcileAll(state, current.map(serviceView), (ns) => labels.get(ns) ?? {}, options)
      const emitted = new Map(before.emitted)
      for (const outcome of outcomes) {
        const service = byKey.get(outcome.key)
        if (service === undefined) continue
        yield* writeService(service, outcome)
        const eventKey = JSON.stringify([outcome.ingress, outcome.events])
        if (outcome.events.length > 0 && emitted.get(outcome.key) !== eventKey) {
          yield* Effect.forEach(outcome.events, (e) => emit(service, e), { discard: true })
        }
        emitted.set(outcome.key, eventKey)
      }
      for (const key of emitted.keys()) if (!byKey.has(key)) emitted.delete(key)
      if (next.config !== undefined) yield* writePoolStatus(next.config, next)
      yield* Ref.set(loop, { state: next, ...(configFingerprint === undefined ? {} : { configFingerprint }), emitted })
    })

    // Leadership changes are not watch events: a periodic resync catches them (and anything missed).
    const resync = Stream.tick(`${options.resyncMs ?? 2_000} millis`)
    const changes = Stream.mergeAll([...all.map((w) => w.changes), resync], { concurrency: "unbounded" })
    yield* reconcile
    return yield* changes.pipe(
      Stream.debounce(`${options.debounceMs ?? 100} millis`),
      Stream.runForEach(() => reconcile),
      Effect.andThen(Effect.never),
    )
  })
