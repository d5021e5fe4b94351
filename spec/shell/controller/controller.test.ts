// The controller driver on KubeApi's in-memory layer: what the machine decides reaches the API
// (status and annotation in one write, event, ConfigurationState, pool status), and a failed write is retried.
import type { KubernetesObject, V1Service } from "@kubernetes/client-node"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { runController } from "../../../shell/controller/controller.ts"
import { ipAddressPools, statusKinds } from "../../../shell/kube/config-objects.ts"
import { FakeKube, KubeApi, resources } from "../../../shell/kube/kube-api.ts"

const namespace = "metallb-system"
const service = (name: string, clusterIP: string): V1Service => ({
  metadata: { name, namespace: "default", uid: `uid-${name}` },
  spec: { type: "LoadBalancer", clusterIPs: [clusterIP], ports: [{ port: 80, protocol: "TCP" }] },
})
const ingressOf = (fake: FakeKube, name: string) =>
  fake.objects<V1Service>(resources.services, "default").find((s) => s.metadata?.name === name)?.status?.loadBalancer?.ingress?.map((i) => i.ip)

/** Polls `check` every 20 ms until it returns a value (at most 5 s). */
const eventually = <A>(what: string, check: () => A | undefined) =>
  Effect.gen(function* () {
    for (let i = 0; i < 250; i++) {
      const value = check()
      if (value !== undefined) return value
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

describe("runController on KubeApi.layerTest", () => {
  it("writes what the machine decides, and retries a write that failed", async () => {
    const fake = new FakeKube()
    fake.put(resources.namespaces, { metadata: { name: "default" } })
    fake.put(ipAddressPools, { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: "lan", namespace }, spec: { addresses: ["192.0.2.0/30"] } } as KubernetesObject)
    fake.put(resources.services, service("web", "198.18.0.1"))
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      yield* Effect.forkScoped(runController({ namespace, instance: "test", debounceMs: 10, resyncMs: 100 }))
      expect(yield* eventually("web's address", () => ingressOf(fake, "web"))).toEqual(["192.0.2.0"])
      const web = fake.objects<V1Service>(resources.services, "default").find((s) => s.metadata?.name === "web")
      expect(web?.metadata?.annotations?.["metallb.io/ip-allocated-from-pool"]).toBe("lan")
      // Address and pool in one write of the status subresource (one MODIFIED event for watchers).
      expect(fake.writes.filter((w) => w.resource === "services")).toEqual([{ operation: "patch status", resource: "services", object: "default/web" }])
      const events = yield* eventually("the IPAllocated event", () => {
        const list = fake.objects<KubernetesObject & { reason?: string; regarding?: { uid?: string } }>(resources.events, "default")
        return list.length > 0 ? list : undefined
      })
      expect(events.map((e) => [e.reason, e.regarding?.uid])).toEqual([["IPAllocated", "uid-web"]])
      const state = yield* eventually("ConfigurationState", () =>
        fake.objects<KubernetesObject & { status?: { result?: string } }>(statusKinds.configurationStates, namespace)[0]?.status)
      expect(state.result).toBe("Valid")
      const pool = yield* eventually("the pool's status", () =>
        fake.objects<KubernetesObject & { status?: { assignedIPv4?: number } }>(ipAddressPools, namespace)[0]?.status)
      expect(pool.assignedIPv4).toBe(1)

      // The next status write fails once: the service gets its address at a later pass.
      fake.failNext("patch status", "services", 503, "ServiceUnavailable")
      fake.put(resources.services, service("db", "198.18.0.2"))
      expect(yield* eventually("db's address after the failed write", () => ingressOf(fake, "db"))).toEqual(["192.0.2.1"])
      expect(fake.failuresLeft()).toBe(0)
      expect(fake.writes.filter((w) => w.operation === "patch status" && w.object === "default/db")).toHaveLength(1)
    }).pipe(Effect.provide(KubeApi.layerTest(fake)))))
  })
})
