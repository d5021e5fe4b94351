// The plan command offline: a dump as `kubectl get ... -A -o yaml` prints it and FILEs, read through
// the same reader as `explain`; what it prints and the exit status a pipeline gates on.
import { Effect } from "effect"
import { describe, expect, it, vi } from "vitest"
import { type PlanArgs, runPlan } from "../../../shell/cli/plan.ts"

const pool = (name: string, addresses: ReadonlyArray<string>, extra: Record<string, unknown> = {}) => ({
  apiVersion: "metallb.io/v1beta1",
  kind: "IPAddressPool",
  metadata: { name, namespace: "metallb-system" },
  spec: { addresses, ...extra },
})
const service = (name: string, ip: string, poolName: string) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: "shop", annotations: { "metallb.io/ip-allocated-from-pool": poolName } },
  spec: { type: "LoadBalancer", clusterIP: "198.18.0.10", clusterIPs: ["198.18.0.10"], ports: [{ port: 80, protocol: "TCP" }] },
  status: { loadBalancer: { ingress: [{ ip }] } },
})
const dump = JSON.stringify({
  apiVersion: "v1",
  kind: "List",
  items: [
    pool("main", ["192.0.2.0/28"]),
    { apiVersion: "metallb.io/v1beta1", kind: "L2Advertisement", metadata: { name: "l2", namespace: "metallb-system" } },
    service("web", "192.0.2.12", "main"),
    service("db", "192.0.2.1", "main"),
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", labels: {} } },
    { apiVersion: "v1", kind: "Node", metadata: { name: "node-a", labels: {} }, status: { addresses: [{ type: "InternalIP", address: "203.0.113.10" }] } },
    { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", metadata: { name: "web-1", namespace: "shop", labels: { "kubernetes.io/service-name": "web" } }, addressType: "IPv4", endpoints: [{ addresses: ["10.0.0.1"], nodeName: "node-a", conditions: { ready: true } }] },
  ],
})
const files: Record<string, string> = {
  "dump.yaml": dump,
  "same.yaml": "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: main\n  namespace: metallb-system\nspec:\n  addresses: [192.0.2.0/28]\n",
  "shrink.yaml": "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: main\n  namespace: metallb-system\nspec:\n  addresses: [192.0.2.0/29]\n",
  "broken.yaml": "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: main\nspec:\n  addresses: [192.0.2.0/33]\n",
  "syntax.yaml": "kind: [unclosed\n",
}
const readFile = (path: string) => {
  const text = files[path]
  if (text === undefined) throw new Error(`ENOENT: no such file, open '${path}'`)
  return text
}

const run = async (args: Partial<PlanArgs>) => {
  const out: Array<string> = []
  const err: Array<string> = []
  const log = vi.spyOn(console, "log").mockImplementation((...a: Array<unknown>) => void out.push(a.join(" ")))
  const error = vi.spyOn(console, "error").mockImplementation((...a: Array<unknown>) => void err.push(a.join(" ")))
  try {
    const code = await Effect.runPromise(runPlan({ files: [], fromLive: false, prune: false, namespace: "metallb-system", output: "text", clusterState: "dump.yaml", ...args }, readFile))
    return { code, out: out.join("\n"), err: err.join("\n") }
  } finally {
    log.mockRestore()
    error.mockRestore()
  }
}

describe("metallb-ts plan (offline, --cluster-state)", () => {
  it("exit 0 when the FILEs change nothing for any Service", async () => {
    const r = await run({ files: ["same.yaml"] })
    expect(r.code).toBe(0)
    expect(r.out).toContain("unchanged IPAddressPool/main")
    expect(r.out).toContain("no change for any Service")
  })

  it("exit 2 with the Service that moves, why, and its Layer 2 announcement moving", async () => {
    const r = await run({ files: ["shrink.yaml"] })
    expect(r.code).toBe(2)
    expect(r.out).toContain("~ shop/web: 192.0.2.12 -> 192.0.2.0 (pool main shrank: 192.0.2.12 is no longer in it; new address from pool main)")
    expect(r.out).toContain("- layer2 192.0.2.12 (shop/web) from node-a on every interface")
    expect(r.out).toContain("+ layer2 192.0.2.0 (shop/web) from node-a on every interface")
  })

  it("JSON carries the same plan and the exit status", async () => {
    const r = await run({ files: ["shrink.yaml"], output: "json" })
    const json = JSON.parse(r.out) as { exitCode: number; services: ReadonlyArray<{ service: string; after: ReadonlyArray<string> }> }
    expect(json.exitCode).toBe(2)
    expect(json.services.map((s) => [s.service, s.after])).toEqual([["shop/web", ["192.0.2.0"]]])
  })

  it("exit 1 for an invalid configuration or YAML syntax, with every error", async () => {
    const invalid = await run({ files: ["broken.yaml"] })
    expect(invalid.code).toBe(1)
    expect(invalid.out).toMatch(/error: broken\.yaml#0: IPAddressPool main: spec\.addresses\[0\]/)
    const syntax = await run({ files: ["syntax.yaml"] })
    expect(syntax.code).toBe(1)
    expect(syntax.out).toContain("error: syntax.yaml#0: YAML document 0")
  })

  it("--from-live: the dump's Services keep their addresses", async () => {
    const r = await run({ fromLive: true })
    expect(r.code).toBe(0)
    expect(r.out).toContain("takeover")
    expect(r.out).toContain("2 keep theirs")
  })

  it("refuses contradictory arguments and unreadable files with a clear message", async () => {
    expect(await run({ fromLive: true, files: ["same.yaml"] })).toMatchObject({ code: 1, err: expect.stringContaining("--from-live plans the live configuration as it is") })
    expect(await run({})).toMatchObject({ code: 1, err: expect.stringContaining("give the configuration FILEs to plan, or --from-live") })
    expect(await run({ files: ["missing.yaml"] })).toMatchObject({ code: 1, err: expect.stringContaining("cannot read missing.yaml") })
    expect(await run({ files: ["same.yaml"], kubeconfig: "k" })).toMatchObject({ code: 1, err: expect.stringContaining("exclude each other") })
  })
})
