import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Config } from "../../../core/config/config.ts"
import { resolve } from "../../../core/config/resolve.ts"
import { applyConfig, type ControllerState, initialState, reconcileAll, reconcileService, type ServiceOutcome } from "../../../core/controller/reconcile.ts"
import type { ServiceView } from "../../../core/controller/service.ts"
import { loadBalancer } from "./fixtures.ts"

const configOf = (pools: Array<{ name: string; addresses: Array<string>; autoAssign?: boolean }>): Config => {
  const r = resolve(pools.map(({ name, ...spec }) => ({ value: { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name }, spec } })))
  if (r._tag === "Invalid") throw new Error(JSON.stringify(r.errors))
  return r.config
}
const config = configOf([{ name: "default", addresses: ["192.0.2.0/29"] }, { name: "other", addresses: ["198.51.100.0/30", "2001:db8::/126"] }])
const started = (c: Config = config): ControllerState => applyConfig(initialState, c)

let clusterIp = 1
const lb = (name: string, extra: Partial<ServiceView> = {}): ServiceView => loadBalancer(name, { clusterIPs: [`198.18.0.${clusterIp++ % 250}`], ...extra })
const noLabels = () => ({})
const run = (state: ControllerState, service: ServiceView) => reconcileService(state, service, {})
const reasons = (o: ServiceOutcome) => o.events.map((e) => e.reason)

