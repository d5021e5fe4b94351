// The offline reader: a dump as `kubectl get ... -A -o yaml` prints it (a List) or a YAML stream of
// objects, decoded with the controller's and speaker's decoders; what the dump lacks is listed.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { DumpError, readClusterState, readDump, statusReportOf } from "../../../shell/cli/cluster-state.ts"
import { formatAddress } from "../../../core/net/address.ts"

const list = (items: ReadonlyArray<unknown>) => JSON.stringify({ apiVersion: "v1", kind: "List", items })

const service = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "web", namespace: "shop", labels: { app: "web" }, annotations: { "metallb.io/ip-allocated-from-pool": "main" } },
  spec: { type: "LoadBalancer", clusterIP: "198.18.0.10", clusterIPs: ["198.18.0.10"], ports: [{ port: 80, protocol: "TCP" }], externalTrafficPolicy: "Local", selector: { app: "web" } },
  status: { loadBalancer: { ingress: [{ ip: "192.0.2.10" }] } },
}
const slice = {
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: "web-abc", namespace: "shop", labels: { "kubernetes.io/service-name": "web" } },
  addressType: "IPv4",
  endpoints: [{ addresses: ["10.0.0.5"], nodeName: "node-b", conditions: { ready: true, serving: true } }],
}
const node = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name, labels: { "kubernetes.io/hostname": name } },
  status: { addresses: [{ type: "InternalIP", address: "192.0.2.200" }], conditions: [{ type: "Ready", status: "True" }] },
  ...extra,
})
const pool = {
  apiVersion: "metallb.io/v1beta1",
  kind: "IPAddressPool",
  metadata: { name: "main", namespace: "metallb-system" },
  spec: { addresses: ["192.0.2.10-192.0.2.20"] },
}
const otherNamespacePool = { ...pool, metadata: { name: "elsewhere", namespace: "tenant" } }
const l2status = {
  apiVersion: "metallb.io/v1beta1",
  kind: "ServiceL2Status",
  metadata: { name: "l2-x7", namespace: "metallb-system", labels: { "metallb.io/node": "node-b", "metallb.io/service-name": "web", "metallb.io/service-namespace": "shop" } },
  status: { node: "node-b", serviceName: "web", serviceNamespace: "shop", interfaces: [{ name: "eth0" }] },
}
const speakerPod = (name: string, nodeName: string, ready: boolean) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "metallb-system", labels: { app: "metallb", component: "speaker" } },
  spec: { nodeName, containers: [] },
  status: { conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
})

