// The Kubernetes API as a service: every read, write and watch of the controller, the speaker and their
// helpers goes through `KubeApi`, with typed failures (KubeApiError: operation, object, HTTP status,
// reason). `layer` talks to the API server through our own small HTTP client (shell/kube/http: keep-alive
// pools, paged lists, list+watch informers with bookmarks), so a process never loads
// @kubernetes/client-node's generated API classes and model graph (~80 MiB of RSS); only its types are
// used here. `layerTest` is an in-memory API server (resourceVersions, generateName, merge patches, the
// status subresource, watches) for unit tests of the drivers, with failures that can be injected.
//
// Objects are addressed by a ResourceType (group, version, plural) and a namespace/name, so one small
// surface covers core objects, events, leases, reviews and the metallb.io custom resources.
import type { Informer, KubeConfig, KubernetesObject, ObjectCache } from "@kubernetes/client-node"
import { Context, Effect, Layer } from "effect"
import { KubeApiError } from "./api-error.ts"
import type { ClusterAccess } from "./http/cluster-access.ts"
import { KubeHttp } from "./http/client.ts"
import { apiError, type Target } from "./http/errors.ts"
import { clusterAccessFromText } from "./http/kubeconfig.ts"
import { collectionPathOf, listAll, listWatch } from "./http/list-watch.ts"

export interface ResourceType {
  /** "" for the core group. */
  readonly group: string
  readonly version: string
  readonly plural: string
  readonly kind: string
  readonly namespaced: boolean
}

const core = (plural: string, kind: string, namespaced = true): ResourceType => ({ group: "", version: "v1", plural, kind, namespaced })

