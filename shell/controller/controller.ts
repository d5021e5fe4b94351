// The controller process's loop, as a thin driver of core/controller/loop.ts: watches on Services,
// Namespaces, the metallb.io configuration and the Secrets it refers to put their change signals on one
// queue; a pass runs passDelayMs after the first signal of a burst (whatever follows: waiting for quiet
// would starve the controller while Services keep arriving). Nothing else runs a pass but a change of
// leadership, a failed write to retry (both looked at every resyncIntervalMs, at no cost per Service)
// and the safety net every fullPassIntervalMs (the whole caches compared with what was fed, every
// Service recomputed): a settled cluster costs nothing. A pass turns what changed since the last one
// into the machine's inputs, steps it, and carries out its outputs: Service writes and their events go
// to keyed workers (latest per service wins, so the next pass never waits for the API), ConfigurationState
// and pool status are written in the pass, and every write's failure goes back to the machine. All
// decisions are the machine's; every fiber runs in the caller's scope.
import type { KubernetesObject, V1Namespace, V1Node, V1Secret, V1Service } from "@kubernetes/client-node"
import { Effect, Queue, Ref, type Scope, Stream } from "effect"
import { type ConfigError, formatConfigError } from "../../core/config/errors.ts"
import { initialLoopState, type LoopInput, type LoopOutput, type LoopState, type PoolStatusCounts, step } from "../../core/controller/loop.ts"
import { allocatedFromPoolAnnotation, serviceKey } from "../../core/controller/service.ts"
import { fullPassIntervalMs, passDelayMs, resyncIntervalMs, writeConcurrency } from "../../core/controller/settings.ts"
import { poolStats } from "../../core/ipam/allocator.ts"
import { apiErrorText, type KubeApiError } from "../kube/api-error.ts"
import { configKinds, configSourcesOf, ipAddressPools, metallbGroup, nodeLabelsOf, statusKinds } from "../kube/config-objects.ts"
import type { ControllerMetrics } from "../kube/controller-metrics.ts"
import { createEvent } from "../kube/events.ts"
import { watchResource, watchSource, type Watched } from "../kube/informer.ts"
import { KubeApi, resources } from "../kube/kube-api.ts"
import { keyedWorkers } from "../kube/keyed-workers.ts"
import { projectService, serviceView } from "../kube/views.ts"

export interface ControllerOptions {
  /** The namespace metallb-ts runs in (its configuration and Secrets live there). */
  readonly namespace: string
  readonly loadBalancerClass?: string
  /** Reported as the events' reportingInstance. */
  readonly instance: string
  /** How long a pass waits after the first change of a burst (default passDelayMs). */
  readonly debounceMs?: number
  /** Reconcile only while this says so (leader election); always when absent. */
  readonly isLeader?: Effect.Effect<boolean>
  /** Leadership and failed writes are looked at this often (default resyncIntervalMs). */
  readonly resyncMs?: number
  /** The whole caches are compared with what the machine was fed this often (default fullPassIntervalMs). */
  readonly fullResyncMs?: number
  /** Services written at once (default writeConcurrency). */
  readonly writeConcurrency?: number
  readonly metrics?: ControllerMetrics
}

const reporter = (instance: string) => ({ controller: "metallb.io/controller", instance })

/** A service's writes and the events that go with them, done by one worker (latest wins, events kept). */
interface Job {
  readonly writeId: number
  readonly status?: Extract<LoopOutput, { _tag: "WriteServiceStatus" }>
  readonly annotation?: Extract<LoopOutput, { _tag: "WritePoolAnnotation" }>
  readonly events: ReadonlyArray<Extract<LoopOutput, { _tag: "Emit" }>>
}

const mergeJobs = (older: Job, newer: Job): Job => ({
  writeId: Math.max(older.writeId, newer.writeId),
  ...(newer.status ?? older.status ? { status: newer.status ?? older.status } : {}),
  ...(newer.annotation ?? older.annotation ? { annotation: newer.annotation ?? older.annotation } : {}),
  events: [...older.events, ...newer.events],
})