describe("readDump", () => {
  it("decodes a List dump with the controller's and the speaker's decoders", () => {
    const state = readDump(
      list([service, slice, node("node-a"), node("node-b"), { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", labels: { team: "a" } } }, pool, otherNamespacePool, l2status,
        speakerPod("speaker-a", "node-a", true), speakerPod("speaker-b", "node-b", false),
        { apiVersion: "v1", kind: "Pod", metadata: { name: "web-1", namespace: "metallb-system", labels: { app: "web" } }, spec: { nodeName: "node-b", containers: [] } },
        { apiVersion: "v1", kind: "Secret", metadata: { name: "peer-pw", namespace: "metallb-system" }, type: "kubernetes.io/basic-auth", data: { password: "cHc=" } },
        { apiVersion: "v1", kind: "Secret", metadata: { name: "other", namespace: "shop" }, data: {} },
        { apiVersion: "metallb.io/v1beta1", kind: "ServiceBGPStatus", metadata: { name: "bgp-1", namespace: "metallb-system" }, status: { node: "node-a", serviceName: "web", serviceNamespace: "shop", peers: ["tor"] } },
      ]),
      "dump.yaml",
    )
    expect(state.source).toBe("file dump.yaml")
    expect(state.services).toHaveLength(1)
    expect(state.services[0]).toMatchObject({ namespace: "shop", name: "web", type: "LoadBalancer", ingressIPs: ["192.0.2.10"], externalTrafficPolicy: "Local" })
    expect(state.namespaces).toEqual([{ name: "shop", labels: { team: "a" } }])
    // Only metallb-ts's namespace holds configuration and Secrets, as the controller watches it.
    expect(state.config.documents.map((d) => d.source?.file)).toEqual(["IPAddressPool/main"])
    expect(state.config.secrets.map((s) => s.ref.name)).toEqual(["peer-pw"])
    expect(state.config.namespace).toBe("metallb-system")
    expect(state.speaker.services.map((s) => [s.key, s.pool, s.addresses.map(formatAddress)])).toEqual([["shop/web", "main", ["192.0.2.10"]]])
    expect(state.speaker.endpoints.get("shop/web")).toEqual([{ node: "node-b", serving: true }])
    expect(state.speaker.nodes.map((n) => n.name)).toEqual(["node-a", "node-b"])
    expect(state.statuses).toEqual([
      { kind: "ServiceL2Status", name: "l2-x7", node: "node-b", service: "shop/web", interfaces: ["eth0"], peers: [] },
      { kind: "ServiceBGPStatus", name: "bgp-1", node: "node-a", service: "shop/web", interfaces: [], peers: ["tor"] },
    ])
    expect(state.speakerPods).toEqual([{ name: "speaker-a", node: "node-a", ready: true }, { name: "speaker-b", node: "node-b", ready: false }])
    expect(state.unreadable).toEqual([])
  })

  it("reads a YAML stream of objects and lists what the dump lacks", () => {
    const yaml = [service, pool].map((o) => JSON.stringify(o)).join("\n---\n")
    const state = readDump(yaml, "partial.yaml")
    expect(state.services).toHaveLength(1)
    expect(state.speakerPods).toBeUndefined()
    expect(state.unreadable.map((u) => u.kind).sort()).toEqual(["EndpointSlice", "Namespace", "Node", "Pod", "Secret", "ServiceBGPStatus", "ServiceL2Status"])
    expect(state.unreadable[0]?.reason).toBe("not in partial.yaml")
  })

  it("says when the dump holds no metallb.io configuration at all", () => {
    const state = readDump(list([service]), "d.yaml")
    expect(state.unreadable).toContainEqual({ kind: "IPAddressPool", reason: "no metallb.io configuration in d.yaml" })
  })

  it("honours another metallb-ts namespace and a loadBalancerClass", () => {
    const classed = { ...service, spec: { ...service.spec, loadBalancerClass: "example.com/lb" } }
    const state = readDump(list([classed, { ...pool, metadata: { name: "p", namespace: "lb" } }]), "d.yaml", { metallbNamespace: "lb", loadBalancerClass: "example.com/lb" })
    expect(state.config.documents.map((d) => d.source?.file)).toEqual(["IPAddressPool/p"])
    expect(state.speaker.services.map((s) => s.key)).toEqual(["shop/web"])
    expect(readDump(list([classed]), "d.yaml").speaker.services).toEqual([])
  })

  it("refuses a document without a kind, a List without items and broken YAML, naming the document", () => {
    expect(() => readDump("apiVersion: v1\nmetadata: {name: x}\n", "a.yaml")).toThrow(new DumpError("a.yaml: document 1 has no kind"))
    expect(() => readDump(`${JSON.stringify(service)}\n---\nkind: List\n`, "b.yaml")).toThrow("b.yaml: document 2: a List without items")
    expect(() => readDump("kind: List\nitems: [{metadata: {}}]\n", "c.yaml")).toThrow("c.yaml: document 1, item 1 has no kind")
    expect(() => readDump("kind: [unclosed\n", "d.yaml")).toThrow(/^d\.yaml: document 1: /)
  })

  it("skips status objects that name no service or node", () => {
    expect(statusReportOf({ kind: "ServiceL2Status", metadata: { name: "l2-broken" } })).toBeUndefined()
    expect(statusReportOf({ kind: "Service", metadata: { name: "x" } })).toBeUndefined()
  })
})

describe("BGPSessionStates in a dump", () => {
  const ours = {
    apiVersion: "frrk8s.metallb.io/v1beta1",
    kind: "BGPSessionState",
    metadata: {
      name: "node-b-x7k2p",
      namespace: "metallb-system",
      labels: { "frrk8s.metallb.io/node": "node-b", "frrk8s.metallb.io/peer": "192.0.2.1", "frrk8s.metallb.io/vrf": "", "metallb-ts.io/bgppeer": "tor" },
      annotations: { "metallb-ts.io/bgp-status-since": "2026-12-03T10:00:00.000Z" },
    },
    status: { node: "node-b", peer: "192.0.2.1", vrf: "", bgpStatus: "Active", bfdStatus: "down" },
  }
  // frr-k8s's: no BGPPeer label, no since; another namespace's is not metallb-ts's.
  const frr = { ...ours, metadata: { name: "node-c-abcde", namespace: "metallb-system", labels: { "frrk8s.metallb.io/node": "node-c" } }, status: { node: "node-c", peer: "192.0.2.1", bgpStatus: "Established" } }
  const elsewhere = { ...ours, metadata: { ...ours.metadata, namespace: "frr-k8s-system" } }

  it("decodes ours and frr-k8s's when explain asks for them, only in metallb-ts's namespace", () => {
    const state = readDump(list([service, pool, ours, frr, elsewhere]), "dump.yaml", { sessionStates: true })
    expect(state.sessionStates).toEqual([
      { name: "node-b-x7k2p", node: "node-b", bgpPeer: "tor", neighbor: "192.0.2.1", vrf: "", bgpStatus: "Active", bfdStatus: "down", since: "2026-12-03T10:00:00.000Z" },
      { name: "node-c-abcde", node: "node-c", neighbor: "192.0.2.1", vrf: "", bgpStatus: "Established", bfdStatus: "N/A" },
    ])
  })

  it("a dump without them leaves them unread (explain says so); plan never reads them", () => {
    expect(readDump(list([service, pool]), "dump.yaml", { sessionStates: true }).sessionStates).toBeUndefined()
    expect(readDump(list([service, pool, elsewhere]), "dump.yaml", { sessionStates: true }).sessionStates).toEqual([])
    expect(readDump(list([service, pool, ours]), "dump.yaml").sessionStates).toBeUndefined()
  })
})

describe("readClusterState", () => {
  it("reads the dump file when given, and refuses both sources at once", async () => {
    const state = await Effect.runPromise(readClusterState({ clusterState: "x.yaml" }, {}, () => list([service])))
    expect(state.services).toHaveLength(1)
    const both = await Effect.runPromise(Effect.flip(readClusterState({ clusterState: "x.yaml", kubeconfig: "k" }, {}, () => "")))
    expect(both.message).toMatch(/exclude each other/)
    const missing = await Effect.runPromise(Effect.flip(readClusterState({ clusterState: "nope.yaml" }, {}, () => {
      throw new Error("ENOENT: no such file")
    })))
    expect(missing.message).toBe("cannot read nope.yaml: ENOENT: no such file")
  })
})
