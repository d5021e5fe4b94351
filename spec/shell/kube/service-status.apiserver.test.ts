// The speaker's status objects against a real API server, written as the speaker's ServiceAccount with
// the shipped RBAC: one ServiceL2Status per announced service, owned by the speaker's Pod; a new speaker
// Pod on the same node adopts what its predecessor left (same objects, owner moved) instead of leaving
// them to the garbage collector; objects of services no longer announced are deleted; and outside a
// Pod (no owner) the objects carry no owner reference. The BGPSessionState writer: frr-k8s's labels and
// status, the since time, only changes written, frr-k8s's own objects untouched, typed errors.
import { CoreV1Api, CustomObjectsApi, type KubernetesObject } from "@kubernetes/client-node"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { KubeApiError } from "../../../shell/kube/api-error.ts"
import { type KubeApi, makeKubeApi } from "../../../shell/kube/kube-api.ts"
import { bgpSessionStates, peerLabelValue, SessionStateWriter } from "../../../shell/kube/session-states.ts"
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
  let speaker: KubeApi["Service"]
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
    speaker = makeKubeApi((await api.serviceAccountToken(ns, "speaker")).kubeConfig)
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

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("SessionStateWriter on a real API server", () => {
  let api: ApiServer
  let speaker: KubeApi["Service"]
  const admin = () => makeKubeApi(api.kubeConfig)
  const listed = () =>
    Effect.runPromise(admin().list<KubernetesObject & { status?: Record<string, string> }>(bgpSessionStates, { namespace: ns, labelSelector: "frrk8s.metallb.io/node=node-a" }))
      .then((l) => [...l.items].sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? "")))
  const established = { bgpStatus: "Established", bfdStatus: "N/A", node: "node-a", peer: "2001-0db8-0000-0000-0000-0000-0000-0001", vrf: "" }

  beforeAll(async () => {
    api = await startApiServer()
    api.kubectl(["apply", "--server-side", "-f", "manifests/base/namespace.yaml"])
    api.kubectl(["apply", "--server-side", "-k", "manifests/base/crds/"])
    api.kubectl(["apply", "--server-side", "-f", "manifests/base/rbac.yaml"])
    await eventually("the BGPSessionState CRD to be established", async () =>
      api.kubectl(["get", "crd", "bgpsessionstates.frrk8s.metallb.io", "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"]) === "True" || undefined)
    speaker = makeKubeApi((await api.serviceAccountToken(ns, "speaker")).kubeConfig)
  }, 120_000)
  afterAll(async () => {
    await api?.stop()
  })

  it("writes frr-k8s's status and labels, the since time as an annotation, only what changed, and leaves frr-k8s's own objects alone", async () => {
    // frr-k8s's object on the same node: no BGPPeer label, so not ours.
    api.kubectl(["create", "-n", ns, "-f", "-"], JSON.stringify({
      apiVersion: "frrk8s.metallb.io/v1beta1", kind: "BGPSessionState",
      metadata: { name: "node-a-frr", labels: { "frrk8s.metallb.io/node": "node-a", "frrk8s.metallb.io/peer": "192.0.2.9", "frrk8s.metallb.io/vrf": "" } },
    }))
    const writer = new SessionStateWriter(speaker, ns, "node-a")
    const writes: Array<boolean> = []
    writer.onWrite = (ok) => writes.push(ok)
    expect(await Effect.runPromise(writer.found())).toEqual([])
    await Effect.runPromise(writer.write("tor", established, Date.parse("2026-12-03T10:00:00Z")))
    const [mine] = (await listed()).filter((o) => o.metadata?.name !== "node-a-frr")
    expect(mine?.metadata?.name).toMatch(/^node-a-/)
    expect(mine?.status).toEqual(established)
    expect(mine?.metadata?.labels).toEqual({
      "frrk8s.metallb.io/node": "node-a", "frrk8s.metallb.io/peer": established.peer, "frrk8s.metallb.io/vrf": "", "metallb-ts.io/bgppeer": "tor",
    })
    expect(mine?.metadata?.annotations).toMatchObject({ "metallb-ts.io/bgp-status-since": "2026-12-03T10:00:00.000Z", "metallb-ts.io/bgppeer": "tor" })
    expect(writes).toEqual([true, true]) // create, status
    // BFD only: the status alone; the same again: nothing.
    await Effect.runPromise(writer.write("tor", { ...established, bfdStatus: "up" }, Date.parse("2026-12-03T10:00:00Z")))
    await Effect.runPromise(writer.write("tor", { ...established, bfdStatus: "up" }, Date.parse("2026-12-03T10:00:00Z")))
    expect(writes).toEqual([true, true, true])
    // A new speaker finds it by its BGPPeer, and removes it; frr-k8s's stays.
    const next = new SessionStateWriter(speaker, ns, "node-a")
    expect(await Effect.runPromise(next.found())).toEqual(["tor"])
    await Effect.runPromise(next.remove("tor"))
    expect((await listed()).map((o) => o.metadata?.name)).toEqual(["node-a-frr"])
  })

  it("a BGPPeer name too long for a label value: shortened with a hash in the label, in full in the annotation, found again by it", async () => {
    const long = `tor-${"x".repeat(70)}.rack-1`
    const writer = new SessionStateWriter(speaker, ns, "node-c")
    await Effect.runPromise(writer.write(long, { ...established, node: "node-c" }, 0))
    const [object] = (await Effect.runPromise(admin().list<KubernetesObject>(bgpSessionStates, { namespace: ns, labelSelector: "frrk8s.metallb.io/node=node-c" }))).items
    expect(object?.metadata?.labels?.["metallb-ts.io/bgppeer"]).toBe(peerLabelValue(long))
    expect(peerLabelValue(long)).toMatch(/^tor-x{50}-[0-9a-f]{8}$/)
    expect(object?.metadata?.annotations?.["metallb-ts.io/bgppeer"]).toBe(long)
    expect(await Effect.runPromise(new SessionStateWriter(speaker, ns, "node-c").found())).toEqual([long])
  })

  it("a write the API refuses fails with a typed KubeApiError (403 without the speaker's RBAC)", async () => {
    const nobody = makeKubeApi((await api.serviceAccountToken("default", "default")).kubeConfig)
    const failure = await Effect.runPromise(Effect.flip(new SessionStateWriter(nobody, ns, "node-b").write("tor", established, 0)))
    expect(failure).toBeInstanceOf(KubeApiError)
    expect(failure.status).toBe(403)
    expect(failure.operation).toBe("list")
  })
})