describe("controller reconcile", () => {
  it("gives a new LoadBalancer service the lowest free address, with its pool and an IPAllocated event", () => {
    const { outcome } = run(started(), lb("web"))
    expect(outcome).toMatchObject({ key: "default/web", ingress: ["192.0.2.0"], pool: "default" })
    expect(reasons(outcome)).toEqual(["IPAllocated"])
  })

  it("keeps the addresses in status after a restart, and hands out others to new services", () => {
    const services = [lb("new-one"), lb("old", { ingressIPs: ["192.0.2.5"] }), lb("old-v6", { clusterIPs: ["2001:db8:ffff::1"], ingressIPs: ["2001:db8::2"] })]
    const { outcomes } = reconcileAll(started(), services, noLabels)
    const byKey = Object.fromEntries(outcomes.map((o) => [o.key, o]))
    expect(byKey["default/old"]).toMatchObject({ ingress: ["192.0.2.5"], events: [] })
    expect(byKey["default/old-v6"]).toMatchObject({ ingress: ["2001:db8::2"], pool: "other", events: [] })
    expect(byKey["default/new-one"]?.ingress).toEqual(["192.0.2.0"])
  })

  it("honours requested addresses from the annotation or spec.loadBalancerIP, and refuses both at once", () => {
    expect(run(started(), lb("a", { annotations: { "metallb.io/loadBalancerIPs": "198.51.100.2" } })).outcome.ingress).toEqual(["198.51.100.2"])
    expect(run(started(), lb("b", { loadBalancerIP: "192.0.2.7" })).outcome.ingress).toEqual(["192.0.2.7"])
    const both = run(started(), lb("c", { loadBalancerIP: "192.0.2.7", annotations: { "metallb.io/loadBalancerIPs": "192.0.2.6" } })).outcome
    expect(both.ingress).toBeUndefined()
    expect(reasons(both)).toEqual(["AllocationFailed"])
  })

  it("reads the deprecated annotation prefix, with a warning; metallb.io/ wins", () => {
    const old = run(started(), lb("a", { annotations: { "metallb.universe.tf/address-pool": "other" } })).outcome
    expect(old.pool).toBe("other")
    expect(reasons(old)).toEqual(["deprecatedAnnotation", "IPAllocated"])
    const both = run(started(), lb("b", { annotations: { "metallb.universe.tf/address-pool": "other", "metallb.io/address-pool": "default" } })).outcome
    expect(both.pool).toBe("default")
  })

  it("moves a service when its pool annotation changes", () => {
    const first = run(started(), lb("a"))
    const moved = run(first.state, lb("a", { annotations: { "metallb.io/address-pool": "other" }, ingressIPs: first.outcome.ingress ?? [] })).outcome
    expect(moved).toMatchObject({ ingress: ["198.51.100.0"], pool: "other" })
    expect(reasons(moved)).toEqual(["ClearAssignment", "IPAllocated"])
  })

  it("ignores services of another loadBalancerClass, and clears services that stop being LoadBalancers", () => {
    expect(run(started(), lb("a", { loadBalancerClass: "other.io/lb" })).outcome.ingress).toBeUndefined()
    expect(reconcileService(started(), lb("a", { loadBalancerClass: "metallb.io/lb" }), {}, { loadBalancerClass: "metallb.io/lb" }).outcome.ingress).toEqual(["192.0.2.0"])
    const first = run(started(), lb("a"))
    const cleared = run(first.state, lb("a", { type: "ClusterIP", ingressIPs: ["192.0.2.0"] }))
    expect(cleared.outcome.ingress).toEqual([])
    expect(run(cleared.state, lb("b")).outcome.ingress).toEqual(["192.0.2.0"])
  })

  it("keeps a service's address when its annotations become unreadable (MetalLB would clear it)", () => {
    const first = run(started(), lb("a"))
    const broken = run(first.state, lb("a", { annotations: { "metallb.io/loadBalancerIPs": "not-an-ip" }, ingressIPs: ["192.0.2.0"] }))
    expect(broken.outcome.ingress).toBeUndefined()
    expect(reasons(broken.outcome)).toEqual(["AllocationFailed"])
    expect(run(broken.state, lb("b")).outcome.ingress).toEqual(["192.0.2.1"])
  })

  it("reallocates only services whose address left every pool on a configuration change", () => {
    const { state, outcomes } = reconcileAll(started(), [lb("a", { ingressIPs: ["192.0.2.1"] }), lb("b", { ingressIPs: ["192.0.2.6"] })], noLabels)
    expect(outcomes.map((o) => o.ingress)).toEqual([["192.0.2.1"], ["192.0.2.6"]])
    const shrunk = applyConfig(state, configOf([{ name: "default", addresses: ["192.0.2.0/30"] }]))
    const after = reconcileAll(shrunk, [lb("a", { ingressIPs: ["192.0.2.1"] }), lb("b", { ingressIPs: ["192.0.2.6"] })], noLabels).outcomes
    expect(after[0]).toMatchObject({ ingress: ["192.0.2.1"], events: [] })
    expect(after[1]?.ingress).toEqual(["192.0.2.0"])
    expect(reasons(after[1]!)).toEqual(["ClearAssignment", "IPAllocated"])
  })

  it("clears RequireDualStack services with one ClusterIP, and serves dual-stack ones from one pool", () => {
    const single = run(started(), lb("a", { ipFamilyPolicy: "RequireDualStack" })).outcome
    expect(single.ingress).toEqual([])
    expect(reasons(single)).toEqual(["AllocationFailed"])
    const dual = run(started(), lb("b", { ipFamilyPolicy: "RequireDualStack", clusterIPs: ["198.18.1.1", "2001:db8:ffff::9"] })).outcome
    expect(dual).toMatchObject({ ingress: ["198.51.100.0", "2001:db8::"], pool: "other" })
  })

  it("shares an address between services that allow it on different ports", () => {
    const shared = { "metallb.io/allow-shared-ip": "dns" }
    const a = run(started(), lb("tcp", { annotations: { ...shared, "metallb.io/loadBalancerIPs": "192.0.2.3" }, ports: [{ protocol: "TCP", port: 53 }] }))
    const b = run(a.state, lb("udp", { annotations: { ...shared, "metallb.io/loadBalancerIPs": "192.0.2.3" }, ports: [{ protocol: "UDP", port: 53 }] }))
    expect(b.outcome.ingress).toEqual(["192.0.2.3"])
  })

  it("never changes an address on restart: reconciling from status gives the same answer in any order (property)", () => {
    const serviceArb = fc.record({
      pool: fc.constantFrom(undefined, "default", "other"),
      v6: fc.boolean(),
      shared: fc.boolean(),
      port: fc.constantFrom(53, 80),
    })
    fc.assert(
      fc.property(fc.array(serviceArb, { minLength: 1, maxLength: 10 }), fc.infiniteStream(fc.nat()), (specs, randoms) => {
        const services = specs.map((s, i) => lb(`svc-${i}`, {
          clusterIPs: [s.v6 ? `2001:db8:ffff::${i + 1}` : `198.18.0.${i + 1}`],
          annotations: { ...(s.pool ? { "metallb.io/address-pool": s.pool } : {}), ...(s.shared ? { "metallb.io/allow-shared-ip": "k" } : {}) },
          ports: [{ protocol: "TCP", port: s.port }],
        }))
        const first = reconcileAll(started(), services, noLabels).outcomes
        const withStatus = services.map((s) => ({ ...s, ingressIPs: first.find((o) => o.key === `default/${s.name}`)?.ingress ?? [] }))
        const shuffled = [...withStatus]
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = randoms.next().value % (i + 1)
          ;[shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
        }
        const restarted = reconcileAll(started(), shuffled, noLabels).outcomes
        for (const o of first) {
          const again = restarted.find((r) => r.key === o.key)
          expect(again?.ingress, o.key).toEqual(o.ingress)
          if ((o.ingress ?? []).length > 0) expect(reasons(again!)).toEqual([])
        }
      }),
      { numRuns: 1000 },
    )
  })
})
