// The controller's cache keeps projected Services: projectService must keep everything serviceView reads
// (the view of the projection is the view of the whole object), and drop the rest.
import type { V1Service } from "@kubernetes/client-node"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { projectService, serviceView } from "../../../shell/kube/views.ts"

const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined })
const small = fc.dictionary(fc.constantFrom("app", "tier", "metallb.io/address-pool", "metallb.io/loadBalancerIPs", "metallb.universe.tf/allow-shared-ip", "kubectl.kubernetes.io/last-applied-configuration"), fc.string({ maxLength: 8 }))
const serviceArb: fc.Arbitrary<V1Service> = fc.record({
  metadata: fc.record({
    name: fc.constantFrom("web", "db"),
    namespace: opt(fc.constantFrom("default", "team")),
    uid: opt(fc.uuid()),
    resourceVersion: opt(fc.nat().map(String)),
    labels: opt(small),
    annotations: opt(small),
    generation: opt(fc.nat()),
    finalizers: opt(fc.constant(["service.kubernetes.io/load-balancer-cleanup"])),
  }, { requiredKeys: ["name"] }),
  spec: opt(fc.record({
    type: opt(fc.constantFrom("LoadBalancer", "ClusterIP", "NodePort")),
    loadBalancerClass: opt(fc.constantFrom("metallb", "other")),
    loadBalancerIP: opt(fc.constantFrom("", "192.0.2.7")),
    clusterIP: opt(fc.constantFrom("198.18.0.1", "None")),
    clusterIPs: opt(fc.constant(["198.18.0.1", "2001:db8::1"])),
    ipFamilyPolicy: opt(fc.constantFrom("SingleStack", "PreferDualStack", "RequireDualStack")),
    ipFamilies: opt(fc.constant(["IPv4"])),
    ports: opt(fc.array(fc.record({ port: fc.integer({ min: 1, max: 65535 }), protocol: opt(fc.constantFrom("TCP", "UDP", "SCTP")), name: opt(fc.constant("http")), nodePort: opt(fc.constant(30080)) }, { requiredKeys: ["port"] }), { maxLength: 3 })),
    externalTrafficPolicy: opt(fc.constantFrom("Cluster", "Local")),
    internalTrafficPolicy: opt(fc.constant("Cluster")),
    sessionAffinity: opt(fc.constant("None")),
    selector: opt(small),
  })),
  status: opt(fc.record({ loadBalancer: opt(fc.record({ ingress: opt(fc.array(fc.record({ ip: opt(fc.constantFrom("192.0.2.1", "2001:db8::7")), ipMode: opt(fc.constant("VIP")) }), { maxLength: 2 })) })) })),
}, { requiredKeys: ["metadata"] }) as fc.Arbitrary<V1Service>

/** The view without kubectl's copy of the manifest, which the projection drops and nothing reads. */
const viewOf = (service: V1Service) => {
  const view = serviceView(service)
  const { ["kubectl.kubernetes.io/last-applied-configuration"]: _dropped, ...annotations } = view.annotations
  return { ...view, annotations }
}

/** The property: a projection keeps the view, the uid and the resourceVersion. */
const keepsView = (project: (s: V1Service) => void) =>
  fc.property(serviceArb, (service) => {
    const projected = structuredClone(service)
    project(projected)
    expect(viewOf(projected)).toEqual(viewOf(service))
    expect([projected.metadata?.uid, projected.metadata?.resourceVersion]).toEqual([service.metadata?.uid, service.metadata?.resourceVersion])
  })

describe("projectService", () => {
  it("keeps what serviceView reads (seed printed on failure)", () => {
    const seed = Date.now() ^ (Math.random() * 0x7fffffff)
    try {
      fc.assert(keepsView(projectService), { seed, numRuns: 300 })
    } catch (error) {
      throw new Error(`projectService: seed ${seed}\n${String(error)}`)
    }
  })

  it("the check fires on a projection that loses the selector", () => {
    const losesSelector = (s: V1Service) => {
      projectService(s)
      if (s.spec !== undefined) delete s.spec.selector
    }
    expect(fc.check(keepsView(losesSelector), { seed: 17, numRuns: 300 }).failed).toBe(true)
  })

  it("drops what nothing reads: kubectl's last-applied copy, node ports, port names, other spec and status fields", () => {
    const service: V1Service = {
      metadata: { name: "web", namespace: "default", generation: 3, annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{...}", "metallb.io/address-pool": "lan" } },
      spec: { type: "LoadBalancer", sessionAffinity: "None", ports: [{ name: "http", port: 80, protocol: "TCP", nodePort: 30080 }] },
      status: { loadBalancer: { ingress: [{ ip: "192.0.2.1", ipMode: "VIP" }] }, conditions: [] },
    }
    projectService(service)
    expect(JSON.parse(JSON.stringify(service))).toEqual({
      metadata: { name: "web", namespace: "default", annotations: { "metallb.io/address-pool": "lan" } },
      spec: { type: "LoadBalancer", ports: [{ port: 80, protocol: "TCP" }] },
      status: { loadBalancer: { ingress: [{ ip: "192.0.2.1" }] } },
    })
  })
})
