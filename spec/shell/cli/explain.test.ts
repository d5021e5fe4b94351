// The explain command over a dump: text and JSON on stdout, exit 0; what stops it (no SERVICE, both
// SERVICE and --all, an unknown Service, an unreadable dump) on stderr with exit 1.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { type ExplainArgs, runExplain, serviceKeyOf } from "../../../shell/cli/explain.ts"

const dump = JSON.stringify({
  apiVersion: "v1",
  kind: "List",
  items: [
    { apiVersion: "v1", kind: "Node", metadata: { name: "node-a" } },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } },
    { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: "p", namespace: "metallb-system" }, spec: { addresses: ["198.51.100.8/32"] } },
    { apiVersion: "metallb.io/v1beta1", kind: "L2Advertisement", metadata: { name: "l2", namespace: "metallb-system" } },
    { apiVersion: "v1", kind: "Service", metadata: { name: "web", namespace: "shop" }, spec: { type: "LoadBalancer", clusterIPs: ["198.18.0.1"], ports: [{ port: 80 }] }, status: { loadBalancer: { ingress: [{ ip: "198.51.100.8" }] } } },
    { apiVersion: "v1", kind: "Service", metadata: { name: "late", namespace: "shop" }, spec: { type: "LoadBalancer", clusterIPs: ["198.18.0.2"], ports: [{ port: 80 }] } },
    { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", metadata: { name: "web-1", namespace: "shop", labels: { "kubernetes.io/service-name": "web" } }, addressType: "IPv4", endpoints: [{ addresses: ["10.0.0.1"], nodeName: "node-a" }] },
  ],
})

const args = (over: Partial<ExplainArgs>): ExplainArgs => ({
  services: [],
  namespace: "default",
  all: false,
  clusterState: "dump.yaml",
  metallbNamespace: "metallb-system",
  ignoreExcludeLb: false,
  output: "text",
  ...over,
})

describe("runExplain", () => {
  let out: Array<string>
  let err: Array<string>
  beforeEach(() => {
    out = []
    err = []
    vi.spyOn(console, "log").mockImplementation((...a: Array<unknown>) => void out.push(a.join(" ")))
    vi.spyOn(console, "error").mockImplementation((...a: Array<unknown>) => void err.push(a.join(" ")))
  })
  afterEach(() => vi.restoreAllMocks())
  const read = (path: string) => {
    if (path !== "dump.yaml") throw new Error(`ENOENT: ${path}`)
    return dump
  }

  it("explains a Service by name and namespace, in text", async () => {
    expect(await Effect.runPromise(runExplain(args({ services: ["web"], namespace: "shop" }), read))).toBe(0)
    const text = out.join("\n")
    expect(text).toMatch(/^Read from file dump\.yaml\./)
    expect(text).toMatch(/Service shop\/web\n {2}status: 198\.51\.100\.8\n {2}addresses: 198\.51\.100\.8 from pool p\n {2}how: kept from its status/)
    expect(text).toMatch(/announced by node-a on every usable interface/)
    expect(err).toEqual([])
  })

  it("--all -o json: every LoadBalancer Service, structured; the pending one's pool is exhausted", async () => {
    expect(await Effect.runPromise(runExplain(args({ all: true, output: "json" }), read))).toBe(0)
    const json = JSON.parse(out.join("\n")) as { services: Array<{ service: string; allocation: { _tag: string; error?: string } }> }
    expect(json.services.map((s) => [s.service, s.allocation._tag, s.allocation.error])).toEqual([["shop/late", "Failed", "PoolExhausted"], ["shop/web", "Assigned", undefined]])
  })

  it("refuses no SERVICE, SERVICE with --all, an unknown Service and an unreadable dump, with exit 1", async () => {
    const cases: ReadonlyArray<readonly [Partial<ExplainArgs>, RegExp]> = [
      [{}, /give a SERVICE to explain/],
      [{ all: true, services: ["web"] }, /--all explains every LoadBalancer Service: give no SERVICE/],
      [{ services: ["shop/nope"] }, /no Service shop\/nope in file dump\.yaml/],
      [{ services: ["web"], clusterState: "missing.yaml" }, /cannot read missing\.yaml: ENOENT/],
      [{ services: ["web"], kubeconfig: "k" }, /exclude each other/],
    ]
    for (const [over, message] of cases) {
      err = []
      expect(await Effect.runPromise(runExplain(args(over), read))).toBe(1)
      expect(err.join("\n")).toMatch(message)
    }
  })

  it("takes namespace/name as is and a bare name in -n's namespace", () => {
    expect(serviceKeyOf("shop/web", "default")).toBe("shop/web")
    expect(serviceKeyOf("web", "shop")).toBe("shop/web")
  })
})
