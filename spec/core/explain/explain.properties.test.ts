// explain agrees with the machines it explains, on random clusters: the addresses it says a Service gets
// (or that it gets none) are what the controller machine (core/controller/loop.ts, stepped as the real
// controller steps it: config, namespaces, services, leadership, passes, its writes seen back) settles
// on; the pool it names holds them and no pool it lists is "chosen" when it says none; and the Layer 2
// owner it names is the one node whose speaker (core/speaker/l2.ts, run as that node) claims the address.
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { explain } from "../../../core/explain/explain.ts"
import { initialLoopState, type LoopInput, step } from "../../../core/controller/loop.ts"
import { serviceKey, type ServiceView } from "../../../core/controller/service.ts"
import { updateConfig, noConfig } from "../../../core/config/in-force.ts"
import { parseAddress } from "../../../core/net/address.ts"
import { speakerMembership, type ClusterState } from "../../../core/snapshot/cluster-state.ts"
import { l2Announcements } from "../../../core/speaker/l2.ts"
import { readDump } from "../../../shell/cli/cluster-state.ts"

const ns = "metallb-system"

interface Model {
  readonly pools: ReadonlyArray<{ readonly size: 1 | 2 | 4; readonly autoAssign: boolean; readonly onlyFor?: "a" | "b" | undefined; readonly priority: number }>
  readonly services: ReadonlyArray<{ readonly namespace: "a" | "b"; readonly requested?: number | undefined; readonly share?: string | undefined; readonly port: 80 | 443; readonly status?: number | undefined; readonly endpointsOn: ReadonlyArray<number> }>
  readonly nodes: number
}

const model: fc.Arbitrary<Model> = fc.record({
  pools: fc.array(fc.record({
    size: fc.constantFrom(1 as const, 2 as const, 4 as const),
    autoAssign: fc.boolean(),
    onlyFor: fc.option(fc.constantFrom("a" as const, "b" as const), { nil: undefined }),
    priority: fc.nat(3),
  }, { requiredKeys: ["size", "autoAssign", "priority"] }), { minLength: 1, maxLength: 3 }),
  services: fc.array(fc.record({
    namespace: fc.constantFrom("a" as const, "b" as const),
    requested: fc.option(fc.nat(15), { nil: undefined }),
    share: fc.option(fc.constantFrom("k1", "k2"), { nil: undefined }),
    port: fc.constantFrom(80 as const, 443 as const),
    status: fc.option(fc.nat(15), { nil: undefined }),
    endpointsOn: fc.array(fc.nat(2), { maxLength: 2 }),
  }, { requiredKeys: ["namespace", "port", "endpointsOn"] }), { minLength: 1, maxLength: 6 }),
  nodes: fc.integer({ min: 1, max: 3 }),
})

/** Pool i holds 198.51.100.(16 i) .. +size-1: addresses 0..15 of the model index into 198.51.100.0/26 by 16 i + n. */
const address = (n: number) => `198.51.100.${n}`

const stateOf = (m: Model): ClusterState => {
  const items: Array<unknown> = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "a", labels: { team: "a" } } },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "b" } },
    { apiVersion: "metallb.io/v1beta1", kind: "L2Advertisement", metadata: { name: "l2", namespace: ns } },
  ]
  for (let i = 0; i < m.nodes; i++) items.push({ apiVersion: "v1", kind: "Node", metadata: { name: `node-${i}`, labels: {} } })
  m.pools.forEach((p, i) => {
    items.push({
      apiVersion: "metallb.io/v1beta1",
      kind: "IPAddressPool",
      metadata: { name: `pool-${i}`, namespace: ns },
      spec: {
        addresses: [`${address(i * 4)}-${address(i * 4 + p.size - 1)}`],
        autoAssign: p.autoAssign,
        ...(p.onlyFor === undefined ? {} : { serviceAllocation: { priority: p.priority, namespaces: [p.onlyFor] } }),
      },
    })
  })
  m.services.forEach((s, i) => {
    const annotations: Record<string, string> = {}
    if (s.requested !== undefined) annotations["metallb.io/loadBalancerIPs"] = address(s.requested)
    if (s.share !== undefined) annotations["metallb.io/allow-shared-ip"] = s.share
    items.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `svc-${i}`, namespace: s.namespace, annotations },
      spec: { type: "LoadBalancer", clusterIPs: [`198.18.0.${i + 1}`], ports: [{ port: s.port, protocol: "TCP" }], selector: { app: `svc-${i}` } },
      ...(s.status === undefined ? {} : { status: { loadBalancer: { ingress: [{ ip: address(s.status) }] } } }),
    })
    items.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `svc-${i}-x`, namespace: s.namespace, labels: { "kubernetes.io/service-name": `svc-${i}` } },
      addressType: "IPv4",
      endpoints: s.endpointsOn.filter((n) => n < m.nodes).map((n, j) => ({ addresses: [`10.0.${i}.${j + 1}`], nodeName: `node-${n}`, conditions: { ready: true } })),
    })
  })
  return readDump(JSON.stringify({ apiVersion: "v1", kind: "List", items }), "model.yaml")
}

