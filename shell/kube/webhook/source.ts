// Where admission reads "the configuration as it is now": the metallb.io objects and the Secrets of the
// MetalLB namespace, and the Nodes when they can be read. The controller passes its informer caches (no request per admission); tests and
// tools can list through the API instead. Secrets are reduced to what resolve() reads (name, type,
// data): typed list items carry neither apiVersion nor kind, and fields such as `immutable` are not part
// of core's Secret schema.
import type { V1Node, V1Secret } from "@kubernetes/client-node"
import { Effect, Option } from "effect"
import type { Document } from "../../../core/config/decode.ts"
import type { NodeLabels } from "../../../core/config/rules/context.ts"
import { configKinds, nodeLabelsOf } from "../config-objects.ts"
import { type KubeApi, resources } from "../kube-api.ts"

export interface ClusterObjects {
  /** metallb.io objects of the namespace, as the API returns them (apiVersion and kind set). */
  readonly objects: ReadonlyArray<unknown>
  readonly secrets: ReadonlyArray<V1Secret>
  /** The cluster's Nodes when they could be read: rules on peers' node sets then decide on real nodes. */
  readonly nodes?: ReadonlyArray<NodeLabels>
}

/** Current objects; a failure refuses the write being judged (nothing is admitted unjudged). */
export type ObjectSource = Effect.Effect<ClusterObjects, unknown>

/** From in-memory lists, e.g. informer caches: `fromLists(() => watches.flatMap((w) => w.list()), secrets.list)`. */
export const fromLists = (objects: () => ReadonlyArray<unknown>, secrets: () => ReadonlyArray<V1Secret>): ObjectSource =>
  Effect.sync(() => ({ objects: objects(), secrets: secrets() }))

/**
 * Fresh lists through the API (one request per kind): never stale, at the price of latency. Nodes are
 * listed too; where they cannot be (no RBAC for them), the rules judge without them, assuming any two
 * peers' node sets can meet, which refuses more, never less.
 */
export const apiObjectSource = (api: KubeApi["Service"], namespace: string): ObjectSource =>
  Effect.gen(function* () {
    const lists = yield* Effect.forEach(configKinds, (kind) => api.list(kind, { namespace }), { concurrency: "unbounded" })
    const secrets = yield* api.list<V1Secret>(resources.secrets, { namespace })
    const nodes = yield* api.list<V1Node>(resources.nodes).pipe(Effect.map((l) => l.items.map(nodeLabelsOf)), Effect.option)
    return { objects: lists.flatMap((l) => l.items), secrets: secrets.items, ...(Option.isSome(nodes) ? { nodes: nodes.value } : {}) }
  })

export const secretDocument = (secret: V1Secret, namespace: string): Document => ({
  value: {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: secret.metadata?.name ?? "", namespace: secret.metadata?.namespace ?? namespace },
    ...(secret.type === undefined ? {} : { type: secret.type }),
    ...(secret.data === undefined ? {} : { data: secret.data }),
  },
})
