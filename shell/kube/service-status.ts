// The speaker's per-service status objects (MetalLB's ServiceL2Status and ServiceBGPStatus): one object
// per service this node announces, named l2-/bgp- plus a generated suffix, labelled with the node and
// the service so they can be listed, with status { node, serviceName, serviceNamespace } and the
// interfaces (L2) or peers (BGP). Objects of services this node no longer announces are deleted.
// Each object is owned by the speaker's pod (as MetalLB's are), so the garbage collector removes what a
// speaker that never got to clean up (SIGKILL, node gone) left behind; a new speaker pod on the same
// node adopts its predecessor's objects instead of leaving them to be collected under it.
import { type CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node"
import { Effect } from "effect"

const group = "metallb.io"
const version = "v1beta1"
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch)

export type StatusKind = "ServiceL2Status" | "ServiceBGPStatus"

const plural = (kind: StatusKind) => (kind === "ServiceL2Status" ? "servicel2statuses" : "servicebgpstatuses")
const prefix = (kind: StatusKind) => (kind === "ServiceL2Status" ? "l2-" : "bgp-")

export const nodeLabel = "metallb.io/node"
export const serviceNameLabel = "metallb.io/service-name"
export const serviceNamespaceLabel = "metallb.io/service-namespace"

/** The speaker's pod, owner of the status objects. */
export interface PodOwner {
  readonly name: string
  readonly uid: string
}

export const ownerReferenceOf = (owner: PodOwner) => ({ apiVersion: "v1", kind: "Pod", name: owner.name, uid: owner.uid })

interface Existing {
  readonly name: string
  readonly status: string
}

/** Keeps one kind of status object in step with what this node announces. */
export class ServiceStatusWriter {
  private readonly api: CustomObjectsApi
  private readonly namespace: string
  private readonly node: string
  private readonly kind: StatusKind
  private readonly owner: PodOwner | undefined
  /** Told of every write to the API server (a 404 on adopt or delete counts as done: the object is gone). */
  onWrite: (ok: boolean) => void = () => undefined
  /**
   * service key -> the object and the status last written; loaded from the API on first use, once for
   * every write that waits for it (the speaker writes several services at once).
   */
  private existing: Promise<Map<string, Existing>> | undefined

  constructor(api: CustomObjectsApi, namespace: string, node: string, kind: StatusKind, owner?: PodOwner) {
    this.api = api
    this.namespace = namespace
    this.node = node
    this.kind = kind
    this.owner = owner
  }

  private counted<A>(write: Promise<A>): Promise<A> {
    return write.then((value) => {
      this.onWrite(true)
      return value
    }, (error: unknown) => {
      this.onWrite((error as { code?: number }).code === 404)
      throw error
    })
  }

  private load(): Promise<Map<string, Existing>> {
    this.existing ??= this.fetch().catch((error: unknown) => {
      this.existing = undefined
      throw error
    })
    return this.existing
  }

  private async fetch(): Promise<Map<string, Existing>> {
    const list = (await this.api.listNamespacedCustomObject({
      group, version, namespace: this.namespace, plural: plural(this.kind), labelSelector: `${nodeLabel}=${this.node}`,
    })) as { items?: Array<{ metadata?: { name?: string; labels?: Record<string, string>; ownerReferences?: Array<{ uid?: string }> }; status?: unknown }> }
    const map = new Map<string, Existing>()
    for (const item of list.items ?? []) {
      const labels = item.metadata?.labels ?? {}
      const key = `${labels[serviceNamespaceLabel]}/${labels[serviceNameLabel]}`
      const name = item.metadata?.name
      if (name === undefined) continue
      if (this.owner !== undefined && !(item.metadata?.ownerReferences ?? []).some((r) => r.uid === this.owner?.uid)) {
        // Left by this node's previous speaker pod: adopt it before the collector takes it.
        const adopted = await this.counted(this.api.patchNamespacedCustomObject(
          { group, version, namespace: this.namespace, plural: plural(this.kind), name, body: { metadata: { ownerReferences: [ownerReferenceOf(this.owner)] } } },
          mergePatch,
        )).then(() => true, (error: unknown) => {
          if ((error as { code?: number }).code === 404) return false
          throw error
        })
        if (!adopted) continue
      }
      map.set(key, { name, status: JSON.stringify(item.status ?? {}) })
    }
    return map
  }

  private async writeOne(existing: Map<string, Existing>, key: string, extra: Readonly<Record<string, unknown>>): Promise<void> {
    const [serviceNamespace = "", serviceName = ""] = key.split("/")
    const status = { node: this.node, serviceName, serviceNamespace, ...extra }
    const text = JSON.stringify(status)
    let current = existing.get(key)
    if (current?.status === text) return
    if (current === undefined) {
      const created = (await this.counted(this.api.createNamespacedCustomObject({
        group, version, namespace: this.namespace, plural: plural(this.kind),
        body: {
          apiVersion: `${group}/${version}`,
          kind: this.kind,
          metadata: {
            generateName: prefix(this.kind),
            ...(this.owner === undefined ? {} : { ownerReferences: [ownerReferenceOf(this.owner)] }),
            labels: { [nodeLabel]: this.node, [serviceNameLabel]: serviceName, [serviceNamespaceLabel]: serviceNamespace },
          },
        },
      }))) as { metadata?: { name?: string } }
      current = { name: created.metadata?.name ?? "", status: "" }
    }
    await this.counted(this.api.patchNamespacedCustomObjectStatus(
      { group, version, namespace: this.namespace, plural: plural(this.kind), name: current.name, body: { status } },
      mergePatch,
    ))
    existing.set(key, { name: current.name, status: text })
  }

  private async removeOne(existing: Map<string, Existing>, key: string): Promise<void> {
    const name = existing.get(key)?.name
    if (name === undefined) return
    await this.counted(this.api.deleteNamespacedCustomObject({ group, version, namespace: this.namespace, plural: plural(this.kind), name })).catch((error: unknown) => {
      if ((error as { code?: number }).code !== 404) throw error
    })
    existing.delete(key)
  }

  private run(action: (existing: Map<string, Existing>) => Promise<void>): Effect.Effect<void, unknown> {
    return Effect.tryPromise({
      try: async () => action(await this.load()),
      catch: (error) => {
        // Reload from the API next time: our picture of what exists may be wrong.
        this.existing = undefined
        return error
      },
    })
  }

  /** The services this node has objects for (adopting a previous pod's), as found in the API. */
  found(): Effect.Effect<ReadonlyArray<string>, unknown> {
    return Effect.tryPromise({ try: async () => [...(await this.load()).keys()], catch: (error) => error })
  }

  /** This node's object for one service: created or updated to `extra` (interfaces or peers). */
  write(key: string, extra: Readonly<Record<string, unknown>>): Effect.Effect<void, unknown> {
    return this.run((existing) => this.writeOne(existing, key, extra))
  }

  /** This node's object for one service goes (it announces the service no more). */
  remove(key: string): Effect.Effect<void, unknown> {
    return this.run((existing) => this.removeOne(existing, key))
  }

  /** `desired`: service key -> the kind-specific status fields (interfaces or peers); the others go. */
  sync(desired: ReadonlyMap<string, Readonly<Record<string, unknown>>>): Effect.Effect<void, unknown> {
    return this.run(async (existing) => {
      for (const [key, extra] of desired) await this.writeOne(existing, key, extra)
      for (const key of [...existing.keys()]) if (!desired.has(key)) await this.removeOne(existing, key)
    })
  }
}