const keyOf = (object: KubernetesObject) => serviceKey({ namespace: object.metadata?.namespace ?? "", name: object.metadata?.name ?? "" })
const refOf = (key: string) => {
  const slash = key.indexOf("/")
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) }
}

const createdMsOf = (service: V1Service): number | undefined => {
  const created = service.metadata?.creationTimestamp as unknown
  if (created === undefined) return undefined
  const ms = new Date(created as string).getTime()
  return Number.isNaN(ms) ? undefined : ms
}

/** What changed in a watch's cache since it was last fed to the machine: upserts by resourceVersion, then deletions. */
const diffCache = <T extends KubernetesObject>(objects: ReadonlyArray<T>, fed: Map<string, string | undefined>, key: (o: T) => string) => {
  const upserted: Array<T> = []
  const present = new Set<string>()
  for (const object of objects) {
    const k = key(object)
    present.add(k)
    const version = object.metadata?.resourceVersion
    if (!fed.has(k) || fed.get(k) !== version) {
      fed.set(k, version)
      upserted.push(object)
    }
  }
  const deleted: Array<string> = []
  for (const k of fed.keys()) {
    if (present.has(k)) continue
    fed.delete(k)
    deleted.push(k)
  }
  return { upserted, deleted }
}

/** Why a pass runs: a watch's change, the safety net ("resync"), leadership changed, a failed write to retry. */
type Signal = "services" | "namespaces" | "config" | "resync" | "leadership" | "retry"

