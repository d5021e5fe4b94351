// The speaker's per-service status objects (MetalLB's ServiceL2Status and ServiceBGPStatus): one object
// per service this node announces, named l2-/bgp- plus a generated suffix, labelled with the node and
// the service so they can be listed, with status { node, serviceName, serviceNamespace } and the
// interfaces (L2) or peers (BGP). Objects of services this node no longer announces are deleted.
// Written through KubeApi by NodeObjects (owned by the speaker's pod, adopted by its successor).
import type { Effect } from "effect"
import type { KubeApiError } from "./api-error.ts"
import { statusKinds } from "./config-objects.ts"
import type { KubeApi } from "./kube-api.ts"
import { NodeObjects, type PodOwner } from "./node-objects.ts"

export { ownerReferenceOf, type PodOwner } from "./node-objects.ts"

export type StatusKind = "ServiceL2Status" | "ServiceBGPStatus"

export const nodeLabel = "metallb.io/node"
export const serviceNameLabel = "metallb.io/service-name"
export const serviceNamespaceLabel = "metallb.io/service-namespace"

/** Keeps one kind of status object in step with what this node announces. */
export class ServiceStatusWriter {
  private readonly objects: NodeObjects
  private readonly node: string

  constructor(api: KubeApi["Service"], namespace: string, node: string, kind: StatusKind, owner?: PodOwner) {
    this.node = node
    this.objects = new NodeObjects(api, {
      resource: kind === "ServiceL2Status" ? statusKinds.serviceL2Statuses : statusKinds.serviceBGPStatuses,
      labelSelector: `${nodeLabel}=${node}`,
      keyOf: (labels) => `${labels[serviceNamespaceLabel]}/${labels[serviceNameLabel]}`,
      newObject: (key) => {
        const [serviceNamespace = "", serviceName = ""] = key.split("/")
        return {
          generateName: kind === "ServiceL2Status" ? "l2-" : "bgp-",
          labels: { [nodeLabel]: node, [serviceNameLabel]: serviceName, [serviceNamespaceLabel]: serviceNamespace },
        }
      },
    }, namespace, owner)
  }

  /** Told of every write to the API server (a 404 on adopt or delete counts as done: the object is gone). */
  set onWrite(f: (ok: boolean) => void) {
    this.objects.onWrite = f
  }

  private statusOf(key: string, extra: Readonly<Record<string, unknown>>) {
    const [serviceNamespace = "", serviceName = ""] = key.split("/")
    return { status: { node: this.node, serviceName, serviceNamespace, ...extra } }
  }

  /** The services this node has objects for (adopting a previous pod's), as found in the API. */
  found(): Effect.Effect<ReadonlyArray<string>, KubeApiError> {
    return this.objects.found()
  }

  /** This node's object for one service: created or updated to `extra` (interfaces or peers). */
  write(key: string, extra: Readonly<Record<string, unknown>>): Effect.Effect<void, KubeApiError> {
    return this.objects.write(key, this.statusOf(key, extra))
  }

  /** This node's object for one service goes (it announces the service no more). */
  remove(key: string): Effect.Effect<void, KubeApiError> {
    return this.objects.remove(key)
  }

  /** `desired`: service key -> the kind-specific status fields (interfaces or peers); the others go. */
  sync(desired: ReadonlyMap<string, Readonly<Record<string, unknown>>>): Effect.Effect<void, KubeApiError> {
    return this.objects.sync(new Map([...desired].map(([key, extra]) => [key, this.statusOf(key, extra)])))
  }
}