export const resources = {
  services: core("services", "Service"),
  namespaces: core("namespaces", "Namespace", false),
  secrets: core("secrets", "Secret"),
  nodes: core("nodes", "Node", false),
  pods: core("pods", "Pod"),
  endpointSlices: { group: "discovery.k8s.io", version: "v1", plural: "endpointslices", kind: "EndpointSlice", namespaced: true },
  events: { group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", namespaced: true },
  leases: { group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true },
  tokenReviews: { group: "authentication.k8s.io", version: "v1", plural: "tokenreviews", kind: "TokenReview", namespaced: false },
  subjectAccessReviews: { group: "authorization.k8s.io", version: "v1", plural: "subjectaccessreviews", kind: "SubjectAccessReview", namespaced: false },
  validatingWebhookConfigurations: {
    group: "admissionregistration.k8s.io",
    version: "v1",
    plural: "validatingwebhookconfigurations",
    kind: "ValidatingWebhookConfiguration",
    namespaced: false,
  },
  customResourceDefinitions: { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", kind: "CustomResourceDefinition", namespaced: false },
} as const satisfies Record<string, ResourceType>

export interface ObjectRef {
  /** Absent for cluster-scoped objects. */
  readonly namespace?: string | undefined
  readonly name: string
}

export interface ListOptions {
  /** Absent: every namespace (or a cluster-scoped resource). */
  readonly namespace?: string | undefined
  readonly labelSelector?: string | undefined
}

export interface JsonPatchOperation {
  readonly op: "add" | "replace" | "remove" | "test"
  /** A JSON pointer: /spec/conversion/webhook/clientConfig/caBundle, /webhooks/0/name. */
  readonly path: string
  readonly value?: unknown
}

export interface KubeList<T> {
  readonly items: ReadonlyArray<T>
  readonly resourceVersion?: string | undefined
}

/** A list+watch with its cache, as client-node's informer offers it (shell/kube/informer.ts wraps it). */
export type WatchSource<T extends KubernetesObject> = Informer<T> & ObjectCache<T>

export class KubeApi extends Context.Service<KubeApi, {
  readonly list: <T extends KubernetesObject>(type: ResourceType, options?: ListOptions) => Effect.Effect<KubeList<T>, KubeApiError>
  readonly get: <T extends KubernetesObject>(type: ResourceType, ref: ObjectRef) => Effect.Effect<T, KubeApiError>
  /** `body.metadata.name` or `generateName` names the object; `namespace` is required for namespaced types. */
  readonly create: <T extends KubernetesObject>(type: ResourceType, namespace: string | undefined, body: T) => Effect.Effect<T, KubeApiError>
  /** Optimistic concurrency: a body with a stale metadata.resourceVersion fails with 409 Conflict. */
  readonly replace: <T extends KubernetesObject>(type: ResourceType, ref: ObjectRef, body: T) => Effect.Effect<T, KubeApiError>
  /** JSON merge patch (RFC 7386) of the object, or of its status subresource. */
  readonly patch: <T extends KubernetesObject>(type: ResourceType, ref: ObjectRef, mergePatch: object, subresource?: "status") => Effect.Effect<T, KubeApiError>
  /** JSON patch (RFC 6902): add, replace, remove and test (a failed test is 422 Invalid). */
  readonly patchJson: <T extends KubernetesObject>(type: ResourceType, ref: ObjectRef, operations: ReadonlyArray<JsonPatchOperation>) => Effect.Effect<T, KubeApiError>
  readonly remove: (type: ResourceType, ref: ObjectRef) => Effect.Effect<void, KubeApiError>
  /** A list+watch of `type`; not started (the caller starts and stops it). */
  readonly informer: <T extends KubernetesObject>(type: ResourceType, options?: ListOptions) => WatchSource<T>
}>()("metallb-ts/KubeApi") {
  /** Over the settings of shell/kube/kube-config.ts's loadKubeConfig, or a client-node KubeConfig (tests). */
  static readonly layer = (access: ClusterAccess | KubeConfig): Layer.Layer<KubeApi> => Layer.succeed(KubeApi, makeKubeApi(access))
  static readonly layerTest = (fake: FakeKube = new FakeKube()): Layer.Layer<KubeApi> => Layer.succeed(KubeApi, fake.api)
}

export const resourceName = (type: ResourceType) => (type.group === "" ? type.plural : `${type.plural}.${type.group}`)
const objectText = (ref: ObjectRef) => (ref.namespace === undefined ? ref.name : `${ref.namespace}/${ref.name}`)
const listText = (options: ListOptions) => `${options.namespace === undefined ? "*" : `${options.namespace}/*`}${options.labelSelector ? ` (${options.labelSelector})` : ""}`

/** The path of a collection, as the watch needs it. */
export const collectionPath = collectionPathOf

/** A MicroTime (events.k8s.io eventTime, Lease renewTime): RFC 3339 with exactly six fraction digits. */
export const microTime = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z")

/** The settings of a client-node KubeConfig (the testbeds make those), read by our own kubeconfig code. */
const accessOf = (source: ClusterAccess | KubeConfig): ClusterAccess =>
  "exportConfig" in source ? clusterAccessFromText(source.exportConfig(), `${process.cwd()}/(client-node KubeConfig)`) : source

const objectPath = (type: ResourceType, ref: ObjectRef, subresource?: "status") =>
  `${collectionPathOf(type, type.namespaced ? (ref.namespace ?? "default") : undefined)}/${encodeURIComponent(ref.name)}${subresource === undefined ? "" : `/${subresource}`}`

/** The service over a cluster's settings, for callers outside a layer (KubeApi.layer is the usual way in). */
export const makeKubeApi = (source: ClusterAccess | KubeConfig): KubeApi["Service"] => {
  const http = new KubeHttp(accessOf(source))
  const send = <A>(operation: string, target: Target, method: string, path: string, body?: unknown, contentType?: string): Effect.Effect<A, KubeApiError> =>
    Effect.tryPromise({
      try: async (signal) => {
        const result = await http.request(method, path, { body, ...(contentType === undefined ? {} : { contentType }), signal })
        if (result.status < 200 || result.status >= 300) throw apiError(operation, target, result)
        return (result.text === "" ? undefined : JSON.parse(result.text)) as A
      },
      catch: (error) => apiError(operation, target, error),
    })
  const at = (type: ResourceType, ref: ObjectRef): Target => ({ type, object: objectText(ref) })

  return KubeApi.of({
    list: <T extends KubernetesObject>(type: ResourceType, options: ListOptions = {}) =>
      Effect.tryPromise({
        try: (signal) => listAll<T>(http, type, options, signal),
        catch: (error) => apiError("list", { type, object: listText(options) }, error),
      }),
    get: <T extends KubernetesObject>(type: ResourceType, ref: ObjectRef) => send<T>("get", at(type, ref), "GET", objectPath(type, ref)),
    create: <T extends KubernetesObject>(type: ResourceType, namespace: string | undefined, body: T) => {
      const object = `${namespace === undefined ? "" : `${namespace}/`}${body.metadata?.name ?? `${body.metadata?.generateName ?? ""}*`}`
      return send<T>("create", { type, object }, "POST", collectionPathOf(type, type.namespaced ? (namespace ?? "default") : undefined), body)
    },
    replace: <T extends KubernetesObject>(type: ResourceType, ref: ObjectRef, body: T) => send<T>("replace", at(type, ref), "PUT", objectPath(type, ref), body),
    patch: <T extends KubernetesObject>(type: ResourceType, ref: ObjectRef, body: object, subresource?: "status") =>
      send<T>(subresource === "status" ? "patch status" : "patch", at(type, ref), "PATCH", objectPath(type, ref, subresource), body, "application/merge-patch+json"),
    patchJson: <T extends KubernetesObject>(type: ResourceType, ref: ObjectRef, operations: ReadonlyArray<JsonPatchOperation>) =>
      send<T>("patch", at(type, ref), "PATCH", objectPath(type, ref), operations, "application/json-patch+json"),
    remove: (type: ResourceType, ref: ObjectRef) => send<unknown>("delete", at(type, ref), "DELETE", objectPath(type, ref)).pipe(Effect.asVoid),
    informer: <T extends KubernetesObject>(type: ResourceType, options: ListOptions = {}) => listWatch<T>(http, type, options),
  })
}

// ---------------------------------------------------------------------------------------------------
// The in-memory API server behind layerTest

type Handler = (object: KubernetesObject) => void
type ErrorHandler = (error?: unknown) => void

/** RFC 7386: objects merge key by key, null removes, anything else replaces. */
export const applyMergePatch = (target: unknown, patch: unknown): unknown => {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch
  const out: Record<string, unknown> = typeof target === "object" && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key]
    else out[key] = applyMergePatch(out[key], value)
  }
  return out
}

