// KubeApi's in-memory layer (what driver unit tests run on) behaves as the API server does where the
// drivers depend on it: merge patches, the status subresource, generateName, optimistic concurrency,
// typed NotFound/AlreadyExists/Conflict, injected failures, and watches that see every change.
import type { KubernetesObject, V1Service } from "@kubernetes/client-node"
import { Effect, Fiber, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { apiErrorText, KubeApiError } from "../../../shell/kube/api-error.ts"
import { ipAddressPools } from "../../../shell/kube/config-objects.ts"
import { watchResource } from "../../../shell/kube/informer.ts"
import { applyJsonPatch, applyMergePatch, FakeKube, KubeApi, microTime, resources } from "../../../shell/kube/kube-api.ts"

const run = <A, E>(fake: FakeKube, effect: Effect.Effect<A, E, KubeApi>) => Effect.runPromise(Effect.provide(effect, KubeApi.layerTest(fake)))
const service = (name: string): V1Service => ({ metadata: { name, namespace: "ns" }, spec: { type: "LoadBalancer" } })

describe("KubeApi.layerTest", () => {
  it("patches the object or its status as the API server does (a Service's status takes its metadata, never spec), and bumps the resourceVersion", async () => {
    const fake = new FakeKube()
    const result = await run(fake, Effect.gen(function* () {
      const api = yield* KubeApi
      const created = yield* api.create(resources.services, "ns", { ...service("web"), status: { loadBalancer: { ingress: [{ ip: "192.0.2.9" }] } } })
      const annotated = yield* api.patch<V1Service>(resources.services, { namespace: "ns", name: "web" }, { metadata: { annotations: { a: "1" } }, status: { loadBalancer: { ingress: [{ ip: "192.0.2.1" }] } } })
      const withStatus = yield* api.patch<V1Service>(resources.services, { namespace: "ns", name: "web" }, { metadata: { annotations: { a: null, b: "2" } }, spec: { loadBalancerClass: "x" }, status: { loadBalancer: { ingress: [{ ip: "192.0.2.1" }] } } }, "status")
      const pool = { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: "p" }, spec: { addresses: ["192.0.2.0/28"] } }
      yield* api.create(ipAddressPools, "ns", pool)
      const poolStatus = yield* api.patch<KubernetesObject & { status?: unknown }>(ipAddressPools, { namespace: "ns", name: "p" }, { metadata: { annotations: { a: "1" } }, status: { assignedIPv4: 1 } }, "status")
      return { created, annotated, withStatus, poolStatus }
    }))
    expect(result.created.status).toBeUndefined()
    expect(result.annotated.metadata?.annotations).toEqual({ a: "1" })
    expect(result.annotated.status).toBeUndefined()
    expect(result.withStatus.metadata?.annotations).toEqual({ b: "2" })
    expect(result.withStatus.spec?.loadBalancerClass).toBeUndefined()
    expect(result.withStatus.status?.loadBalancer?.ingress).toEqual([{ ip: "192.0.2.1" }])
    expect(Number(result.withStatus.metadata?.resourceVersion)).toBeGreaterThan(Number(result.annotated.metadata?.resourceVersion))
    expect([result.poolStatus.metadata?.annotations, result.poolStatus.status]).toEqual([undefined, { assignedIPv4: 1 }])
    expect(fake.writes.map((w) => w.operation)).toEqual(["create", "patch", "patch status", "create", "patch status"])
  })

  it("fails with typed errors: NotFound, AlreadyExists, Conflict, and injected ones", async () => {
    const fake = new FakeKube()
    fake.put(resources.secrets, { metadata: { name: "s", namespace: "ns" } } as KubernetesObject)
    fake.failNext("patch status", "services", 503, "ServiceUnavailable")
    const errors = await run(fake, Effect.gen(function* () {
      const api = yield* KubeApi
      const get = yield* Effect.flip(api.get(resources.services, { namespace: "ns", name: "missing" }))
      const again = yield* Effect.flip(api.create(resources.secrets, "ns", { metadata: { name: "s" } }))
      const stale = yield* Effect.flip(api.replace(resources.secrets, { namespace: "ns", name: "s" }, { metadata: { name: "s", resourceVersion: "0" } }))
      yield* api.create(resources.services, "ns", service("web"))
      const injected = yield* Effect.flip(api.patch(resources.services, { namespace: "ns", name: "web" }, { status: {} }, "status"))
      const afterwards = yield* api.patch(resources.services, { namespace: "ns", name: "web" }, { status: {} }, "status")
      return { get, again, stale, injected, afterwards }
    }))
    expect(errors.get).toBeInstanceOf(KubeApiError)
    expect([errors.get.status, errors.get.reason, errors.get.operation, errors.get.object]).toEqual([404, "NotFound", "get", "ns/missing"])
    expect([errors.again.status, errors.again.reason]).toEqual([409, "AlreadyExists"])
    expect([errors.stale.status, errors.stale.reason]).toEqual([409, "Conflict"])
    expect([errors.injected.status, errors.injected.reason, errors.injected.operation]).toEqual([503, "ServiceUnavailable", "patch status"])
    expect(apiErrorText(errors.injected)).toBe("patch status services ns/web: 503 ServiceUnavailable: injected ServiceUnavailable")
    expect(errors.afterwards.metadata?.name).toBe("web")
  })

  it("names objects from generateName and lists by namespace and label", async () => {
    const fake = new FakeKube()
    const listed = await run(fake, Effect.gen(function* () {
      const api = yield* KubeApi
      yield* api.create(resources.events, "ns", { metadata: { generateName: "web-", labels: { node: "a" } } })
      yield* api.create(resources.events, "ns", { metadata: { generateName: "web-", labels: { node: "b" } } })
      yield* api.create(resources.events, "other", { metadata: { generateName: "web-", labels: { node: "a" } } })
      return yield* api.list(resources.events, { namespace: "ns", labelSelector: "node=a" })
    }))
    expect(listed.items).toHaveLength(1)
    expect(listed.items[0]?.metadata?.name).toMatch(/^web-/)
    expect(new Set(fake.objects(resources.events).map((e) => e.metadata?.name)).size).toBe(3)
  })

  it("feeds watches: synced with what exists, then a signal per change", async () => {
    const fake = new FakeKube()
    fake.put(resources.services, service("a"))
    const seen = await run(fake, Effect.scoped(Effect.gen(function* () {
      const watched = yield* watchResource<V1Service>("services", resources.services)
      yield* watched.synced
      const names = () => watched.list().map((s) => s.metadata?.name).sort()
      const initial = names()
      let signals = 0
      const counter = yield* Effect.forkChild(Stream.runForEach(watched.changes, () => Effect.sync(() => { signals += 1 })))
      yield* Effect.yieldNow
      fake.put(resources.services, service("b"))
      yield* Effect.yieldNow
      fake.drop(resources.services, { namespace: "ns", name: "a" })
      yield* Effect.yieldNow
      yield* Fiber.interrupt(counter)
      return { initial, after: names(), signals }
    })))
    expect(seen.initial).toEqual(["a"])
    expect(seen.after).toEqual(["b"])
    expect(seen.signals).toBeGreaterThanOrEqual(1)
  })
})

