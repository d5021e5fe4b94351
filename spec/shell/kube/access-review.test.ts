// The /metrics access review over KubeApi: who the token is (TokenReview), whether that user may GET
// /metrics (SubjectAccessReview), decisions cached per token, API failures typed and not cached.
import type { KubernetesObject, V1SubjectAccessReview, V1TokenReview } from "@kubernetes/client-node"
import { Effect, Exit, Layer, Result } from "effect"
import { describe, expect, it } from "vitest"
import { kubeAccessReview } from "../../../shell/kube/access-review.ts"
import { KubeApiError } from "../../../shell/kube/api-error.ts"
import { FakeKube, KubeApi, type ResourceType } from "../../../shell/kube/kube-api.ts"

/** An API server that knows two tokens ("reader", "stranger") and lets only the user reader get /metrics. */
const reviewingApi = () => {
  const fake = new FakeKube()
  const calls: Array<string> = []
  let failNext = false
  const create = <T extends KubernetesObject>(type: ResourceType, namespace: string | undefined, body: T): Effect.Effect<T, KubeApiError> => {
    calls.push(type.plural)
    if (failNext) {
      failNext = false
      return Effect.fail(new KubeApiError({ operation: "create", resource: type.plural, object: "", status: 503, reason: "ServiceUnavailable", message: "down" }))
    }
    if (type.plural === "tokenreviews") {
      const token = (body as unknown as V1TokenReview).spec.token
      const known = token === "reader-token" ? "reader" : token === "stranger-token" ? "stranger" : undefined
      return Effect.succeed({ ...body, status: known === undefined ? { authenticated: false, error: "invalid bearer token" } : { authenticated: true, user: { username: known, groups: ["g"] } } } as T)
    }
    if (type.plural === "subjectaccessreviews") {
      const spec = (body as unknown as V1SubjectAccessReview).spec
      const allowed = spec.user === "reader" && spec.nonResourceAttributes?.path === "/metrics" && spec.nonResourceAttributes.verb === "get"
      return Effect.succeed({ ...body, status: { allowed, ...(allowed ? {} : { reason: "no RBAC policy matched" }) } } as T)
    }
    return fake.api.create(type, namespace, body)
  }
  return { layer: Layer.succeed(KubeApi, { ...fake.api, create }), calls, failOnce: () => (failNext = true) }
}

describe("kubeAccessReview", () => {
  it("allows, forbids and refuses as the API server decides, and caches decisions per token", async () => {
    const api = reviewingApi()
    const decisions = await Effect.runPromise(Effect.gen(function* () {
      const review = yield* kubeAccessReview()
      return [yield* review(undefined), yield* review("reader-token"), yield* review("stranger-token"), yield* review("nobody"), yield* review("reader-token")]
    }).pipe(Effect.provide(api.layer)))
    expect(decisions).toEqual([
      { _tag: "Unauthenticated", reason: "a bearer token is required" },
      { _tag: "Allowed" },
      { _tag: "Forbidden", reason: "stranger may not get /metrics: no RBAC policy matched" },
      { _tag: "Unauthenticated", reason: "token not accepted: invalid bearer token" },
      { _tag: "Allowed" },
    ])
    // reader and stranger: two reviews each; nobody: the token review only; the second reader: cached.
    expect(api.calls).toEqual(["tokenreviews", "subjectaccessreviews", "tokenreviews", "subjectaccessreviews", "tokenreviews"])
  })

  it("fails with the typed API error, and does not cache it", async () => {
    const api = reviewingApi()
    const [failed, retried] = await Effect.runPromise(Effect.gen(function* () {
      const review = yield* kubeAccessReview()
      api.failOnce()
      return [yield* Effect.exit(review("reader-token")), yield* review("reader-token")] as const
    }).pipe(Effect.provide(api.layer)))
    const error = Exit.findError(failed)
    if (Result.isFailure(error)) throw new Error(`expected a typed failure, got ${String(error.failure)}`)
    expect(error.success).toBeInstanceOf(KubeApiError)
    expect(error.success.status).toBe(503)
    expect(retried).toEqual({ _tag: "Allowed" })
  })
})
