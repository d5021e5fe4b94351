// The pass cache changes nothing but the cost: for random sequences of inputs (services, endpoints and
// nodes edited one object at a time, with unchanged objects shared by reference as the shells' snapshots
// share them; configurations, members, links, timers, failed writes and sessions), a node whose passes
// reuse their cache emits exactly what a node deciding every pass from scratch emits. The same property
// with a cache key that ignores changes must fail, so it can see a stale decision.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { stableText } from "../../../../core/speaker/session-config.ts"
import { emptyPassCache, type PassCache } from "../../../../core/speaker/node/pass-cache.ts"
import { initialNode, type NodeInput, type NodeOutput, type NodeState, step } from "../../../../core/speaker/node.ts"
import { nodeSettings } from "../../../../core/speaker/settings.ts"
import { changesBetween, type ClusterSnapshot, type EndpointView, type NodeView, type SpeakerService } from "../../../../core/speaker/view.ts"
import { ip } from "../../ipam/pools.ts"
import { doc, iface, l2Docs, sources } from "./fixtures.ts"

const nodes = ["n1", "n2", "n3", "n4"]
const ifaces = [iface("eth0", 2), iface("eth1", 3)]
const wanDocs = [
  doc("IPAddressPool", "wan", { addresses: ["203.0.113.0/24"] }),
  doc("BGPAdvertisement", "wan", { ipAddressPools: ["wan"] }),
  doc("BGPPeer", "tor", { myASN: 64500, peerASN: 64501, peerAddress: "198.51.100.1" }, "v1beta2"),
]
const configs = [
  [...l2Docs, ...wanDocs],
  l2Docs,
  [...l2Docs, doc("L2Advertisement", "eth1", { ipAddressPools: ["lan"], interfaces: ["eth1"], nodeSelectors: [{ matchLabels: { zone: "b" } }] }), ...wanDocs],
  [...l2Docs, ...wanDocs, doc("BGPPeer", "edge", { myASN: 64500, peerASN: 64502, peerAddress: "198.51.100.2", nodeSelectors: [{ matchLabels: { zone: "a" } }] }, "v1beta2")],
  [doc("IPAddressPool", "lan", { addresses: ["192.0.2.0/25"] }), doc("L2Advertisement", "lan", { ipAddressPools: ["lan"], serviceSelectors: [{ matchLabels: { tier: "web" } }] }), ...wanDocs],
]

/** One change of the world: each becomes an input, a cluster edit a ClusterChanged with a new snapshot. */
type Op =
  | { readonly _tag: "EditService"; readonly index: number; readonly address: number; readonly wan: boolean; readonly local: boolean; readonly web: boolean }
  | { readonly _tag: "EditEndpoints"; readonly index: number; readonly on: ReadonlyArray<string>; readonly serving: boolean }
  | { readonly _tag: "AddService"; readonly address: number }
  | { readonly _tag: "RemoveService"; readonly index: number }
  | { readonly _tag: "EditNode"; readonly index: number; readonly zone: "a" | "b"; readonly unavailable: boolean; readonly excluded: boolean }
  | { readonly _tag: "SameAgain" }
  | { readonly _tag: "Input"; readonly input: Timeless }

type Delta = "edits" | "compared" | "lie"

type Timeless = NodeInput extends infer I ? (I extends { nowMs: number } ? Omit<I, "nowMs"> : never) : never

const index = fc.nat({ max: 20 })
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ index, address: fc.nat({ max: 40 }), wan: fc.boolean(), local: fc.boolean(), web: fc.boolean() }).map((r) => ({ _tag: "EditService", ...r }) as const) },
  { weight: 4, arbitrary: fc.record({ index, on: fc.subarray(nodes), serving: fc.boolean() }).map((r) => ({ _tag: "EditEndpoints", ...r }) as const) },
  { weight: 2, arbitrary: fc.nat({ max: 40 }).map((address) => ({ _tag: "AddService", address }) as const) },
  { weight: 1, arbitrary: index.map((i) => ({ _tag: "RemoveService", index: i }) as const) },
  { weight: 1, arbitrary: fc.record({ index: fc.nat({ max: 3 }), zone: fc.constantFrom("a" as const, "b" as const), unavailable: fc.boolean(), excluded: fc.boolean() }).map((r) => ({ _tag: "EditNode", ...r }) as const) },
  { weight: 1, arbitrary: fc.constant({ _tag: "SameAgain" } as const) },
  {
    weight: 4,
    arbitrary: fc.oneof(
      fc.subarray(nodes.slice(1)).chain((others) => fc.subarray(others).map((downOnes) =>
        ({ _tag: "MembersChanged", live: new Set(["n1", ...others]), down: new Map(downOnes.map((n) => [n, ["eth1"]])), lost: others.length < 3 ? [{ name: "n4", how: "dead", lastHeardAtMs: 0 }] : [], syncedAtMs: 0 }) as const)),
      fc.constantFrom(...configs).map((documents) => ({ _tag: "ConfigChanged", sources: sources(documents) }) as const),
      fc.subarray(["eth0", "eth1"]).map((up) => ({ _tag: "LinksPolled", up: new Set(up) }) as const),
      fc.constantFrom("rejoinHold", "resync").map((name) => ({ _tag: "TimerFired", name }) as const),
      fc.record({ kind: fc.constantFrom("ServiceL2Status" as const, "ServiceBGPStatus" as const), service: index }).map(({ kind, service }) =>
        ({ _tag: "StatusWriteFailed", kind, service: `default/s${service}` }) as const),
      fc.constantFrom("tor", "edge").map((peer) => ({ _tag: "SessionFailed", peer, reason: "test" }) as const),
      fc.subarray(ifaces).map((list) => ({ _tag: "InterfacesScanned", interfaces: list }) as const),
    ).map((input) => ({ _tag: "Input", input: input as Timeless }) as const),
  },
)

