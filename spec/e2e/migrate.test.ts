// Switching from MetalLB: Services exactly as MetalLB leaves them (status set, annotations under both
// prefixes, MetalLB's metallb.io/ip-allocated-from-pool, addresses MetalLB picked at random rather than
// the lowest free ones metallb-ts would pick), MetalLB's configuration objects, and no controller.
// `metallb-ts plan --from-live` predicts that every Service keeps its address; the metallb-ts controller
// then starts and, watched continuously, changes no address; the one Service MetalLB (before 0.14) left
// without a pool annotation gets it, as the plan said, and nothing else is written.
import { makeInformer, type V1Service } from "@kubernetes/client-node"
import { setTimeout as sleep } from "node:timers/promises"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { apiServerSkipReason } from "../support/apiserver.ts"
import { applyYaml, type ControllerTestbed, ingressOf, metallbNamespace, poolYaml, startControllerTestbed } from "../support/controller-process.ts"
import { eventually } from "../support/netns.ts"
import { skipUnlessCi } from "../support/skip.ts"
import { runPlan, servicesIn } from "./plan-support.ts"

const ns = "legacy"
const pool = "metallb.io/ip-allocated-from-pool"

interface Legacy {
  readonly name: string
  readonly ips: ReadonlyArray<string>
  readonly annotations?: Record<string, string>
  readonly spec?: Partial<NonNullable<V1Service["spec"]>>
}

