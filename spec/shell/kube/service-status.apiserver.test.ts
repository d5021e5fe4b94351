// The speaker's status objects against a real API server, written as the speaker's ServiceAccount with
// the shipped RBAC: one ServiceL2Status per announced service, owned by the speaker's Pod; a new speaker
// Pod on the same node adopts what its predecessor left (same objects, owner moved) instead of leaving
// them to the garbage collector; objects of services no longer announced are deleted; and outside a
// Pod (no owner) the objects carry no owner reference.
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type PodOwner, ServiceStatusWriter } from "../../../shell/kube/service-status.ts"
import { type ApiServer, apiServerSkipReason, startApiServer } from "../../support/apiserver.ts"
import { eventually } from "../../support/netns.ts"
import { skipUnlessCi } from "../../support/skip.ts"

const ns = "metallb-system"

interface StatusObject {
  readonly metadata: { readonly name: string; readonly ownerReferences?: ReadonlyArray<{ kind: string; name: string; uid: string }> }
  readonly status?: { readonly node?: string; readonly serviceName?: string; readonly interfaces?: ReadonlyArray<{ name: string }> }
}

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("ServiceStatusWriter on a real API server", () => {
  let api: ApiServer
  let speaker: CustomObjectsApi
  const pods: Array<PodOwner> = []

  const list = async (node: string): Promise<ReadonlyArray<StatusObject>> => {
    const result = (await api.kubeConfig.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
      group: "metallb.io", version: "v1beta1", namespace: ns, plural: "servicel2statuses", labelSelector: `metallb.io/node=${node}`,
    })) as { items: Array<StatusObject> }
    return [...result.items].sort((a, b) => (a.status?.serviceName ?? "").localeCompare(b.status?.serviceName ?? ""))
  }
  const sync = (writer: ServiceStatusWriter, services: ReadonlyArray<string>) =>
    Effect.runPromise(writer.sync(new Map(services.map((s) => [`default/${s}`, { interfaces: [{ name: "eth0" }] }]))))

  beforeAll(async () => {
    api = await startApiServer()
    api.kubectl(["apply", "--server-side", "-f", "manifests/base/namespace.yaml"])
    api.kubectl(["apply", "--server-side", "-k", "manifests/base/crds/"])
    api.kubectl(["apply", "--server-side", "-f", "manifests/base/rbac.yaml"])
    await eventually("the CRDs to be established", async () =>
      api.kubectl(["get", "crd", "servicel2statuses.metallb.io", "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"]) === "True" || undefined)
    const core = api.kubeConfig.makeApiClient(CoreV1Api)
    for (const name of ["speaker-old", "speaker-new"]) {
      const pod = await core.createNamespacedPod({
        namespace: ns,
        body: { metadata: { name }, spec: { nodeName: "node-a", serviceAccountName: "speaker", automountServiceAccountToken: false, containers: [{ name: "speaker", image: "metallb-ts" }] } },
      })
      pods.push({ name, uid: pod.metadata?.uid ?? "" })
    }
    speaker = (await api.serviceAccountToken(ns, "speaker")).kubeConfig.makeApiClient(CustomObjectsApi)
  }, 120_000)
  afterAll(async () => {
    await api?.stop()
  })

  it("writes one object per announced service, owned by the speaker's Pod", async () => {
    const [old] = pods
    await sync(new ServiceStatusWriter(speaker, ns, "node-a", "ServiceL2Status", old), ["web", "dns"])
    const objects = await list("node-a")
    expect(objects.map((o) => o.status)).toEqual([
      { node: "node-a", serviceName: "dns", serviceNamespace: "default", interfaces: [{ name: "eth0" }] },
      { node: "node-a", serviceName: "web", serviceNamespace: "default", interfaces: [{ name: "eth0" }] },
    ])
    for (const o of objects) {
      expect(o.metadata.name).toMatch(/^l2-/)
      expect(o.metadata.ownerReferences).toEqual([{ apiVersion: "v1", kind: "Pod", name: old!.name, uid: old!.uid }])
    }
  })

  it("a new speaker Pod adopts its predecessor's objects and deletes those it no longer announces", async () => {
    const [, fresh] = pods
    const before = await list("node-a")
    await sync(new ServiceStatusWriter(speaker, ns, "node-a", "ServiceL2Status", fresh), ["web"])
    const after = await list("node-a")
    expect(after.map((o) => o.status?.serviceName)).toEqual(["web"])
    // The same object, not a new one: only its owner moved.
    expect(after[0]?.metadata.name).toBe(before.find((o) => o.status?.serviceName === "web")?.metadata.name)
    expect(after[0]?.metadata.ownerReferences).toEqual([{ apiVersion: "v1", kind: "Pod", name: fresh!.name, uid: fresh!.uid }])
  })

  it("outside a Pod the objects have no owner, and an empty sync removes them all", async () => {
    const writer = new ServiceStatusWriter(speaker, ns, "node-b", "ServiceL2Status")
    await sync(writer, ["web"])
    const [object] = await list("node-b")
    expect(object?.status?.node).toBe("node-b")
    expect(object?.metadata.ownerReferences).toBeUndefined()
    await sync(writer, [])
    expect(await list("node-b")).toEqual([])
  })
})
