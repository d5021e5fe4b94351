// The speaker's snapshot from the informers' objects: the views it decodes, and the sharing the node
// machine's pass cache relies on (an object the watch did not replace keeps its view, by reference).
import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node"
import { describe, expect, it } from "vitest"
import { formatAddress } from "../../../core/net/address.ts"
import { snapshotOf } from "../../../shell/speaker/cluster-snapshot.ts"

const svc = (name: string, ips: ReadonlyArray<string>, extra: Partial<V1Service["spec"]> = {}): V1Service => ({
  metadata: { namespace: "default", name, labels: { app: name }, annotations: { "metallb.io/ip-allocated-from-pool": "lan" } },
  spec: { type: "LoadBalancer", ...extra },
  status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
})
const slice = (service: string, name: string, nodes: ReadonlyArray<string>, ready = true): V1EndpointSlice => ({
  metadata: { namespace: "default", name, labels: { "kubernetes.io/service-name": service } },
  addressType: "IPv4",
  endpoints: nodes.map((nodeName) => ({ addresses: ["198.18.0.1"], nodeName, conditions: { ready } })),
})
const node = (name: string, unavailable = false): V1Node => ({
  metadata: { name, labels: { zone: "a" } },
  status: { addresses: [{ type: "InternalIP", address: "192.0.2.1" }], conditions: unavailable ? [{ type: "NetworkUnavailable", status: "True" }] : [] },
})

describe("snapshotOf", () => {
  it("decodes services of the class, endpoints per service over all its slices, and nodes", () => {
    const snapshot = snapshotOf(
      [svc("web", ["192.0.2.10"], { externalTrafficPolicy: "Local" }), svc("other", ["192.0.2.11"], { loadBalancerClass: "else" })],
      [slice("web", "web-1", ["n1"]), slice("web", "web-2", ["n2"], false)],
      [node("n1"), node("n2", true)],
      undefined,
    )
    expect(snapshot.services.map((s) => [s.key, s.addresses.map(formatAddress), s.pool, s.externalTrafficPolicy, s.sharedAddress]))
      .toEqual([["default/web", ["192.0.2.10"], "lan", "Local", false]])
    expect(snapshot.endpoints.get("default/web")).toEqual([{ node: "n1", serving: true }, { node: "n2", serving: false }])
    expect(snapshot.nodes.map((n) => [n.name, n.networkUnavailable, n.addresses?.map(formatAddress)])).toEqual([["n1", false, ["192.0.2.1"]], ["n2", true, ["192.0.2.1"]]])
  })

  it("keeps the views of unchanged objects by reference and builds new ones for replaced objects", () => {
    const [web, api] = [svc("web", ["192.0.2.10"]), svc("api", ["192.0.2.11"])]
    const [webSlice, apiSlice] = [slice("web", "web-1", ["n1"]), slice("api", "api-1", ["n1", "n2"])]
    const nodes = [node("n1"), node("n2")]
    const first = snapshotOf([web, api], [webSlice, apiSlice], nodes, undefined)
    // The watch replaced api (a new address) and web's slice; web and api's slice are the same objects.
    const api2 = svc("api", ["192.0.2.12"])
    const webSlice2 = slice("web", "web-1", ["n2"])
    const second = snapshotOf([web, api2], [webSlice2, apiSlice], nodes, undefined)
    expect(second.services[0]).toBe(first.services[0])
    expect(second.services[1]).not.toBe(first.services[1])
    expect(second.services[1]!.addresses.map(formatAddress)).toEqual(["192.0.2.12"])
    expect(second.endpoints.get("default/api")).toBe(first.endpoints.get("default/api"))
    expect(second.endpoints.get("default/web")).toEqual([{ node: "n2", serving: true }])
    expect(second.nodes[0]).toBe(first.nodes[0])
    // Another service taking web's address makes web's view a new one (shared), and back.
    const third = snapshotOf([web, api2, svc("twin", ["192.0.2.10"])], [webSlice2, apiSlice], nodes, undefined)
    expect(third.services[0]).not.toBe(second.services[0])
    expect(third.services[0]!.sharedAddress).toBe(true)
    expect(snapshotOf([web, api2], [webSlice2, apiSlice], nodes, undefined).services[0]!.sharedAddress).toBe(false)
    // A slice replaced by one of another Service, a slice added: the endpoints are grouped again.
    const moved = snapshotOf([web, api2], [slice("api", "api-2", ["n3"]), apiSlice], nodes, undefined)
    expect([...moved.endpoints]).toEqual([["default/api", [{ node: "n3", serving: true }, { node: "n1", serving: true }, { node: "n2", serving: true }]]])
    const added = snapshotOf([web, api2], [webSlice2, apiSlice, slice("web", "web-3", ["n3"])], nodes, undefined)
    expect(added.endpoints.get("default/web")).toEqual([{ node: "n2", serving: true }, { node: "n3", serving: true }])
  })
})