/** RFC 6902 for the operations KubeApi offers; a failed test or a missing path is an error message. */
export const applyJsonPatch = (target: unknown, operations: ReadonlyArray<JsonPatchOperation>): { readonly value: unknown } | { readonly error: string } => {
  const document: unknown = structuredClone(target)
  for (const operation of operations) {
    const parts = operation.path.split("/").slice(1).map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"))
    const last = parts.pop()
    if (last === undefined) return { error: `${operation.op} ${operation.path}: the root cannot be patched` }
    let parent: unknown = document
    for (const part of parts) {
      parent = typeof parent === "object" && parent !== null ? (parent as Record<string, unknown>)[part] : undefined
      if (parent === undefined) return { error: `${operation.op} ${operation.path}: no ${part}` }
    }
    if (typeof parent !== "object" || parent === null) return { error: `${operation.op} ${operation.path}: not an object or array` }
    const container = parent as Record<string, unknown>
    const exists = Object.prototype.hasOwnProperty.call(container, last)
    switch (operation.op) {
      case "test":
        if (JSON.stringify(container[last]) !== JSON.stringify(operation.value)) return { error: `test ${operation.path}: ${JSON.stringify(container[last])} is not ${JSON.stringify(operation.value)}` }
        break
      case "remove":
        if (!exists) return { error: `remove ${operation.path}: nothing there` }
        if (Array.isArray(container)) container.splice(Number(last), 1)
        else delete container[last]
        break
      case "replace":
        if (!exists) return { error: `replace ${operation.path}: nothing there` }
        container[last] = operation.value
        break
      case "add":
        if (Array.isArray(container) && last !== "-") container.splice(Number(last), 0, operation.value)
        else if (Array.isArray(container)) container.push(operation.value)
        else container[last] = operation.value
        break
    }
  }
  return { value: document }
}