export const runController = (options: ControllerOptions): Effect.Effect<never, never, Scope.Scope | KubeApi> =>
  Effect.gen(function* () {
    const { namespace, metrics } = options
    const api = yield* KubeApi

    // Which services changed, from the watch's own events: a pass looks at those, not at all 5,000.
    const serviceSource = api.informer<V1Service>(resources.services)
    const touchedServices = new Set<string>()
    for (const verb of ["add", "update", "delete"] as const) serviceSource.on(verb, (s) => touchedServices.add(keyOf(s)))
    // The cache keeps of each Service only what the machine reads.
    const services = yield* watchSource("services", serviceSource, { project: projectService })
    const namespaces = yield* watchResource<V1Namespace>("namespaces", resources.namespaces)
    const secrets = yield* watchResource<V1Secret>("secrets", resources.secrets, { namespace })
    // Nodes for the configuration rules that decide on peers' node sets (their names and labels only).
    const nodes = yield* watchResource<V1Node>("nodes", resources.nodes)
    const configWatches: Array<Watched<KubernetesObject>> = []
    for (const kind of configKinds) configWatches.push(yield* watchResource<KubernetesObject>(kind.plural, kind, { namespace }))
    const all: Array<Watched<KubernetesObject>> = [services, namespaces, secrets, nodes, ...configWatches]
    yield* Effect.forEach(all, (w) => w.synced, { discard: true })
    yield* Effect.logInfo(`controller: caches synced (${all.map((w) => w.name).join(", ")})`)

    const machine = yield* Ref.make<LoopState>(initialLoopState(namespace, options.loadBalancerClass === undefined ? {} : { loadBalancerClass: options.loadBalancerClass }))
    /** Inputs produced outside a pass (write failures), fed before the next one. */
    const feedback = yield* Queue.unbounded<LoopInput>()

    /** Every write to the API server goes through here: counted, and logged (not fatal) when it fails. */
    const apiWrite = (what: string, write: Effect.Effect<unknown, KubeApiError, KubeApi>): Effect.Effect<boolean> =>
      write.pipe(
        Effect.provideService(KubeApi, api),
        Effect.as(true),
        Effect.tap(() => Effect.sync(() => metrics?.apiWrite(true))),
        Effect.catch((error) =>
          Effect.sync(() => metrics?.apiWrite(false)).pipe(
            Effect.andThen(Effect.logWarning(`${what} not written: ${apiErrorText(error)}`)),
            Effect.as(false),
          )),
      )

    const emit = (output: Extract<LoopOutput, { _tag: "Emit" }>) =>
      apiWrite(`event ${output.event.reason} for ${output.regarding.kind} ${output.regarding.namespace}/${output.regarding.name}`,
        createEvent(output.regarding, output.event, reporter(options.instance), Date.now()))

    /**
     * A service's status and pool annotation in one merge patch of its status subresource, as MetalLB's one
     * UpdateStatus: the API server's Service status strategy keeps metadata changes and ignores spec, so
     * watchers (the speakers, the user) see one MODIFIED event with the address and its pool together.
     */
    const serviceWrite = (job: Job): object => ({
      ...(job.annotation === undefined ? {} : { metadata: { annotations: { [allocatedFromPoolAnnotation]: job.annotation.pool ?? null } } }),
      ...(job.status === undefined ? {} : { status: { loadBalancer: { ingress: job.status.ingress.map((ip) => ({ ip, ipMode: "VIP" })) } } }),
    })

    const runJob = (key: string, job: Job) =>
      Effect.gen(function* () {
        if (job.annotation !== undefined || job.status !== undefined) {
          const what = [job.status === undefined ? [] : ["status"], job.annotation === undefined ? [] : ["pool annotation"]].flat().join(" and ")
          const written = yield* apiWrite(`${what} of ${key}`, api.patch(resources.services, refOf(key), serviceWrite(job), "status"))
          const first = job.status
          if (written && first?.firstAddress === true && first.createdMs !== undefined) metrics?.addressAssigned((Date.now() - first.createdMs) / 1000)
          if (!written) yield* Queue.offer(feedback, { _tag: "ServiceWriteFailed", key, writeId: job.writeId })
        }
        yield* Effect.forEach(job.events, emit, { discard: true })
      })
    const writes = yield* keyedWorkers<Job>(options.writeConcurrency ?? writeConcurrency, runJob, mergeJobs)
    metrics?.setPendingWrites(writes.size)

    const writeConfigurationState = (errors: ReadonlyArray<ConfigError>, transientOnly: boolean) => {
      const summary = errors.map(formatConfigError).join("\n")
      const condition = {
        type: "configReconcilerValid",
        status: errors.length === 0 ? "True" : "False",
        reason: errors.length === 0 ? "Reconciled" : transientOnly ? "InfraError" : "ConfigurationError",
        message: summary.slice(0, 32_000) || "configuration is valid",
        lastTransitionTime: new Date().toISOString(),
      }
      const kind = statusKinds.configurationStates
      const ref = { namespace, name: "controller" }
      return apiWrite("ConfigurationState", Effect.gen(function* () {
        // Created once; AlreadyExists is the usual answer.
        yield* api.create(kind, namespace, { apiVersion: `${metallbGroup}/${kind.version}`, kind: kind.kind, metadata: { name: ref.name } }).pipe(
          Effect.catchIf((e) => e.status === 409, () => Effect.void),
        )
        yield* api.patch(kind, ref, { status: { result: errors.length === 0 ? "Valid" : "Invalid", errorSummary: summary, conditions: [condition] } }, "status")
      }))
    }

    const writePoolStatus = (name: string, status: PoolStatusCounts) =>
      apiWrite(`status of pool ${name}`, api.patch(ipAddressPools, { namespace, name }, { status }, "status"))

    const publishPools = () =>
      metrics?.setPoolSource(() => {
        const { controller } = Ref.getUnsafe(machine)
        return [...(controller.config?.pools.keys() ?? [])].flatMap((pool) => {
          const stats = poolStats(controller.allocator, pool)
          return stats === undefined ? [] : [{ pool, stats }]
        })
      })

    /** Steps the machine through `inputs`, carrying out each output; inputs an output produces are stepped too. */
    const feed = (inputs: ReadonlyArray<LoopInput>): Effect.Effect<void> =>
      Effect.gen(function* () {
        const queue = [...inputs]
        while (queue.length > 0) {
          const input = queue.shift() as LoopInput
          const startedMs = performance.now()
          const { state, outputs } = step(yield* Ref.get(machine), input)
          yield* Ref.set(machine, state)
          const decidedMs = performance.now() - startedMs
          // One job per service and step (its status, annotation and events together), handed over first.
          const jobs = new Map<string, Job>()
          for (const output of outputs) {
            if (output._tag !== "WriteServiceStatus" && output._tag !== "WritePoolAnnotation" && output._tag !== "Emit") continue
            const job: Job = output._tag === "WriteServiceStatus"
              ? { writeId: output.writeId, status: output, events: [] }
              : output._tag === "WritePoolAnnotation"
              ? { writeId: output.writeId, annotation: output, events: [] }
              : { writeId: 0, events: [output] }
            const older = jobs.get(output.key)
            jobs.set(output.key, older === undefined ? job : mergeJobs(older, job))
          }
          for (const [key, job] of jobs) writes.offer(key, job)
          for (const output of outputs) {
            const more = yield* execute(output, decidedMs)
            if (more === undefined) continue
            queue.push(more)
            // A failed ConfigurationState or pool status write is made again at the next pass: have one.
            if (more._tag === "PoolStatusWriteFailed" || (more._tag === "ConfigReported" && !more.ok)) retryDue = true
          }
        }
      })

    const execute = (output: LoopOutput, decidedMs: number): Effect.Effect<LoopInput | undefined> => {
      switch (output._tag) {
        // Handed to the workers by feed (events behind their service's writes, same key).
        case "WriteServiceStatus":
        case "WritePoolAnnotation":
        case "Emit":
          return Effect.succeed(undefined)
        case "WriteConfigurationState":
          return writeConfigurationState(output.errors, output.transientOnly).pipe(Effect.map((ok): LoopInput => ({ _tag: "ConfigReported", ok })))
        case "WritePoolStatus":
          return writePoolStatus(output.name, output.status).pipe(Effect.map((ok): LoopInput | undefined => (ok ? undefined : { _tag: "PoolStatusWriteFailed", name: output.name })))
        case "DropWrites":
          return Effect.sync(() => writes.clear()).pipe(Effect.as(undefined))
        case "Log":
          return (output.level === "Info" ? Effect.logInfo(output.message) : Effect.logWarning(output.message)).pipe(Effect.as(undefined))
        case "Leading":
          return Effect.sync(() => {
            metrics?.leading(output.leading)
            if (output.leading) publishPools()
            else metrics?.setPoolSource(undefined)
            return undefined
          })
        case "ConfigStatus":
          return Effect.sync(() => {
            metrics?.config({ loaded: output.loaded, stale: output.stale })
            return undefined
          })
        case "PassDone":
          return Effect.sync(() => {
            metrics?.reconciled(decidedMs / 1000, output.services, output.recomputed)
            return undefined
          })
      }
    }

    let retryDue = false
    const fedServices = new Map<string, string | undefined>()
    const fedNamespaces = new Map<string, string | undefined>()
    /** The watches' changes since the last pass, as the machine's inputs. */
    const inputsFor = (signals: ReadonlySet<Signal>, first: boolean): Array<LoopInput> => {
      const inputs: Array<LoopInput> = []
      if (first || signals.has("namespaces") || signals.has("resync")) {
        const { upserted, deleted } = diffCache(namespaces.list() as ReadonlyArray<V1Namespace>, fedNamespaces, (n) => n.metadata?.name ?? "")
        for (const n of upserted) inputs.push({ _tag: "NamespaceChanged", namespace: { name: n.metadata?.name ?? "", labels: n.metadata?.labels ?? {}, resourceVersion: n.metadata?.resourceVersion } })
        for (const name of deleted) inputs.push({ _tag: "NamespaceDeleted", name })
      }
      // The whole cache at the start and in the safety net (whatever an event may have missed), else what the events named.
      let changed: { readonly upserted: ReadonlyArray<V1Service>; readonly deleted: ReadonlyArray<string> } | undefined
      if (first || signals.has("resync")) {
        touchedServices.clear()
        changed = diffCache(services.list() as ReadonlyArray<V1Service>, fedServices, keyOf)
      } else if (signals.has("services")) {
        const upserted: Array<V1Service> = []
        const deleted: Array<string> = []
        for (const key of touchedServices) {
          const { namespace: ns, name } = refOf(key)
          const s = serviceSource.get(name, ns)
          if (s === undefined) {
            if (fedServices.delete(key)) deleted.push(key)
          } else if (!fedServices.has(key) || fedServices.get(key) !== s.metadata?.resourceVersion) {
            fedServices.set(key, s.metadata?.resourceVersion)
            upserted.push(s)
          }
        }
        touchedServices.clear()
        changed = { upserted, deleted }
      }
      if (changed !== undefined) {
        // Deletions first: their addresses are free for the services of this pass.
        for (const key of changed.deleted) inputs.push({ _tag: "ServiceDeleted", key })
        for (const s of changed.upserted) {
          inputs.push({ _tag: "ServiceUpserted", service: { view: serviceView(s), resourceVersion: s.metadata?.resourceVersion, uid: s.metadata?.uid, createdMs: createdMsOf(s) } })
        }
      }
      if (first || signals.has("config") || signals.has("resync")) {
        inputs.push({ _tag: "ConfigChanged", sources: configSourcesOf(configWatches.flatMap((w) => w.list()), secrets.list() as ReadonlyArray<V1Secret>, namespace, nodes.list()) })
      }
      return inputs
    }

    const isLeader = options.isLeader ?? Effect.succeed(true)
    /** Leadership as last fed to the machine. */
    let fedLeading: boolean | undefined
    const pass = (signals: ReadonlySet<Signal>, first: boolean) =>
      Effect.gen(function* () {
        const leading = yield* isLeader
        fedLeading = leading
        retryDue = false
        const failures = yield* Queue.clear(feedback)
        yield* feed([...failures, ...inputsFor(signals, first), { _tag: "LeadershipChanged", leading }, { _tag: "PassDue", nowMs: Date.now() }])
      })

    const signals = yield* Queue.unbounded<Signal>()
    const tagged = (w: Watched<KubernetesObject>, signal: Signal) => Stream.map(w.changes, () => signal)
    // A Node's status changes every few seconds; only a change of names or labels concerns the configuration.
    let nodeLabels = ""
    const nodeLabelsChanged = Stream.filter(nodes.changes, () => {
      const now = JSON.stringify(nodes.list().map(nodeLabelsOf))
      if (now === nodeLabels) return false
      nodeLabels = now
      return true
    })
    const changes = Stream.mergeAll([
      tagged(services, "services"),
      tagged(namespaces, "namespaces"),
      ...[secrets, ...configWatches].map((w) => tagged(w, "config")),
      Stream.map(nodeLabelsChanged, (): Signal => "config"),
    ], { concurrency: "unbounded" })
    yield* changes.pipe(Stream.runForEach((signal) => Queue.offer(signals, signal)), Effect.forkScoped)
    // The tick looks at three things, none of them per Service: leadership (not a watch event), writes
    // that failed, and whether the safety net is due.
    const fullResyncMs = options.fullResyncMs ?? fullPassIntervalMs
    let lastResyncMs = Date.now()
    yield* Effect.gen(function* () {
      yield* Effect.sleep(`${options.resyncMs ?? resyncIntervalMs} millis`)
      if ((yield* isLeader) !== fedLeading) yield* Queue.offer(signals, "leadership")
      if (retryDue || (yield* Queue.size(feedback)) > 0) yield* Queue.offer(signals, "retry")
      if (Date.now() - lastResyncMs >= fullResyncMs) {
        lastResyncMs = Date.now()
        yield* Queue.offer(signals, "resync")
      }
    }).pipe(Effect.forever, Effect.forkScoped)
    yield* pass(new Set(), true)
    return yield* Effect.gen(function* () {
      const firstSignal = yield* Queue.take(signals)
      yield* Effect.sleep(`${options.debounceMs ?? passDelayMs} millis`)
      const burst = new Set<Signal>([firstSignal, ...(yield* Queue.clear(signals))])
      yield* pass(burst, false)
    }).pipe(Effect.forever)
  })