// As MetalLB 0.14/0.15 leaves them; the deprecated prefix where users of older releases still have it.
const services: ReadonlyArray<Legacy> = [
  { name: "web", ips: ["192.0.2.17"], annotations: { [pool]: "production" } },
  { name: "old-prefix-pool", ips: ["198.51.100.9"], annotations: { "metallb.universe.tf/address-pool": "reserved", [pool]: "reserved" } },
  { name: "old-prefix-ips", ips: ["192.0.2.5"], annotations: { "metallb.universe.tf/loadBalancerIPs": "192.0.2.5", [pool]: "production" } },
  { name: "new-prefix-ips", ips: ["192.0.2.6"], annotations: { "metallb.io/loadBalancerIPs": "192.0.2.6", [pool]: "production" } },
  { name: "spec-ip", ips: ["192.0.2.30"], spec: { loadBalancerIP: "192.0.2.30" }, annotations: { [pool]: "production" } },
  { name: "dns-tcp", ips: ["192.0.2.9"], annotations: { "metallb.universe.tf/allow-shared-ip": "dns", [pool]: "production" }, spec: { ports: [{ port: 53, protocol: "TCP" }] } },
  { name: "dns-udp", ips: ["192.0.2.9"], annotations: { "metallb.io/allow-shared-ip": "dns", [pool]: "production" }, spec: { ports: [{ port: 53, protocol: "UDP" }] } },
  {
    name: "dual",
    ips: ["192.0.2.70", "2001:db8:1::1a"],
    annotations: { "metallb.io/address-pool": "dual", [pool]: "dual" },
    spec: { ipFamilyPolicy: "RequireDualStack", ipFamilies: ["IPv4", "IPv6"] },
  },
  { name: "local", ips: ["192.0.2.3"], annotations: { [pool]: "production" }, spec: { externalTrafficPolicy: "Local" } },
  // MetalLB before 0.14 wrote no pool annotation.
  { name: "pre-0-14", ips: ["192.0.2.21"] },
  // Another load balancer's Service: not ours to touch.
  { name: "other-class", ips: ["203.0.113.7"], spec: { loadBalancerClass: "example.com/other-lb" } },
]

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("switching from MetalLB: plan --from-live, then the controller", () => {
  let bed: ControllerTestbed

  beforeAll(async () => {
    bed = await startControllerTestbed()
    applyYaml(bed.api, [
      poolYaml("production", ["192.0.2.0/27"]),
      poolYaml("reserved", ["198.51.100.0/28"], "  autoAssign: false\n"),
      poolYaml("dual", ["192.0.2.64/28", "2001:db8:1::/120"], "  autoAssign: false\n"),
      `apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: l2\n  namespace: ${metallbNamespace}\n`,
    ].join("---\n"))
    await bed.core.createNamespace({ body: { metadata: { name: ns } } })
    for (const s of services) {
      await bed.core.createNamespacedService({
        namespace: ns,
        body: {
          metadata: { name: s.name, annotations: s.annotations ?? {} },
          spec: { type: "LoadBalancer", selector: { app: s.name }, ports: [{ port: 80, protocol: "TCP" }], ...s.spec },
        },
      })
      const status = JSON.stringify({ status: { loadBalancer: { ingress: s.ips.map((ip) => ({ ip, ipMode: "VIP" })) } } })
      bed.api.kubectl(["patch", "service", s.name, "-n", ns, "--subresource=status", "--type=merge", "-p", status])
    }
  }, 120_000)

  afterAll(async () => {
    await bed?.stop()
  })

  it("plan --from-live predicts 0 address changes, and the controller then makes none", async () => {
    const before = await servicesIn(bed.core, ns)
    expect(Object.fromEntries([...before].map(([key, s]) => [key, s.ingress]))).toEqual(Object.fromEntries(services.map((s) => [`${ns}/${s.name}`, s.ips.join(",")])))

    const plan = runPlan(bed.api, ["--from-live"])
    console.log(`plan --from-live:\n${plan.text}`)
    expect(plan.status).toBe(0)
    // Ours with an address: every one but the other class's.
    expect(plan.json.unchanged).toBe(services.length - 2)
    expect(plan.json.services.map((c) => [c.service, c.kind, c.after, c.poolAfter])).toEqual([[`${ns}/pre-0-14`, "pool", ["192.0.2.21"], "production"]])

    // Every address the API server shows for each service from now on, in order.
    const history = new Map<string, Array<string>>()
    const informer = makeInformer(bed.api.kubeConfig, `/api/v1/namespaces/${ns}/services`, () => bed.core.listNamespacedService({ namespace: ns }))
    const record = (s: V1Service) => {
      const seen = history.get(s.metadata?.name ?? "") ?? []
      const ips = ingressOf(s).join(",")
      if (seen[seen.length - 1] !== ips) seen.push(ips)
      history.set(s.metadata?.name ?? "", seen)
    }
    informer.on("add", record)
    informer.on("update", record)
    await informer.start()
    try {
      await bed.start("controller")
      // Its first pass writes the one missing pool annotation: the controller has seen every Service.
      await eventually("the controller's first pass", async () => ((await servicesIn(bed.core, ns)).get(`${ns}/pre-0-14`)?.pool === "production" ? true : undefined), { timeoutMs: 60_000 })
      // A few more passes' worth of time for a change that would come late.
      await sleep(3_000)
      const after = await servicesIn(bed.core, ns)
      const expected = new Map(before)
      expected.set(`${ns}/pre-0-14`, { ingress: "192.0.2.21", pool: "production" })
      expect(Object.fromEntries(after)).toEqual(Object.fromEntries(expected))
      const moved = [...history].filter(([, seen]) => seen.length !== 1)
      expect(moved, `address changes: ${JSON.stringify(moved)}`).toEqual([])
      const events = (await bed.events.listNamespacedEvent({ namespace: ns })).items.filter((e) => e.type === "Warning" && e.reason !== "deprecatedAnnotation")
      expect(events.map((e) => `${e.regarding?.name}: ${e.reason}: ${e.note}`)).toEqual([])
    } finally {
      await informer.stop()
    }
    // With metallb-ts in charge, planning the live configuration predicts nothing.
    const again = runPlan(bed.api, ["--from-live"])
    expect(again.json.services).toEqual([])
    expect(again.status).toBe(0)
  }, 300_000)
})