const matches = (object: KubernetesObject, options: ListOptions) => {
  if (options.namespace !== undefined && object.metadata?.namespace !== options.namespace) return false
  if (options.labelSelector === undefined || options.labelSelector === "") return true
  const labels = object.metadata?.labels ?? {}
  // Equality selectors (a=b,c=d) are all the callers use.
  return options.labelSelector.split(",").every((term) => {
    const [key = "", value = ""] = term.split("=")
    return labels[key.trim()] === value.trim()
  })
}

const copy = <T>(value: T): T => structuredClone(value)

/** An operation the fake fails on purpose: `times` calls of `operation` on `resource` (plural) fail with `status`. */
export interface InjectedFailure {
  readonly operation: string
  readonly resource: string
  readonly status: number
  readonly reason: string
  times: number
}

/** An in-memory API server for tests: objects per resource, watches, a log of writes, injected failures. */
export class FakeKube {
  private readonly stores = new Map<string, Map<string, KubernetesObject>>()
  private readonly watchers = new Set<{ readonly type: ResourceType; readonly options: ListOptions; readonly emit: (verb: "add" | "update" | "delete", o: KubernetesObject) => void }>()
  private version = 0
  private failures: Array<InjectedFailure> = []
  /** Every successful write, in order: operation, resource (plural) and namespace/name. */
  readonly writes: Array<{ readonly operation: string; readonly resource: string; readonly object: string }> = []

  private store(type: ResourceType) {
    const key = resourceName(type)
    let store = this.stores.get(key)
    if (store === undefined) {
      store = new Map()
      this.stores.set(key, store)
    }
    return store
  }

  /** The next `times` calls of `operation` on `resource` fail with this status (e.g. 500 InternalError). */
  failNext(operation: string, resource: string, status = 500, reason = "InternalError", times = 1): void {
    this.failures.push({ operation, resource, status, reason, times })
  }

  /** Injected failures not yet used up. */
  failuresLeft(): number {
    return this.failures.reduce((sum, f) => sum + f.times, 0)
  }

  /** The objects of a type (in a namespace), as stored. */
  objects<T extends KubernetesObject>(type: ResourceType, namespace?: string): ReadonlyArray<T> {
    return [...this.store(type).values()].filter((o) => matches(o, { namespace })).map((o) => copy(o) as T)
  }

  private injected(operation: string, type: ResourceType, object: string): KubeApiError | undefined {
    const failure = this.failures.find((f) => f.operation === operation && f.resource === type.plural && f.times > 0)
    if (failure === undefined) return undefined
    failure.times -= 1
    this.failures = this.failures.filter((f) => f.times > 0)
    return new KubeApiError({ operation, resource: resourceName(type), object, status: failure.status, reason: failure.reason, message: `injected ${failure.reason}` })
  }

  private notify(type: ResourceType, verb: "add" | "update" | "delete", object: KubernetesObject) {
    for (const w of this.watchers) if (resourceName(w.type) === resourceName(type) && matches(object, w.options)) w.emit(verb, copy(object))
  }

  private run<A>(operation: string, type: ResourceType, object: string, body: () => A | KubeApiError): Effect.Effect<A, KubeApiError> {
    return Effect.suspend(() => {
      const failure = this.injected(operation, type, object)
      if (failure !== undefined) return Effect.fail(failure)
      const result = body()
      if (result instanceof KubeApiError) return Effect.fail(result)
      if (operation !== "list" && operation !== "get") this.writes.push({ operation, resource: type.plural, object })
      return Effect.succeed(result)
    })
  }

