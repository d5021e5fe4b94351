// The informer wrapper against the real API server: sync, change signals, and recovery after errors
// (a ServiceAccount without RBAC fails to list; once a RoleBinding grants access, the informer restarts
// by itself and syncs).
import { CoreV1Api, type V1Service } from "@kubernetes/client-node"
import { Effect, Fiber, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { watchResource } from "../../../shell/kube/informer.ts"
import { KubeApi, resources } from "../../../shell/kube/kube-api.ts"
import { type ApiServer, apiServerSkipReason, startApiServer } from "../../support/apiserver.ts"
import { eventually } from "../../support/netns.ts"
import { skipUnlessCi } from "../../support/skip.ts"

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("watch (informer as an Effect resource)", () => {
  let api: ApiServer
  beforeAll(async () => {
    api = await startApiServer()
  })
  afterAll(async () => {
    await api?.stop()
  })

  it("syncs, then signals every change and keeps the cache current", async () => {
    const core = api.kubeConfig.makeApiClient(CoreV1Api)
    await core.createNamespace({ body: { metadata: { name: "watched" } } })
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const services = yield* watchResource<V1Service>("services", resources.services, { namespace: "watched" })
      yield* services.synced
      let signals = 0
      const counter = yield* Effect.forkChild(Stream.runForEach(services.changes, () => Effect.sync(() => { signals += 1 })))
      yield* Effect.promise(() => core.createNamespacedService({ namespace: "watched", body: { metadata: { name: "a" }, spec: { ports: [{ port: 80 }] } } }))
      yield* Effect.promise(() => eventually("the service in the cache", async () => services.list().some((s) => s.metadata?.name === "a") || undefined, { timeoutMs: 10_000 }))
      yield* Effect.promise(() => core.deleteNamespacedService({ namespace: "watched", name: "a" }))
      yield* Effect.promise(() => eventually("the deletion in the cache", async () => services.list().length === 0 || undefined, { timeoutMs: 10_000 }))
      expect(signals).toBeGreaterThanOrEqual(2)
      yield* Fiber.interrupt(counter)
    }).pipe(Effect.provide(KubeApi.layer(api.kubeConfig)))))
  })

  it("restarts after errors and syncs once access is granted", async () => {
    const core = api.kubeConfig.makeApiClient(CoreV1Api)
    await core.createNamespace({ body: { metadata: { name: "guarded" } } })
    const sa = await api.serviceAccountToken("guarded", "watcher")
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const services = yield* watchResource<V1Service>("services", resources.services, { namespace: "guarded", initialBackoffMs: 100, maxBackoffMs: 400 })
      yield* Effect.promise(() => eventually("list errors", async () => services.errorCount() >= 2 || undefined, { timeoutMs: 10_000 }))
      api.kubectl(["create", "role", "watch-services", "-n", "guarded", "--verb=list,watch", "--resource=services"])
      api.kubectl(["create", "rolebinding", "watcher", "-n", "guarded", "--role=watch-services", "--serviceaccount=guarded:watcher"])
      yield* services.synced.pipe(Effect.timeout("20 seconds"))
      yield* Effect.promise(() => core.createNamespacedService({ namespace: "guarded", body: { metadata: { name: "b" }, spec: { ports: [{ port: 80 }] } } }))
      yield* Effect.promise(() => eventually("the service after recovery", async () => services.list().some((s) => s.metadata?.name === "b") || undefined, { timeoutMs: 10_000 }))
    }).pipe(Effect.provide(KubeApi.layer(sa.kubeConfig)))))
  })
})