/** The controller machine stepped as the real controller steps it, its writes seen back, until it writes nothing. */
const controllerSettles = (state: ClusterState): ReadonlyMap<string, ReadonlyArray<string>> => {
  let loop = initialLoopState(ns)
  let version = 1
  const views = new Map(state.services.map((v) => [serviceKey(v), v]))
  const feed = (input: LoopInput) => {
    const result = step(loop, input)
    loop = result.state
    return result.outputs
  }
  feed({ _tag: "ConfigChanged", sources: state.config })
  for (const n of state.namespaces) feed({ _tag: "NamespaceChanged", namespace: { name: n.name, labels: n.labels, resourceVersion: "1" } })
  for (const v of views.values()) feed({ _tag: "ServiceUpserted", service: { view: v, resourceVersion: String(version++) } })
  feed({ _tag: "LeadershipChanged", leading: true })
  for (let pass = 0; pass < 30; pass++) {
    const outputs = feed({ _tag: "PassDue", nowMs: pass * 1000 })
    const writes = outputs.flatMap((o) => (o._tag === "WriteServiceStatus" ? [o] : []))
    if (writes.length === 0) break
    for (const w of writes) {
      const view: ServiceView = { ...views.get(w.key)!, ingressIPs: w.ingress }
      views.set(w.key, view)
      feed({ _tag: "ServiceUpserted", service: { view, resourceVersion: String(version++) } })
    }
  }
  return new Map([...views].map(([k, v]) => [k, v.ingressIPs]))
}

describe("explain agrees with the machines", () => {
  it("addresses as the controller machine settles them; the Layer 2 owner as the speakers claim", () => {
    const seen = new Set<string>()
    fc.assert(
      fc.property(model, (m) => {
        const state = stateOf(m)
        const valid = updateConfig(noConfig, state.config).change._tag === "Applied"
        const result = explain(state, { all: true })
        expect(Result.isSuccess(result)).toBe(true)
        const explanation = Result.getOrThrow(result)
        expect(explanation.config.valid).toBe(valid)
        if (!valid) return
        const settled = controllerSettles(state)
        const config = updateConfig(noConfig, state.config).state.config!
        const { members } = speakerMembership(state)
        for (const s of explanation.services) {
          const a = s.allocation
          const written = settled.get(s.service) ?? []
          if (a._tag === "Assigned") {
            expect(written, s.service).toEqual(a.addresses)
            const ranges = config.pools.get(a.pool)?.ranges ?? []
            for (const text of a.addresses) {
              const parsed = Result.getOrThrow(parseAddress(text))
              expect(ranges.some((r) => r.family === parsed.family && parsed.value >= r.first && parsed.value <= r.last), `${text} in ${a.pool}`).toBe(true)
            }
            seen.add(`assigned:${a.how._tag}`)
            if (a.pools.length > 0) expect(a.pools.filter((p) => p.verdict === "chosen").map((p) => p.pool)).toEqual([a.pool])
          } else {
            expect(written, `${s.service}: ${a._tag}`).toEqual([])
            if (a._tag === "Failed") expect(a.pools.some((p) => p.verdict === "chosen")).toBe(false)
            seen.add(a._tag === "Failed" ? `failed:${a.error}` : a._tag)
          }
          const l2 = s.layer2
          if (l2 === undefined) continue
          const claimers = state.speaker.nodes.filter((n) =>
            l2Announcements(config, state.speaker, n.name, members).claims.some((c) => c.service === s.service))
          expect(claimers.map((n) => n.name), s.service).toEqual(l2.owner === undefined ? [] : [l2.owner])
          seen.add(l2.owner === undefined ? `l2:${l2.result}` : "l2:owner")
        }
      }),
      { numRuns: 150 },
    )
    // The runs covered the answers that matter (a generator that stopped producing them would pass vacuously).
    for (const c of ["assigned:PoolOrder", "assigned:Requested", "assigned:KeptFromStatus", "failed:PoolExhausted", "failed:AddressInUse", "l2:owner", "l2:NoServingEndpoint"]) {
      expect([...seen], c).toContain(c)
    }
  })
})