  private missing(operation: string, type: ResourceType, ref: ObjectRef) {
    return new KubeApiError({ operation, resource: resourceName(type), object: objectText(ref), status: 404, reason: "NotFound", message: `${type.plural} "${ref.name}" not found` })
  }

  private bump(object: KubernetesObject): KubernetesObject {
    this.version += 1
    return { ...object, metadata: { ...object.metadata, resourceVersion: String(this.version) } }
  }

  /** Store an object directly (as another client would), notifying watches. */
  put<T extends KubernetesObject>(type: ResourceType, object: T): T {
    const store = this.store(type)
    const key = objectText({ namespace: object.metadata?.namespace, name: object.metadata?.name ?? "" })
    const existed = store.has(key)
    const stored = this.bump({
      ...object,
      apiVersion: object.apiVersion ?? (type.group === "" ? type.version : `${type.group}/${type.version}`),
      kind: object.kind ?? type.kind,
      metadata: { uid: `uid-${key}`, creationTimestamp: new Date(0) as never, ...object.metadata },
    })
    store.set(key, stored)
    this.notify(type, existed ? "update" : "add", stored)
    return copy(stored) as T
  }

  /** Delete an object directly (as another client would), notifying watches. */
  drop(type: ResourceType, ref: ObjectRef): void {
    const store = this.store(type)
    const object = store.get(objectText(ref))
    if (object === undefined) return
    store.delete(objectText(ref))
    this.notify(type, "delete", object)
  }

  readonly api: KubeApi["Service"] = KubeApi.of({
    list: <T extends KubernetesObject>(type: ResourceType, options: ListOptions = {}) =>
      this.run("list", type, listText(options), () => ({ items: this.objects<T>(type).filter((o) => matches(o, options)), resourceVersion: String(this.version) })),
    get: <T extends KubernetesObject>(type: ResourceType, ref: ObjectRef) =>
      this.run("get", type, objectText(ref), () => {
        const found = this.store(type).get(objectText(ref))
        return found === undefined ? this.missing("get", type, ref) : (copy(found) as T)
      }),
    create: <T extends KubernetesObject>(type: ResourceType, namespace: string | undefined, body: T) =>
      this.run("create", type, `${namespace ?? ""}/${body.metadata?.name ?? "*"}`, () => {
        const name = body.metadata?.name ?? `${body.metadata?.generateName ?? ""}${(this.version + 1).toString(36)}`
        const ref = { namespace: type.namespaced ? namespace : undefined, name }
        if (this.store(type).has(objectText(ref))) {
          return new KubeApiError({ operation: "create", resource: resourceName(type), object: objectText(ref), status: 409, reason: "AlreadyExists", message: `${type.plural} "${name}" already exists` })
        }
        const { status: _status, ...withoutStatus } = body as T & { status?: unknown }
        // Reviews are answered, not stored: the status says what the fake decides (allowed/authenticated: false).
        if (type.plural === "tokenreviews" || type.plural === "subjectaccessreviews") return copy(body)
        return this.put(type, { ...withoutStatus, metadata: { ...body.metadata, name, ...(ref.namespace === undefined ? {} : { namespace: ref.namespace }) } } as T)
      }),
    replace: <T extends KubernetesObject>(type: ResourceType, ref: ObjectRef, body: T) =>
      this.run("replace", type, objectText(ref), () => {
        const found = this.store(type).get(objectText(ref))
        if (found === undefined) return this.missing("replace", type, ref)
        const expected = body.metadata?.resourceVersion
        if (expected !== undefined && expected !== found.metadata?.resourceVersion) {
          return new KubeApiError({ operation: "replace", resource: resourceName(type), object: objectText(ref), status: 409, reason: "Conflict", message: "the object has been modified" })
        }
        return this.put(type, { ...body, metadata: { ...found.metadata, ...body.metadata, name: ref.name, namespace: ref.namespace } } as T)
      }),
    patch: <T extends KubernetesObject>(type: ResourceType, ref: ObjectRef, mergePatch: object, subresource?: "status") =>
      this.run(subresource === "status" ? "patch status" : "patch", type, objectText(ref), () => {
        const found = this.store(type).get(objectText(ref))
        if (found === undefined) return this.missing("patch", type, ref)
        const { status, ...rest } = mergePatch as { status?: unknown; metadata?: unknown }
        // As the API server does: the object's endpoint ignores status, the status endpoint only takes status;
        // a Service's status endpoint also takes metadata (its status strategy resets only spec; checked on
        // kube-apiserver in spec/shell/kube/kube-api.apiserver.test.ts).
        const effective = subresource !== "status" ? rest : type.plural === "services" && rest.metadata !== undefined ? { status, metadata: rest.metadata } : { status }
        return this.put(type, applyMergePatch(found, effective) as T)
      }),
    patchJson: <T extends KubernetesObject>(type: ResourceType, ref: ObjectRef, operations: ReadonlyArray<JsonPatchOperation>) =>
      this.run("patch", type, objectText(ref), () => {
        const found = this.store(type).get(objectText(ref))
        if (found === undefined) return this.missing("patch", type, ref)
        const patched = applyJsonPatch(found, operations)
        if ("error" in patched) {
          return new KubeApiError({ operation: "patch", resource: resourceName(type), object: objectText(ref), status: 422, reason: "Invalid", message: patched.error })
        }
        return this.put(type, patched.value as T)
      }),
    remove: (type: ResourceType, ref: ObjectRef) =>
      this.run("delete", type, objectText(ref), () => {
        if (!this.store(type).has(objectText(ref))) return this.missing("delete", type, ref)
        this.drop(type, ref)
        return undefined
      }),
    informer: <T extends KubernetesObject>(type: ResourceType, options: ListOptions = {}) => this.informer<T>(type, options),
  })

