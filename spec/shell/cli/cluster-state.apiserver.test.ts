// The live reader against a real API server, as a user holding only the shipped read-only explain role
// (manifests/base/explain-rbac.yaml): everything explain needs is read with list calls, Secrets are
// reported as not readable (403) instead of taken as absent, and a token without the pods Role is told
// so for the speaker pods. An admin reads the Secrets too.
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readLive } from "../../../shell/cli/cluster-state.ts"
import { formatAddress } from "../../../core/net/address.ts"
import { type ApiServer, apiServerSkipReason, startApiServer } from "../../support/apiserver.ts"
import { eventually } from "../../support/netns.ts"
import { skipUnlessCi } from "../../support/skip.ts"

const ns = "metallb-system"

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("readLive on a real API server", () => {
  let api: ApiServer

  beforeAll(async () => {
    api = await startApiServer()
    api.kubectl(["apply", "--server-side", "-f", "manifests/base/namespace.yaml"])
    api.kubectl(["apply", "--server-side", "-k", "manifests/base/crds/"])
    api.kubectl(["apply", "--server-side", "-f", "manifests/base/explain-rbac.yaml"])
    await eventually("the CRDs to be established", async () =>
      api.kubectl(["get", "crd", "servicel2statuses.metallb.io", "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"]) === "True" || undefined)
    const objects = [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", labels: { team: "a" } } },
      { apiVersion: "v1", kind: "Node", metadata: { name: "node-a", labels: { zone: "x" } } },
      { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: "main", namespace: ns }, spec: { addresses: ["192.0.2.0/28"] } },
      { apiVersion: "metallb.io/v1beta1", kind: "L2Advertisement", metadata: { name: "l2", namespace: ns } },
      { apiVersion: "v1", kind: "Secret", metadata: { name: "peer-pw", namespace: ns }, type: "kubernetes.io/basic-auth", stringData: { password: "pw" } },
      {
        apiVersion: "v1", kind: "Service", metadata: { name: "web", namespace: "shop" },
        spec: { type: "LoadBalancer", ports: [{ port: 80 }], selector: { app: "web" } },
      },
      {
        apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", metadata: { name: "web-1", namespace: "shop", labels: { "kubernetes.io/service-name": "web" } },
        addressType: "IPv4", endpoints: [{ addresses: ["10.0.0.5"], nodeName: "node-a", conditions: { ready: true } }],
      },
    ]
    api.kubectl(["apply", "--server-side", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }))
    api.kubectl(["patch", "service", "web", "-n", "shop", "--subresource=status", "--type=merge", "-p", JSON.stringify({ status: { loadBalancer: { ingress: [{ ip: "192.0.2.1" }] } } })])
    // The example subjects of overlays/explain, as a ServiceAccount: the role with and without its pods part.
    for (const [name, withPods] of [["explainer", true], ["no-pods", false]] as const) {
      api.kubectl(["create", "serviceaccount", name, "-n", "shop"])
      api.kubectl(["create", "clusterrolebinding", `explain-${name}`, "--clusterrole=metallb-system:explain", `--serviceaccount=shop:${name}`])
      if (withPods) api.kubectl(["create", "rolebinding", `explain-${name}`, "-n", ns, "--role=explain", `--serviceaccount=shop:${name}`])
    }
  }, 180_000)
  afterAll(async () => {
    await api?.stop()
  })

  it("reads everything but Secrets with the read-only explain role, and says Secrets were forbidden", async () => {
    const { kubeConfig } = await api.serviceAccountToken("shop", "explainer")
    const state = await Effect.runPromise(readLive(kubeConfig))
    expect(state.services.find((s) => s.name === "web")).toMatchObject({ namespace: "shop", type: "LoadBalancer", ingressIPs: ["192.0.2.1"] })
    expect(state.namespaces.find((n) => n.name === "shop")?.labels).toMatchObject({ team: "a" })
    expect(state.config.documents.map((d) => d.source?.file).sort()).toEqual(["IPAddressPool/main", "L2Advertisement/l2"])
    expect(state.speaker.services.map((s) => [s.key, s.addresses.map(formatAddress)])).toEqual([["shop/web", ["192.0.2.1"]]])
    expect(state.speaker.endpoints.get("shop/web")).toEqual([{ node: "node-a", serving: true }])
    expect(state.speaker.nodes.map((n) => n.name)).toEqual(["node-a"])
    expect(state.speakerPods).toEqual([])
    expect(state.config.secrets).toEqual([])
    expect(state.unreadable).toHaveLength(1)
    expect(state.unreadable[0]).toMatchObject({ kind: "Secret", namespace: ns, status: 403 })
    expect(state.unreadable[0]?.reason).toMatch(/forbidden/i)
  })

  it("a token without the pods Role is told the speaker pods could not be read", async () => {
    const { kubeConfig } = await api.serviceAccountToken("shop", "no-pods")
    const state = await Effect.runPromise(readLive(kubeConfig))
    expect(state.speakerPods).toBeUndefined()
    expect(state.unreadable.map((u) => [u.kind, u.status]).sort()).toEqual([["Pod", 403], ["Secret", 403]])
    expect(state.services.some((s) => s.name === "web")).toBe(true)
  })

  it("an administrator reads the Secrets too", async () => {
    const state = await Effect.runPromise(readLive(api.kubeConfig))
    expect(state.unreadable).toEqual([])
    expect(state.config.secrets.map((s) => s.ref.name)).toContain("peer-pw")
  })
})
