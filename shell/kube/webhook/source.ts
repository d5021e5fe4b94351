// Where admission reads "the configuration as it is now": the metallb.io objects and the Secrets of the
// MetalLB namespace. The controller passes its informer caches (no request per admission); tests and
// tools can list through the API instead. Secrets are reduced to what resolve() reads (name, type,
// data): typed list items carry neither apiVersion nor kind, and fields such as `immutable` are not part
// of core's Secret schema.
import type { V1Secret } from "@kubernetes/client-node"
import { Effect } from "effect"
import type { Document } from "../../../core/config/decode.ts"
import { configKinds } from "../config-objects.ts"
import { type KubeApi, resources } from "../kube-api.ts"

export interface ClusterObjects {
  /** metallb.io objects of the namespace, as the API returns them (apiVersion and kind set). */
  readonly objects: ReadonlyArray<unknown>
  readonly secrets: ReadonlyArray<V1Secret>
}

/** Current objects; a failure refuses the write being judged (nothing is admitted unjudged). */
export type ObjectSource = Effect.Effect<ClusterObjects, unknown>

/** From in-memory lists, e.g. informer caches: `fromLists(() => watches.flatMap((w) => w.list()), secrets.list)`. */
export const fromLists = (objects: () => ReadonlyArray<unknown>, secrets: () => ReadonlyArray<V1Secret>): ObjectSource =>
  Effect.sync(() => ({ objects: objects(), secrets: secrets() }))

/** Fresh lists through the API (one request per kind): never stale, at the price of latency. */
export const apiObjectSource = (api: KubeApi["Service"], namespace: string): ObjectSource =>
  Effect.gen(function* () {
    const lists = yield* Effect.forEach(configKinds, (kind) => api.list(kind, { namespace }), { concurrency: "unbounded" })
    const secrets = yield* api.list<V1Secret>(resources.secrets, { namespace })
    return { objects: lists.flatMap((l) => l.items), secrets: secrets.items }
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