  private informer<T extends KubernetesObject>(type: ResourceType, options: ListOptions): WatchSource<T> {
    const handlers = new Map<string, Set<Handler | ErrorHandler>>()
    const cache = new Map<string, T>()
    const fire = (verb: string, value?: unknown) => {
      for (const h of handlers.get(verb) ?? []) (h as (v: unknown) => void)(value)
    }
    const watcher = {
      type,
      options,
      emit: (verb: "add" | "update" | "delete", o: KubernetesObject) => {
        const key = objectText({ namespace: o.metadata?.namespace, name: o.metadata?.name ?? "" })
        if (verb === "delete") cache.delete(key)
        else cache.set(key, o as T)
        fire(verb, o)
        fire("change", o)
      },
    }
    const source = {
      on: (verb: string, cb: Handler | ErrorHandler) => {
        const set = handlers.get(verb) ?? new Set()
        set.add(cb)
        handlers.set(verb, set)
      },
      off: (verb: string, cb: Handler | ErrorHandler) => {
        handlers.get(verb)?.delete(cb)
      },
      start: async () => {
        const failure = this.injected("list", type, listText(options))
        if (failure !== undefined) {
          fire("error", failure)
          throw failure
        }
        cache.clear()
        for (const o of this.objects<T>(type).filter((o) => matches(o, options))) {
          cache.set(objectText({ namespace: o.metadata?.namespace, name: o.metadata?.name ?? "" }), o)
          fire("add", o)
        }
        this.watchers.add(watcher)
      },
      stop: async () => {
        this.watchers.delete(watcher)
      },
      list: (namespace?: string) => [...cache.values()].filter((o) => namespace === undefined || o.metadata?.namespace === namespace),
      get: (name: string, namespace?: string) => cache.get(objectText({ namespace, name })),
    }
    return source as unknown as WatchSource<T>
  }
}
