// Smoke test (a): the real API server through @kubernetes/client-node, as the controller will use it.
import {
  CoreV1Api,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type V1Service,
} from "@kubernetes/client-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ApiServer, apiServerSkipReason, startApiServer } from "./apiserver.ts"
import { eventually } from "./netns.ts"
import { skipUnlessCi } from "./skip.ts"

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("real kube-apiserver", () => {
  let api: ApiServer
  let bringUpMs = 0
  beforeAll(async () => {
    const start = performance.now()
    api = await startApiServer()
    bringUpMs = performance.now() - start
    console.log(`kube-apiserver ready at ${api.url} in ${Math.round(bringUpMs)} ms`)
  })
  afterAll(async () => {
    await api?.stop()
  })

  it("comes up within 30 s once the binary is cached", () => {
    expect(bringUpMs).toBeLessThan(30_000)
  })

  it("creates a LoadBalancer Service, sees it through an informer, writes and reads status.loadBalancer", async () => {
    const core = api.kubeConfig.makeApiClient(CoreV1Api)
    const namespace = "smoke"
    await core.createNamespace({ body: { metadata: { name: namespace } } })

    const seen: Array<V1Service> = []
    const informer = makeInformer(api.kubeConfig, `/api/v1/namespaces/${namespace}/services`, () =>
      core.listNamespacedService({ namespace }))
    informer.on("add", (svc) => seen.push(svc))
    informer.on("update", (svc) => seen.push(svc))
    await informer.start()
    try {
      const created = await core.createNamespacedService({
        namespace,
        body: {
          metadata: { name: "web" },
          spec: { type: "LoadBalancer", selector: { app: "web" }, ports: [{ port: 80, protocol: "TCP" }] },
        },
      })
      expect(created.spec?.clusterIP).toMatch(/^198\.18\./)

      await eventually("the informer to deliver the Service", async () =>
        seen.find((s) => s.metadata?.name === "web") ? true : undefined, { timeoutMs: 10_000 })

      await core.patchNamespacedServiceStatus(
        { name: "web", namespace, body: { status: { loadBalancer: { ingress: [{ ip: "192.0.2.10", ipMode: "VIP" }] } } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      )
      const read = await core.readNamespacedServiceStatus({ name: "web", namespace })
      expect(read.status?.loadBalancer?.ingress).toEqual([{ ip: "192.0.2.10", ipMode: "VIP" }])

      await eventually("the informer to see the new status", async () =>
        seen.some((s) => s.status?.loadBalancer?.ingress?.[0]?.ip === "192.0.2.10") ? true : undefined,
        { timeoutMs: 10_000 })
    } finally {
      await informer.stop()
    }
  })

  it("applies manifests server-side with the cached kubectl", () => {
    const out = api.kubectl(["apply", "--server-side", "-f", "manifests/namespace.yaml"])
    expect(out).toContain("namespace/metallb-system serverside-applied")
    const labels = JSON.parse(api.kubectl(["get", "namespace", "metallb-system", "-o", "jsonpath={.metadata.labels}"]))
    expect(labels["pod-security.kubernetes.io/enforce"]).toBe("privileged")
  })

  it("enforces RBAC for ServiceAccount tokens", async () => {
    const core = api.kubeConfig.makeApiClient(CoreV1Api)
    await core.createNamespace({ body: { metadata: { name: "rbac" } } })
    const sa = await api.serviceAccountToken("rbac", "speaker")
    const asSpeaker = sa.kubeConfig.makeApiClient(CoreV1Api)
    await expect(asSpeaker.listNamespacedSecret({ namespace: "rbac" })).rejects.toMatchObject({ code: 403 })
    api.kubectl(["create", "role", "read-services", "-n", "rbac", "--verb=list", "--resource=services"])
    api.kubectl(["create", "rolebinding", "speaker", "-n", "rbac", "--role=read-services", "--serviceaccount=rbac:speaker"])
    const list = await eventually("the RoleBinding to take effect", async () =>
      asSpeaker.listNamespacedService({ namespace: "rbac" }).catch(() => undefined), { timeoutMs: 10_000 })
    expect(list.items).toEqual([])
  })
})
