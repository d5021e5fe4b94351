// The controller process against the real API server, as its ServiceAccount with the manifests' RBAC:
// MetalLB's allocation features end to end. Requested addresses (annotation and spec.loadBalancerIP),
// sharing one address between TCP and UDP services, a dual-stack service from a dual pool, the pool
// annotation, a full pool (AllocationFailed, the service waits, then gets the address another service
// frees) and deleting pools that are in use.
//
// Pools are autoAssign: false except `default`, so every scenario draws only from the pool it names.
import { type V1Service } from "@kubernetes/client-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { apiServerSkipReason } from "../support/apiserver.ts"
import { applyYaml, type ControllerTestbed, ingressOf, metallbNamespace, poolYaml, startControllerTestbed } from "../support/controller-process.ts"
import { eventually } from "../support/netns.ts"
import { skipUnlessCi } from "../support/skip.ts"

const ns = "default"
const manual = "  autoAssign: false\n"

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("metallb-ts controller: allocation features against the real API server", () => {
  let bed: ControllerTestbed

  beforeAll(async () => {
    bed = await startControllerTestbed()
    applyYaml(bed.api, [
      poolYaml("default", ["192.0.2.0/27"]),
      poolYaml("requested", ["198.51.100.0/24"], manual),
      poolYaml("shared", ["203.0.113.0/28"], manual),
      poolYaml("dual", ["192.0.2.64/28", "2001:db8:1::/120"], manual),
      poolYaml("tiny", ["192.0.2.96/31"], manual),
      poolYaml("doomed", ["192.0.2.128/30"], manual),
      poolYaml("pinned", ["192.0.2.144/28"], "  serviceAllocation:\n    namespaces: [moving]\n"),
    ].join("---\n"))
    await bed.core.createNamespace({ body: { metadata: { name: "moving" } } })
    await bed.start("controller")
  }, 120_000)

  afterAll(async () => {
    await bed?.stop()
  })

  const create = (name: string, spec: { annotations?: Record<string, string>; ports?: V1Service["spec"] extends infer S ? S extends { ports?: infer P } ? P : never : never; extra?: Partial<NonNullable<V1Service["spec"]>>; namespace?: string } = {}) =>
    bed.core.createNamespacedService({
      namespace: spec.namespace ?? ns,
      body: {
        metadata: { name, ...(spec.annotations === undefined ? {} : { annotations: spec.annotations }) },
        spec: { type: "LoadBalancer", selector: { app: name }, ports: spec.ports ?? [{ port: 80, protocol: "TCP" }], ...spec.extra },
      },
    })
  const read = (name: string, namespace = ns) => bed.core.readNamespacedService({ name, namespace })
  const addressOf = (name: string, namespace = ns, count = 1) =>
    eventually(`${namespace}/${name}'s address`, async () => {
      const ips = ingressOf(await read(name, namespace))
      return ips.length >= count ? ips : undefined
    }, { timeoutMs: 30_000 })
  const eventsFor = async (name: string, namespace = ns) =>
    (await bed.events.listNamespacedEvent({ namespace })).items.filter((e) => e.regarding?.name === name)
  const eventually_ = <A>(what: string, probe: () => Promise<A | undefined>) => eventually(what, probe, { timeoutMs: 30_000 })

  it("honours a requested address from the loadBalancerIPs annotation and from spec.loadBalancerIP, and refuses one in use", async () => {
    await create("by-annotation", { annotations: { "metallb.io/loadBalancerIPs": "198.51.100.7" } })
    await create("by-spec", { extra: { loadBalancerIP: "198.51.100.9" } })
    expect(await addressOf("by-annotation")).toEqual(["198.51.100.7"])
    expect(await addressOf("by-spec")).toEqual(["198.51.100.9"])
    expect((await read("by-annotation")).metadata?.annotations?.["metallb.io/ip-allocated-from-pool"]).toBe("requested")

    await create("wants-taken", { annotations: { "metallb.io/loadBalancerIPs": "198.51.100.7" } })
    const failed = await eventually_("AllocationFailed for a taken address", async () =>
      (await eventsFor("wants-taken")).find((e) => e.reason === "AllocationFailed"))
    expect(failed.type).toBe("Warning")
    expect(failed.note).toContain("198.51.100.7")
    expect(ingressOf(await read("wants-taken"))).toEqual([])
  })

  it("shares one address between a TCP and a UDP service on the same port under allow-shared-ip, not between clashing ports", async () => {
    const annotations = { "metallb.io/allow-shared-ip": "dns", "metallb.io/address-pool": "shared" }
    await create("dns-tcp", { annotations, ports: [{ port: 53, protocol: "TCP" }] })
    const [tcp] = await addressOf("dns-tcp")
    await create("dns-udp", { annotations, ports: [{ port: 53, protocol: "UDP" }] })
    expect(await addressOf("dns-udp")).toEqual([tcp])
    // Same key, but TCP/53 is taken on that address: the third one gets an address of its own.
    await create("dns-tcp-2", { annotations, ports: [{ port: 53, protocol: "TCP" }] })
    const [other] = await addressOf("dns-tcp-2")
    expect(other).not.toBe(tcp)
    // Requested explicitly, sharing still needs matching keys.
    await create("dns-requested", { annotations: { ...annotations, "metallb.io/loadBalancerIPs": tcp ?? "" }, ports: [{ port: 853, protocol: "TCP" }] })
    expect(await addressOf("dns-requested")).toEqual([tcp])
    await create("no-key", { annotations: { "metallb.io/loadBalancerIPs": tcp ?? "" }, ports: [{ port: 443, protocol: "TCP" }] })
    await eventually_("no-key refused", async () => (await eventsFor("no-key")).find((e) => e.reason === "AllocationFailed"))
  })

  it("gives a RequireDualStack service one address of each family from a dual pool", async () => {
    await create("dual", {
      annotations: { "metallb.io/address-pool": "dual" },
      extra: { ipFamilyPolicy: "RequireDualStack", ipFamilies: ["IPv4", "IPv6"] },
    })
    const service = await read("dual")
    expect(service.spec?.clusterIPs).toHaveLength(2)
    expect(await addressOf("dual", ns, 2)).toEqual(["192.0.2.64", "2001:db8:1::"])
    // A PreferDualStack service gets both too when its pool has both.
    await create("prefer-dual", {
      annotations: { "metallb.io/address-pool": "dual" },
      extra: { ipFamilyPolicy: "PreferDualStack", ipFamilies: ["IPv6", "IPv4"] },
    })
    expect(await addressOf("prefer-dual", ns, 2)).toEqual(["2001:db8:1::1", "192.0.2.65"])
  })

  it("takes the address from the pool the address-pool annotation names and records it", async () => {
    await create("annotated", { annotations: { "metallb.io/address-pool": "requested" } })
    const [ip] = await addressOf("annotated")
    expect(ip).toMatch(/^198\.51\.100\./)
    expect((await read("annotated")).metadata?.annotations?.["metallb.io/ip-allocated-from-pool"]).toBe("requested")
    // The deprecated prefix still works, with a deprecatedAnnotation warning.
    await create("annotated-old", { annotations: { "metallb.universe.tf/address-pool": "shared" } })
    expect((await addressOf("annotated-old"))[0]).toMatch(/^203\.0\.113\./)
    await eventually_("deprecatedAnnotation", async () => (await eventsFor("annotated-old")).find((e) => e.reason === "deprecatedAnnotation"))
    // A plain service takes the default pool.
    await create("plain")
    expect((await addressOf("plain"))[0]).toMatch(/^192\.0\.2\.([0-9]|[12][0-9]|3[01])$/)
  })

  it("reports a full pool with AllocationFailed, keeps the service pending, and assigns the address another service frees", async () => {
    const annotations = { "metallb.io/address-pool": "tiny" }
    await create("tiny-1", { annotations })
    await create("tiny-2", { annotations })
    const held = [...(await addressOf("tiny-1")), ...(await addressOf("tiny-2"))].sort()
    expect(held).toEqual(["192.0.2.96", "192.0.2.97"])
    await create("tiny-3", { annotations })
    const failed = await eventually_("AllocationFailed", async () => (await eventsFor("tiny-3")).find((e) => e.reason === "AllocationFailed"))
    expect(failed.note).toMatch(/tiny/)
    await new Promise((r) => setTimeout(r, 3_000)) // a resync or two later it is still pending
    expect(ingressOf(await read("tiny-3"))).toEqual([])
    expect((await eventsFor("tiny-3")).filter((e) => e.reason === "AllocationFailed")).toHaveLength(1) // not repeated
    const freed = ingressOf(await read("tiny-1"))[0]
    await bed.core.deleteNamespacedService({ name: "tiny-1", namespace: ns })
    expect(await addressOf("tiny-3")).toEqual([freed])
  })

  it("deleting a pool in use: a pinned service moves to another pool (ClearAssignment, IPAllocated); an annotated one is cleared (AllocationFailed)", async () => {
    await create("mover", { namespace: "moving" })
    const [before] = await addressOf("mover", "moving")
    expect(before).toMatch(/^192\.0\.2\.14[4-9]$/)
    await create("doomed-user", { annotations: { "metallb.io/address-pool": "doomed" } })
    expect(await addressOf("doomed-user")).toEqual(["192.0.2.128"])

    bed.api.kubectl(["delete", "ipaddresspool", "pinned", "doomed", "-n", metallbNamespace])
    const [after] = await eventually_("mover re-allocated", async () => {
      const ips = ingressOf(await read("mover", "moving"))
      return ips.length > 0 && ips[0] !== before ? ips : undefined
    })
    expect(after).toMatch(/^192\.0\.2\.([0-9]|[12][0-9]|3[01])$/) // from `default`
    expect((await read("mover", "moving")).metadata?.annotations?.["metallb.io/ip-allocated-from-pool"]).toBe("default")
    const moverEvents = await eventually_("ClearAssignment and IPAllocated", async () => {
      const reasons = (await eventsFor("mover", "moving")).map((e) => e.reason)
      return reasons.includes("ClearAssignment") && reasons.filter((r) => r === "IPAllocated").length === 2 ? reasons : undefined
    })
    expect(moverEvents).toContain("ClearAssignment")

    await eventually_("doomed-user cleared", async () => (ingressOf(await read("doomed-user")).length === 0 ? true : undefined))
    const reasons = await eventually_("doomed-user's events", async () => {
      const r = (await eventsFor("doomed-user")).map((e) => e.reason)
      return r.includes("AllocationFailed") && r.includes("ClearAssignment") ? r : undefined
    })
    expect(reasons).toContain("AllocationFailed")
    expect((await read("doomed-user")).metadata?.annotations?.["metallb.io/ip-allocated-from-pool"]).toBeUndefined()

    // The pool comes back: the annotated service gets an address again.
    applyYaml(bed.api, poolYaml("doomed", ["192.0.2.128/30"], manual))
    expect(await addressOf("doomed-user")).toEqual(["192.0.2.128"])
  })
})
