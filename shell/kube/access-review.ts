// Who may scrape /metrics, decided by the API server as kube-rbac-proxy does: a TokenReview says who
// the bearer token belongs to, a SubjectAccessReview whether that user may GET the non-resource URL
// /metrics (the manifests' metallb-system:metrics-reader ClusterRole). Decisions are cached per token
// for a short while so a scrape every 30 s costs the API server two requests a minute at most; API
// errors are not cached.
import { createHash } from "node:crypto"
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from "@kubernetes/client-node"
import type { AccessDecision } from "../metrics/server.ts"

export interface AccessReviewOptions {
  readonly kubeConfig: KubeConfig
  readonly path?: string
  readonly cacheMs?: number
  /** Cached tokens at most (oldest dropped first). */
  readonly cacheSize?: number
}

export const kubeAccessReview = (options: AccessReviewOptions): ((token: string | undefined) => Promise<AccessDecision>) => {
  const authn = options.kubeConfig.makeApiClient(AuthenticationV1Api)
  const authz = options.kubeConfig.makeApiClient(AuthorizationV1Api)
  const path = options.path ?? "/metrics"
  const cacheMs = options.cacheMs ?? 60_000
  const cacheSize = options.cacheSize ?? 256
  const cache = new Map<string, { readonly decision: AccessDecision; readonly untilMs: number }>()

  const review = async (token: string): Promise<AccessDecision> => {
    const tokenReview = await authn.createTokenReview({ body: { spec: { token } } })
    const user = tokenReview.status?.user
    if (tokenReview.status?.authenticated !== true || user?.username === undefined) {
      return { _tag: "Unauthenticated", reason: `token not accepted${tokenReview.status?.error ? `: ${tokenReview.status.error}` : ""}` }
    }
    const access = await authz.createSubjectAccessReview({
      body: {
        spec: {
          user: user.username,
          ...(user.uid === undefined ? {} : { uid: user.uid }),
          ...(user.groups === undefined ? {} : { groups: user.groups }),
          ...(user.extra === undefined ? {} : { extra: user.extra }),
          nonResourceAttributes: { path, verb: "get" },
        },
      },
    })
    return access.status?.allowed === true
      ? { _tag: "Allowed" }
      : { _tag: "Forbidden", reason: `${user.username} may not get ${path}${access.status?.reason ? `: ${access.status.reason}` : ""}` }
  }

  return async (token) => {
    if (token === undefined) return { _tag: "Unauthenticated", reason: "a bearer token is required" }
    const key = createHash("sha256").update(token).digest("hex")
    const now = Date.now()
    const cached = cache.get(key)
    if (cached !== undefined && cached.untilMs > now) return cached.decision
    const decision = await review(token)
    cache.delete(key)
    cache.set(key, { decision, untilMs: now + cacheMs })
    while (cache.size > cacheSize) {
      const oldest = cache.keys().next()
      if (oldest.done === true) break
      cache.delete(oldest.value)
    }
    return decision
  }
}