/** The world the snapshots are cut from: a changed object is a new object, the others are kept. */
class World {
  services: Array<SpeakerService>
  /** Services edited since the last snapshot (their keys), as the shell's informers report them. */
  touched = new Set<string>()
  last: ClusterSnapshot | undefined
  /**
   * How the delta is made: from the edits (as the speaker's informers report them), by comparing the
   * snapshots (changesBetween, the simulator's), or wrong: the services whose endpoints changed left out.
   */
  delta: Delta = "edits"
  endpoints = new Map<string, ReadonlyArray<EndpointView>>()
  nodeViews: Array<NodeView> = nodes.map((name, i) => ({ name, labels: { zone: i % 2 === 0 ? "a" : "b" }, networkUnavailable: false, addresses: [ip(`192.0.2.${200 + i}`)] }))
  next = 0

  constructor() {
    this.services = Array.from({ length: 6 }, (_, i) => this.service(i, i % 2 === 0))
    for (const s of this.services) this.endpoints.set(s.key, nodes.map((node) => ({ node, serving: true })))
  }

  service(address: number, wan: boolean, local = false, web = false): SpeakerService {
    const key = `default/s${this.next++}`
    return { key, labels: web ? { tier: "web" } : {}, addresses: [ip(wan ? `203.0.113.${address}` : `192.0.2.${address}`)], externalTrafficPolicy: local ? "Local" : "Cluster", sharedAddress: false }
  }

  /** Applies a cluster edit; false when the op is an input instead. */
  apply(o: Op): boolean {
    const at = (i: number) => (this.services.length === 0 ? undefined : i % this.services.length)
    switch (o._tag) {
      case "EditService": {
        const i = at(o.index)
        if (i === undefined) return true
        const old = this.services[i]!
        this.services[i] = { ...old, labels: o.web ? { tier: "web" } : {}, addresses: [ip(o.wan ? `203.0.113.${o.address}` : `192.0.2.${o.address}`)], externalTrafficPolicy: o.local ? "Local" : "Cluster" }
        this.touched.add(old.key)
        return true
      }
      case "EditEndpoints": {
        const i = at(o.index)
        if (i !== undefined) this.endpoints.set(this.services[i]!.key, o.on.map((node) => ({ node, serving: o.serving })))
        if (i !== undefined && this.delta !== "lie") this.touched.add(this.services[i]!.key)
        return true
      }
      case "AddService": {
        const s = this.service(o.address, o.address % 2 === 0)
        this.services.push(s)
        this.endpoints.set(s.key, nodes.slice(0, 2).map((node) => ({ node, serving: true })))
        this.touched.add(s.key)
        return true
      }
      case "RemoveService": {
        const i = at(o.index)
        if (i !== undefined) {
          const [gone] = this.services.splice(i, 1)
          this.endpoints.delete(gone!.key)
          this.touched.add(gone!.key)
        }
        return true
      }
      case "EditNode": {
        const old = this.nodeViews[o.index]!
        const labels: Record<string, string> = { zone: o.zone }
        if (o.excluded) labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
        this.nodeViews = this.nodeViews.map((n, i) => (i === o.index ? { ...old, labels, networkUnavailable: o.unavailable } : n))
        return true
      }
      case "SameAgain":
        return true
      case "Input":
        return false
    }
  }

  snapshot(): ClusterSnapshot {
    // Addresses shared by two services are marked as the shells mark them.
    const holders = new Map<string, number>()
    for (const s of this.services) for (const a of s.addresses) holders.set(stableText(a), (holders.get(stableText(a)) ?? 0) + 1)
    this.services = this.services.map((s) => {
      const shared = s.addresses.some((a) => holders.get(stableText(a))! > 1)
      if (shared !== s.sharedAddress) this.touched.add(s.key)
      return shared === s.sharedAddress ? s : { ...s, sharedAddress: shared }
    })
    const snapshot = { services: [...this.services], endpoints: new Map(this.endpoints), nodes: [...this.nodeViews] }
    this.last = snapshot
    return snapshot
  }

