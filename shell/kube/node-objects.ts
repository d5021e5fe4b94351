// One node's status objects of one kind (ServiceL2Status, ServiceBGPStatus, BGPSessionState), kept in
// step with what the node's machine decided, through KubeApi: one object per key (a service, a peer),
// found by a label selector, created with a generated name, its status written through the status
// subresource, deleted when the key is no longer wanted. Each object is owned by the speaker's pod (as
// MetalLB's are), so the garbage collector removes what a speaker that never got to clean up (SIGKILL,
// node gone) left behind; a new speaker pod on the same node adopts its predecessor's objects instead.
import type { KubernetesObject } from "@kubernetes/client-node"
import { Effect } from "effect"
import { isNotFound, type KubeApiError } from "./api-error.ts"
import type { KubeApi, ResourceType } from "./kube-api.ts"

/** The speaker's pod, owner of the status objects. */
export interface PodOwner {
  readonly name: string
  readonly uid: string
}

export const ownerReferenceOf = (owner: PodOwner) => ({ apiVersion: "v1", kind: "Pod", name: owner.name, uid: owner.uid })

export interface NodeObjectKind {
  readonly resource: ResourceType
  /** Selects this node's objects of the kind. */
  readonly labelSelector: string
  /** The key of a listed object; undefined: not one of ours (another writer's), left alone. */
  readonly keyOf: (labels: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>) => string | undefined
  /** generateName and labels of a new object for the key. */
  readonly newObject: (key: string) => { readonly generateName: string; readonly labels: Readonly<Record<string, string>> }
  /** The label and annotation keys a write sets (compared with what a listed object has). */
  readonly managedMetadata?: ReadonlyArray<string>
}

/** What one object should say: its status, and labels and annotations (on the object, not its status). */
export interface NodeObjectWrite {
  readonly status: Readonly<Record<string, unknown>>
  readonly labels?: Readonly<Record<string, string>>
  readonly annotations?: Readonly<Record<string, string>>
}

interface Existing {
  readonly name: string
  readonly status: string
  /** The managed labels and annotations. */
  readonly metadata: string
}

type Listed = KubernetesObject & { readonly status?: unknown }

export class NodeObjects {
  /** Told of every write to the API server (a 404 on adopt or delete counts as done: the object is gone). */
  onWrite: (ok: boolean) => void = () => undefined
  /**
   * key -> the object and what was last written; loaded from the API on first use, once for every
   * write that waits for it (the speaker writes several objects at once).
   */
  private existing: Effect.Effect<Map<string, Existing>, KubeApiError> | undefined

  private readonly api: KubeApi["Service"]
  private readonly kind: NodeObjectKind
  private readonly namespace: string
  private readonly owner: PodOwner | undefined

  constructor(api: KubeApi["Service"], kind: NodeObjectKind, namespace: string, owner?: PodOwner) {
    this.api = api
    this.kind = kind
    this.namespace = namespace
    this.owner = owner
  }

  private counted<A>(write: Effect.Effect<A, KubeApiError>): Effect.Effect<A, KubeApiError> {
    return write.pipe(Effect.tapError((error) => Effect.sync(() => this.onWrite(isNotFound(error)))), Effect.tap(() => Effect.sync(() => this.onWrite(true))))
  }

  private load(): Effect.Effect<Map<string, Existing>, KubeApiError> {
    this.existing ??= Effect.runSync(Effect.cached(this.fetch()))
    return this.existing
  }

  private fetch(): Effect.Effect<Map<string, Existing>, KubeApiError> {
    const { resource } = this.kind
    return Effect.gen({ self: this }, function* () {
      const list = yield* this.api.list<Listed>(resource, { namespace: this.namespace, labelSelector: this.kind.labelSelector })
      const map = new Map<string, Existing>()
      for (const item of list.items) {
        const key = this.kind.keyOf(item.metadata?.labels ?? {}, item.metadata?.annotations ?? {})
        const name = item.metadata?.name
        if (key === undefined || name === undefined) continue
        const owner = this.owner
        if (owner !== undefined && !(item.metadata?.ownerReferences ?? []).some((r) => r.uid === owner.uid)) {
          // Left by this node's previous speaker pod: adopt it before the collector takes it.
          const adopted = yield* this.counted(this.api.patch(resource, { namespace: this.namespace, name }, { metadata: { ownerReferences: [ownerReferenceOf(owner)] } })).pipe(
            Effect.as(true),
            Effect.catchIf(isNotFound, () => Effect.succeed(false)),
          )
          if (!adopted) continue
        }
        map.set(key, { name, status: JSON.stringify(item.status ?? {}), metadata: this.metadataText(item.metadata?.labels, item.metadata?.annotations) })
      }
      return map
    })
  }