describe("kube-api helpers", () => {
  it("merge patch: null removes, objects merge, arrays replace", () => {
    expect(applyMergePatch({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: null, e: "x" })).toEqual({ a: { b: 1, c: [3] }, e: "x" })
  })

  it("JSON patch: add/replace/remove/test by pointer; a failed test or a missing path is refused", () => {
    const doc = { metadata: { resourceVersion: "5" }, webhooks: [{ name: "a", clientConfig: {} }] }
    expect(applyJsonPatch(doc, [
      { op: "test", path: "/metadata/resourceVersion", value: "5" },
      { op: "add", path: "/webhooks/0/clientConfig/caBundle", value: "Q0E=" },
      { op: "replace", path: "/webhooks/0/name", value: "b" },
    ])).toEqual({ value: { metadata: { resourceVersion: "5" }, webhooks: [{ name: "b", clientConfig: { caBundle: "Q0E=" } }] } })
    expect(applyJsonPatch(doc, [{ op: "test", path: "/metadata/resourceVersion", value: "4" }])).toEqual({ error: 'test /metadata/resourceVersion: "5" is not "4"' })
    expect(applyJsonPatch(doc, [{ op: "remove", path: "/spec/x" }])).toEqual({ error: "remove /spec/x: no spec" })
    expect(doc.webhooks[0]?.name).toBe("a")
  })

  it("MicroTime has six fraction digits", () => {
    expect(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe("2026-01-02T03:04:05.678000Z")
  })
})
