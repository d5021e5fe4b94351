// KubeApi.layer against a real API server: the core group through CoreV1Api, everything else
// (events, metallb.io) through the custom-objects client; failures come back as KubeApiError with
// the server's status and reason.
import type { KubernetesObject, V1Service } from "@kubernetes/client-node"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { KubeApiError } from "../../../shell/kube/api-error.ts"
import { ipAddressPools } from "../../../shell/kube/config-objects.ts"
import { createEvent } from "../../../shell/kube/events.ts"
import { KubeApi, resources } from "../../../shell/kube/kube-api.ts"
import { type ApiServer, apiServerSkipReason, startApiServer } from "../../support/apiserver.ts"
import { skipUnlessCi } from "../../support/skip.ts"

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("KubeApi.layer on a real API server", () => {
  let api: ApiServer
  beforeAll(async () => {
    api = await startApiServer()
    api.kubectl(["apply", "--server-side", "-k", "manifests/base/crds/"])
  }, 60_000)
  afterAll(async () => {
    await api?.stop()
  })
  const run = <A, E>(effect: Effect.Effect<A, E, KubeApi>) => Effect.runPromise(Effect.provide(effect, KubeApi.layer(api.kubeConfig)))

  it("writes a service's status and annotation with merge patches, and an event about it", async () => {
    const result = await run(Effect.gen(function* () {
      const kube = yield* KubeApi
      yield* kube.create(resources.namespaces, undefined, { metadata: { name: "kube-api" } })
      yield* kube.create<V1Service>(resources.services, "kube-api", { metadata: { name: "web" }, spec: { type: "LoadBalancer", ports: [{ port: 80 }] } })
      yield* kube.patch(resources.services, { namespace: "kube-api", name: "web" }, { status: { loadBalancer: { ingress: [{ ip: "192.0.2.10", ipMode: "VIP" }] } } }, "status")
      yield* kube.patch(resources.services, { namespace: "kube-api", name: "web" }, { metadata: { annotations: { "metallb.io/ip-allocated-from-pool": "p" } } })
      yield* createEvent({ apiVersion: "v1", kind: "Service", name: "web", namespace: "kube-api" }, { type: "Normal", reason: "IPAllocated", message: "x".repeat(2000) },
        { controller: "metallb.io/controller", instance: "test" }, Date.now())
      const web = yield* kube.get<V1Service>(resources.services, { namespace: "kube-api", name: "web" })
      const events = yield* kube.list<KubernetesObject & { note?: string; reason?: string }>(resources.events, { namespace: "kube-api" })
      return { web, events: events.items }
    }))
    expect(result.web.status?.loadBalancer?.ingress?.map((i) => i.ip)).toEqual(["192.0.2.10"])
    expect(result.web.metadata?.annotations?.["metallb.io/ip-allocated-from-pool"]).toBe("p")
    expect(result.events.map((e) => [e.reason, e.note?.length])).toEqual([["IPAllocated", 1024]])
  })

  it("writes a service's status and pool annotation in one patch of its status: one MODIFIED event, as MetalLB's one UpdateStatus", async () => {
    const ref = { namespace: "kube-api", name: "one-write" }
    const result = await run(Effect.gen(function* () {
      const kube = yield* KubeApi
      yield* kube.create<V1Service>(resources.services, "kube-api", { metadata: { name: ref.name, labels: { app: "x" } }, spec: { type: "LoadBalancer", ports: [{ port: 80 }] } })
      const watch = kube.informer<V1Service>(resources.services, { namespace: "kube-api" })
      const seen: Array<V1Service> = []
      watch.on("update", (s) => {
        if (s.metadata?.name === ref.name) seen.push(s)
      })
      yield* Effect.promise(() => watch.start())
      const write = (pool: string | null, ingress: ReadonlyArray<string>) =>
        kube.patch(resources.services, ref, {
          metadata: { annotations: { "metallb.io/ip-allocated-from-pool": pool } },
          status: { loadBalancer: { ingress: ingress.map((ip) => ({ ip, ipMode: "VIP" })) } },
          // The status endpoint ignores spec: a write of ours never changes what the user asked for.
          spec: { loadBalancerClass: "ignored" },
        }, "status")
      yield* write("p", ["192.0.2.11"])
      for (let i = 0; i < 100 && seen.length < 1; i++) yield* Effect.sleep("50 millis")
      yield* write(null, [])
      for (let i = 0; i < 100 && seen.length < 2; i++) yield* Effect.sleep("50 millis")
      yield* Effect.sleep("300 millis")
      yield* Effect.promise(() => watch.stop())
      return seen
    }))
    expect(result.map((s) => [s.metadata?.annotations?.["metallb.io/ip-allocated-from-pool"], s.status?.loadBalancer?.ingress?.map((i) => i.ip) ?? []]))
      .toEqual([["p", ["192.0.2.11"]], [undefined, []]])
    expect(result.map((s) => [s.metadata?.labels, s.spec?.loadBalancerClass])).toEqual([[{ app: "x" }, undefined], [{ app: "x" }, undefined]])
  })

  it("reaches metallb.io objects and reports failures with status and reason", async () => {
    const result = await run(Effect.gen(function* () {
      const kube = yield* KubeApi
      const pool = { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: "p" }, spec: { addresses: ["192.0.2.0/28"] } }
      yield* kube.create(ipAddressPools, "kube-api", pool)
      yield* kube.patch(ipAddressPools, { namespace: "kube-api", name: "p" }, { status: { assignedIPv4: 1, assignedIPv6: 0, availableIPv4: 15, availableIPv6: 0 } }, "status")
      const read = yield* kube.get<KubernetesObject & { status?: { availableIPv4?: number } }>(ipAddressPools, { namespace: "kube-api", name: "p" })
      const exists = yield* Effect.flip(kube.create(ipAddressPools, "kube-api", pool))
      const missing = yield* Effect.flip(kube.get(resources.secrets, { namespace: "kube-api", name: "absent" }))
      yield* kube.remove(ipAddressPools, { namespace: "kube-api", name: "p" })
      return { read, exists, missing }
    }))
    expect(result.read.status?.availableIPv4).toBe(15)
    expect(result.exists).toBeInstanceOf(KubeApiError)
    expect([result.exists.status, result.exists.reason, result.exists.operation]).toEqual([409, "AlreadyExists", "create"])
    expect([result.missing.status, result.missing.reason, result.missing.object]).toEqual([404, "NotFound", "kube-api/absent"])
  })
})