  private metadataText(labels: Readonly<Record<string, string>> | undefined, annotations: Readonly<Record<string, string>> | undefined): string {
    const all: Record<string, string> = { ...labels, ...annotations }
    return JSON.stringify((this.kind.managedMetadata ?? []).map((k) => all[k] ?? null))
  }

  private writeOne(existing: Map<string, Existing>, key: string, write: NodeObjectWrite): Effect.Effect<void, KubeApiError> {
    const { resource } = this.kind
    return Effect.gen({ self: this }, function* () {
      const status = JSON.stringify(write.status)
      const metadata = this.metadataText(write.labels, write.annotations)
      let current = existing.get(key)
      if (current?.status === status && current.metadata === metadata) return
      if (current === undefined) {
        const fresh = this.kind.newObject(key)
        const created = yield* this.counted(this.api.create<KubernetesObject>(resource, this.namespace, {
          apiVersion: `${resource.group}/${resource.version}`,
          kind: resource.kind,
          metadata: {
            generateName: fresh.generateName,
            labels: { ...fresh.labels, ...write.labels },
            ...(write.annotations === undefined ? {} : { annotations: { ...write.annotations } }),
            ...(this.owner === undefined ? {} : { ownerReferences: [ownerReferenceOf(this.owner)] }),
          },
        }))
        current = { name: created.metadata?.name ?? "", status: "", metadata }
      } else if (current.metadata !== metadata) {
        const patch = { ...(write.labels === undefined ? {} : { labels: write.labels }), ...(write.annotations === undefined ? {} : { annotations: write.annotations }) }
        yield* this.counted(this.api.patch(resource, { namespace: this.namespace, name: current.name }, { metadata: patch }))
      }
      if (current.status !== status) {
        yield* this.counted(this.api.patch(resource, { namespace: this.namespace, name: current.name }, { status: write.status }, "status"))
      }
      existing.set(key, { name: current.name, status, metadata })
    })
  }

  private removeOne(existing: Map<string, Existing>, key: string): Effect.Effect<void, KubeApiError> {
    const name = existing.get(key)?.name
    if (name === undefined) return Effect.void
    return this.counted(this.api.remove(this.kind.resource, { namespace: this.namespace, name })).pipe(
      Effect.catchIf(isNotFound, () => Effect.void),
      Effect.tap(() => Effect.sync(() => existing.delete(key))),
    )
  }

  private run(action: (existing: Map<string, Existing>) => Effect.Effect<void, KubeApiError>): Effect.Effect<void, KubeApiError> {
    return this.load().pipe(
      Effect.flatMap(action),
      // Reload from the API next time: our picture of what exists may be wrong.
      Effect.tapError(() => Effect.sync(() => {
        this.existing = undefined
      })),
    )
  }

  /** The keys this node has objects for (adopting a previous pod's), as found in the API. */
  found(): Effect.Effect<ReadonlyArray<string>, KubeApiError> {
    return this.load().pipe(
      Effect.map((existing) => [...existing.keys()]),
      Effect.tapError(() => Effect.sync(() => {
        this.existing = undefined
      })),
    )
  }

  /** This node's object for the key: created or updated. */
  write(key: string, write: NodeObjectWrite): Effect.Effect<void, KubeApiError> {
    return this.run((existing) => this.writeOne(existing, key, write))
  }

  /** This node's object for the key goes. */
  remove(key: string): Effect.Effect<void, KubeApiError> {
    return this.run((existing) => this.removeOne(existing, key))
  }

  /** `desired`: key -> what its object says; the others go. */
  sync(desired: ReadonlyMap<string, NodeObjectWrite>): Effect.Effect<void, KubeApiError> {
    return this.run((existing) =>
      Effect.gen({ self: this }, function* () {
        for (const [key, write] of desired) yield* this.writeOne(existing, key, write)
        for (const key of [...existing.keys()]) if (!desired.has(key)) yield* this.removeOne(existing, key)
      }))
  }
}