  /** The next ClusterChanged: the snapshot and what changed since the previous one. */
  changed(nowMs: number): NodeInput {
    const since = this.last
    const snapshot = this.snapshot()
    const byKey = new Map(snapshot.services.map((s) => [s.key, s]))
    const services = new Map([...this.touched].map((key) => [key, byKey.get(key)]))
    this.touched = new Set()
    if (since === undefined) return { _tag: "ClusterChanged", snapshot, nowMs }
    return { _tag: "ClusterChanged", snapshot, changes: this.delta === "compared" ? changesBetween(since, snapshot) : { since, services }, nowMs }
  }
}

const text = (outputs: ReadonlyArray<NodeOutput>) => stableText(outputs)

/** Output kinds the cached node produced over a property's runs: the generators must reach every decision. */
const seen = new Set<string>()

/** How many ClusterChanged inputs the cached node decided by a delta pass (the last full pass's result kept). */
let deltaPasses = 0

/** The outputs of the cached node and of the from-scratch node, input by input, until they differ. */
const compare = (ops: ReadonlyArray<Op>, membership: boolean, cache: PassCache, delta: Delta = "edits"): void => {
  const settings = nodeSettings({ nodeName: "n1", excludePatterns: [], membership, seeds: membership ? ["n2"] : [] })
  let cached: NodeState = { ...initialNode(settings), passCache: cache }
  let scratch: NodeState = initialNode(settings)
  const world = new World()
  world.delta = delta
  const both = (input: NodeInput, label: string) => {
    const a = step(cached, input)
    const b = step({ ...scratch, passCache: emptyPassCache }, input)
    if (input._tag === "ClusterChanged" && a.state.passCache.after !== undefined && a.state.passCache.after === cached.passCache.after) deltaPasses++
    cached = a.state
    scratch = b.state
    expect(text(a.outputs), label).toBe(text(b.outputs))
    for (const o of a.outputs) seen.add(o._tag === "WriteStatus" || o._tag === "DeleteStatus" ? `${o._tag} ${o.kind}` : o._tag)
  }
  const start: ReadonlyArray<NodeInput> = [
    { _tag: "Started", nowMs: 0 },
    { _tag: "InterfacesScanned", interfaces: ifaces, nowMs: 0 },
    { _tag: "ConfigChanged", sources: sources(configs[0]!), nowMs: 0 },
    world.changed(0),
    { _tag: "MembersChanged", live: new Set(nodes), down: new Map(), lost: [], syncedAtMs: 0, nowMs: 0 },
  ]
  start.forEach((input) => both(input, input._tag))
  ops.forEach((o, i) => {
    const nowMs = 1_000 * (i + 1)
    const input = world.apply(o) ? world.changed(nowMs) : { ...(o as Extract<Op, { _tag: "Input" }>).input, nowMs } as NodeInput
    both(input, `step ${i}: ${o._tag === "Input" ? o.input._tag : o._tag}`)
  })
}

describe("speaker pass cache", () => {
  it("a node reusing its pass cache emits exactly what a node deciding from scratch emits", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 50 }), fc.boolean(), (ops, membership) => compare(ops, membership, emptyPassCache)),
      { numRuns: 300 },
    )
    const decisions = ["Claim", "Release", "Emit", "WriteStatus ServiceL2Status", "DeleteStatus ServiceL2Status", "WriteStatus ServiceBGPStatus",
      "DeleteStatus ServiceBGPStatus", "OpenSession", "CloseSession", "UpdateRoutes", "Announced", "ObserveTakeover"]
    expect(decisions.filter((d) => !seen.has(d))).toEqual([])
    // The changes the shells report are used, not only the full pass.
    expect(deltaPasses).toBeGreaterThan(300)
  })

  it("the same with the changes found by comparing snapshots (the simulator's)", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 50 }), fc.boolean(), (ops, membership) => compare(ops, membership, emptyPassCache, "compared")),
      { numRuns: 300 },
    )
  })

  it("the same with the delta passes' decisions folded into the decisions map at every pass", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 50 }), fc.boolean(), (ops, membership) => compare(ops, membership, { ...emptyPassCache, recentLimit: () => 1 })),
      { numRuns: 300 },
    )
  })

  it("the property sees a wrong delta: with the endpoint changes left out of it, it fails", () => {
    const result = fc.check(
      fc.property(fc.array(op, { minLength: 1, maxLength: 50 }), fc.boolean(), (ops, membership) => compare(ops, membership, emptyPassCache, "lie")),
      { numRuns: 300 },
    )
    expect(result.failed).toBe(true)
  })

  it("the property sees a stale decision: with a cache key that ignores every change it fails", () => {
    const result = fc.check(
      fc.property(fc.array(op, { minLength: 1, maxLength: 50 }), fc.boolean(), (ops, membership) =>
        compare(ops, membership, { ...emptyPassCache, reusable: () => true })),
      { numRuns: 300 },
    )
    expect(result.failed).toBe(true)
  })
})
