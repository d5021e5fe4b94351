// Who may scrape /metrics, decided by the API server as kube-rbac-proxy does: a TokenReview says who
// the bearer token belongs to, a SubjectAccessReview whether that user may GET the non-resource URL
// /metrics (the manifests' metallb-system:metrics-reader ClusterRole). Decisions are cached per token
// for a short while so a scrape every 30 s costs the API server two requests a minute at most; API
// errors (KubeApiError, typed) are not cached.
import { createHash } from "node:crypto"
import type { V1SubjectAccessReview, V1TokenReview } from "@kubernetes/client-node"
import { Effect } from "effect"
import type { AccessDecision } from "../metrics/server.ts"
import type { KubeApiError } from "./api-error.ts"
import { KubeApi, resources } from "./kube-api.ts"

export interface AccessReviewOptions {
  readonly path?: string
  readonly cacheMs?: number
  /** Cached tokens at most (oldest dropped first). */
  readonly cacheSize?: number
}

export type AccessReview = (token: string | undefined) => Effect.Effect<AccessDecision, KubeApiError>

/** The reviewer, asking the API server of the program's KubeApi. */
export const kubeAccessReview = (options: AccessReviewOptions = {}): Effect.Effect<AccessReview, never, KubeApi> =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const path = options.path ?? "/metrics"
    const cacheMs = options.cacheMs ?? 60_000
    const cacheSize = options.cacheSize ?? 256
    const cache = new Map<string, { readonly decision: AccessDecision; readonly untilMs: number }>()

    const review = (token: string): Effect.Effect<AccessDecision, KubeApiError> =>
      Effect.gen(function* () {
        // Reviews are created, never stored: the answer is the returned object's status.
        const tokenReview = yield* api.create<V1TokenReview>(resources.tokenReviews, undefined, {
          apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token },
        })
        const user = tokenReview.status?.user
        if (tokenReview.status?.authenticated !== true || user?.username === undefined) {
          return { _tag: "Unauthenticated", reason: `token not accepted${tokenReview.status?.error ? `: ${tokenReview.status.error}` : ""}` } as const
        }
        const access = yield* api.create<V1SubjectAccessReview>(resources.subjectAccessReviews, undefined, {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user: user.username,
            ...(user.uid === undefined ? {} : { uid: user.uid }),
            ...(user.groups === undefined ? {} : { groups: user.groups }),
            ...(user.extra === undefined ? {} : { extra: user.extra }),
            nonResourceAttributes: { path, verb: "get" },
          },
        })
        return access.status?.allowed === true
          ? { _tag: "Allowed" } as const
          : { _tag: "Forbidden", reason: `${user.username} may not get ${path}${access.status?.reason ? `: ${access.status.reason}` : ""}` } as const
      })

    return (token) =>
      Effect.gen(function* () {
        if (token === undefined) return { _tag: "Unauthenticated", reason: "a bearer token is required" } as const
        const key = createHash("sha256").update(token).digest("hex")
        const now = Date.now()
        const cached = cache.get(key)
        if (cached !== undefined && cached.untilMs > now) return cached.decision
        const decision = yield* review(token)
        cache.delete(key)
        cache.set(key, { decision, untilMs: now + cacheMs })
        while (cache.size > cacheSize) {
          const oldest = cache.keys().next()
          if (oldest.done === true) break
          cache.delete(oldest.value)
        }
        return decision
      })
  })
