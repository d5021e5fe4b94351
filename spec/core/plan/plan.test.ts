// core/plan over hand-built clusters: one test per reason a Service's address or pool changes, the
// Services that newly get one, announcements per node and peer, validity and the exit status.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { exitCodeOf, plan, type ServiceChange } from "../../../core/plan/plan.ts"
import { formatPlanText } from "../../../core/plan/format.ts"
import { allocated, bgpAd, clusterOf, docs, l2, peer, pool, service } from "./fixtures.ts"

const change = (changes: ReadonlyArray<ServiceChange>, name: string) => changes.find((c) => c.service === `default/${name}`)

describe("plan: why a Service's address changes", () => {
  it("pool shrank: the service moves to a free address still in the pool; the others keep theirs", () => {
    const cluster = clusterOf([pool("main", ["192.0.2.0/28"])], [allocated("web", "192.0.2.10", "main"), allocated("db", "192.0.2.1", "main")])
    const p = plan({ cluster, files: docs(pool("main", ["192.0.2.0/29"])) })
    expect(p.objects).toEqual([{ kind: "IPAddressPool", name: "main", change: "changed" }])
    expect(p.services).toEqual([{
      service: "default/web",
      kind: "moves",
      before: ["192.0.2.10"],
      after: ["192.0.2.0"],
      poolBefore: "main",
      poolAfter: "main",
      reasons: [{ _tag: "PoolShrank", pool: "main", address: "192.0.2.10" }, { _tag: "AllocatedFrom", pool: "main" }],
      alreadyPending: false,
    }])
    expect(p.unchanged).toBe(1)
    expect(exitCodeOf(p)).toBe(2)
  })

  it("pool removed (--prune): the service moves to another pool, or loses its address when none has room", () => {
    const live = [pool("a", ["192.0.2.0/31"]), pool("b", ["198.51.100.0/30"])]
    const cluster = clusterOf(live, [allocated("x", "198.51.100.1", "b"), allocated("y", "198.51.100.2", "b"), allocated("z", "192.0.2.0", "a")])
    const p = plan({ cluster, files: docs(pool("a", ["192.0.2.0/31"])), prune: true })
    expect(p.objects).toEqual([{ kind: "IPAddressPool", name: "a", change: "unchanged" }, { kind: "IPAddressPool", name: "b", change: "removed" }])
    const x = change(p.services, "x")
    expect(x).toMatchObject({ kind: "moves", after: ["192.0.2.1"], reasons: [{ _tag: "PoolRemoved", pool: "b", address: "198.51.100.1" }, { _tag: "AllocatedFrom", pool: "a" }] })
    const y = change(p.services, "y")
    expect(y?.kind).toBe("loses")
    expect(y?.reasons.map((r) => r._tag)).toEqual(["PoolRemoved", "NoAddress"])
    expect(change(p.services, "z")).toBeUndefined()
  })

  it("without --prune a pool not in the FILEs stays", () => {
    const cluster = clusterOf([pool("a", ["192.0.2.0/31"]), pool("b", ["198.51.100.0/30"])], [allocated("x", "198.51.100.1", "b")])
    const p = plan({ cluster, files: docs(pool("a", ["192.0.2.0/31"])) })
    expect(p.services).toEqual([])
    expect(exitCodeOf(p)).toBe(0)
  })

  it("pool renamed: services keep their addresses and change pool; one pinned to the old name by annotation loses it", () => {
    const live = [pool("blue", ["192.0.2.0/29"])]
    const pinned = allocated("pinned", "192.0.2.2", "blue", { annotations: { "metallb.io/address-pool": "blue" } })
    const cluster = clusterOf(live, [allocated("free", "192.0.2.1", "blue"), pinned])
    const p = plan({ cluster, files: docs(pool("green", ["192.0.2.0/29"])), prune: true })
    expect(change(p.services, "free")).toMatchObject({ kind: "pool", poolBefore: "blue", poolAfter: "green", reasons: [{ _tag: "PoolRenamed", from: "blue", to: "green" }] })
    const lost = change(p.services, "pinned")
    expect(lost?.kind).toBe("loses")
    expect(lost?.reasons[0]).toEqual({ _tag: "PoolRenamed", from: "blue", to: "green" })
    expect(lost?.reasons[1]).toMatchObject({ _tag: "NoAddress" })
    expect(lost?.reasons[1]?._tag === "NoAddress" && lost.reasons[1].message).toContain("unknown pool \"blue\"")
  })

  it("pool split: the addresses of the second half are counted in the new pool", () => {
    const cluster = clusterOf([pool("main", ["192.0.2.0/28"])], [allocated("low", "192.0.2.1", "main"), allocated("high", "192.0.2.9", "main")])
    const p = plan({ cluster, files: docs(pool("main", ["192.0.2.0/29"]), pool("extra", ["192.0.2.8/29"])) })
    expect(p.services).toHaveLength(1)
    expect(change(p.services, "high")).toMatchObject({ kind: "pool", reasons: [{ _tag: "PoolSplit", from: "main", into: ["extra", "main"] }] })
  })

  it("pool split, a service pinned to it by annotation whose address went to the new pool: it moves back into what is left", () => {
    const pinned = allocated("pinned", "192.0.2.9", "main", { annotations: { "metallb.io/address-pool": "main" } })
    const cluster = clusterOf([pool("main", ["192.0.2.0/28"])], [pinned])
    const p = plan({ cluster, files: docs(pool("main", ["192.0.2.0/29"]), pool("extra", ["192.0.2.8/29"])) })
    expect(change(p.services, "pinned")).toMatchObject({
      kind: "moves",
      after: ["192.0.2.0"],
      reasons: [{ _tag: "PoolSplit", from: "main", into: ["extra", "main"] }, { _tag: "AllocatedFrom", pool: "main" }],
    })
  })

  it("avoidBuggyIPs: a service on a .0 address moves", () => {
    const cluster = clusterOf([pool("main", ["192.0.2.0/24"])], [allocated("web", "192.0.2.0", "main"), allocated("api", "192.0.2.1", "main")])
    const p = plan({ cluster, files: docs(pool("main", ["192.0.2.0/24"], { avoidBuggyIPs: true })) })
    expect(p.services).toHaveLength(1)
    expect(change(p.services, "web")).toMatchObject({ kind: "moves", after: ["192.0.2.2"], reasons: [{ _tag: "AvoidBuggyIPs", pool: "main", address: "192.0.2.0" }, { _tag: "AllocatedFrom", pool: "main" }] })
  })

  it("serviceAllocation: a pool that no longer serves the namespace", () => {
    const cluster = clusterOf([pool("main", ["192.0.2.0/29"])], [allocated("web", "192.0.2.1", "main")])
    const p = plan({ cluster, files: docs(pool("main", ["192.0.2.0/29"], { serviceAllocation: { namespaces: ["shop"] } })) })
    expect(change(p.services, "web")).toMatchObject({ kind: "loses", reasons: [{ _tag: "PoolNoLongerServes", pool: "main", rule: "namespace" }, { _tag: "NoAddress" }] })
  })

  it("a pending service gets an address when its pool grows, after the others keep theirs", () => {
    const cluster = clusterOf([pool("main", ["192.0.2.0/31"])], [allocated("a", "192.0.2.0", "main"), allocated("b", "192.0.2.1", "main"), service("c")])
    const same = plan({ cluster, files: docs(pool("main", ["192.0.2.0/31"])) })
    expect(same.pending).toEqual([{ service: "default/c", message: expect.stringContaining("no available IPs") }])
    expect(exitCodeOf(same)).toBe(0)
    const p = plan({ cluster, files: docs(pool("main", ["192.0.2.0/30"])) })
    expect(p.services).toEqual([expect.objectContaining({ service: "default/c", kind: "gains", after: ["192.0.2.2"], reasons: [{ _tag: "AllocatedFrom", pool: "main" }] })])
  })

  it("a pool restricted by serviceSelectors: its services move to another pool, one pinned to it stays pending", () => {
    const live = [pool("a", ["192.0.2.0/31"]), pool("b", ["198.51.100.0/31"])]
    const cluster = clusterOf(live, [allocated("x", "192.0.2.1", "a"), allocated("w", "192.0.2.0", "a"), service("z", [], { annotations: { "metallb.io/address-pool": "a" } })])
    const p = plan({ cluster, files: docs(pool("a", ["192.0.2.0/31"], { serviceAllocation: { namespaces: ["default"], serviceSelectors: [{ matchLabels: { tier: "front" } }] } })) })
    // Every service of default without the label loses a; x and w move to b; z (pinned to a) stays pending.
    expect(change(p.services, "x")).toMatchObject({ kind: "moves", reasons: [{ _tag: "PoolNoLongerServes", rule: "serviceSelector" }, { _tag: "AllocatedFrom", pool: "b" }] })
    expect(change(p.services, "w")).toMatchObject({ kind: "moves" })
    expect(p.pending.map((s) => s.service)).toEqual(["default/z"])
  })

  it("a change the controller would make with the live configuration too is marked", () => {
    const cluster = clusterOf([pool("main", ["192.0.2.0/29"])], [service("stray", ["198.51.100.7"])])
    const p = plan({ cluster, files: docs(pool("main", ["192.0.2.0/29"])) })
    expect(p.services).toEqual([expect.objectContaining({ service: "default/stray", kind: "moves", alreadyPending: true, reasons: [{ _tag: "NotInAnyPool", address: "198.51.100.7" }, { _tag: "AllocatedFrom", pool: "main" }] })])
  })
})

describe("plan: validity and exit status", () => {
  it("an invalid configuration is exit status 1 with every error, and predicts nothing", () => {
    const cluster = clusterOf([pool("main", ["192.0.2.0/29"])], [allocated("web", "192.0.2.1", "main")])
    const p = plan({ cluster, files: docs(pool("main", ["192.0.2.0/33"]), pool("other", ["192.0.2.0/30"])) })
    expect(p.valid).toBe(false)
    expect(p.errors.length).toBeGreaterThanOrEqual(1)
    expect(p.errors.map((e) => e.code)).toContain("InvalidCidr")
    expect(exitCodeOf(p)).toBe(1)
    expect(formatPlanText(p)).toContain("invalid: ")
  })

  it("a Secret the reader could not read is said, beside the error it causes", () => {
    const withSecret = { ...peer("r1", "203.0.113.1"), spec: { ...peer("r1", "203.0.113.1").spec, passwordSecret: { name: "bgp-auth" } } }
    const cluster = clusterOf([pool("main", ["192.0.2.0/29"])], [], { unreadable: [{ kind: "Secret", namespace: "metallb-system", status: 403, reason: "forbidden" }] })
    const p = plan({ cluster, files: docs(withSecret) })
    expect(p.errors.map((e) => e.code)).toEqual(["UnknownSecret"])
    expect(p.notes).toEqual(expect.arrayContaining([
      "could not read Secret in metallb-system (HTTP 403): forbidden",
      expect.stringContaining("the Secrets could not be read"),
    ]))
    expect(exitCodeOf(p)).toBe(1)
  })

  it("resolves with the cluster's Nodes, as the controller does: two peers to one address on node sets no node joins are valid", () => {
    const onRack = { ...peer("r1", "203.0.113.1"), spec: { ...peer("r1", "203.0.113.1").spec, nodeSelectors: [{ matchLabels: { rack: "a" } }] } }
    const onZone = { ...peer("r2", "203.0.113.1"), spec: { ...peer("r2", "203.0.113.1").spec, nodeSelectors: [{ matchLabels: { zone: "z" } }] } }
    const live = [pool("main", ["192.0.2.0/29"])]
    expect(plan({ cluster: clusterOf(live, []), files: docs(onRack, onZone) }).valid).toBe(true)
    const withoutNodes = plan({ cluster: clusterOf(live, [], { unreadable: [{ kind: "Node", reason: "forbidden" }] }), files: docs(onRack, onZone) })
    expect(withoutNodes.errors.map((e) => e.code)).toContain("DuplicatePeer")
  })

  it("warnings are reported with a valid plan", () => {
    const cluster = clusterOf([pool("main", ["192.0.2.0/29"])], [allocated("web", "192.0.2.1", "main")])
    const p = plan({ cluster, files: docs(bgpAd("ad", ["main"], { peers: ["not-yet"] })) })
    expect(p.valid).toBe(true)
    expect(p.warnings.map((w) => [w.code, w.field])).toEqual([["MissingField", "spec.peers[0]"]])
    expect(formatPlanText(p)).toContain("warning: new.yaml: BGPAdvertisement metallb-system/ad: spec.peers[0]: no BGPPeer of this name")
    expect(exitCodeOf(p)).toBe(0)
  })
})

describe("plan: announcements", () => {
  it("an L2Advertisement removed: the address disappears from its node; one added for BGP: routes to the peer from every node", () => {
    const live = [pool("main", ["192.0.2.0/29"]), l2("l2")]
    const cluster = clusterOf(live, [allocated("web", "192.0.2.1", "main")])
    const p = plan({ cluster, files: docs(pool("main", ["192.0.2.0/29"]), peer("router", "203.0.113.1"), bgpAd("bgp", ["main"], { localPref: 120 })), prune: true })
    expect(p.services).toEqual([])
    expect(p.announcements.disappearing).toEqual([expect.objectContaining({ protocol: "layer2", service: "default/web", target: "192.0.2.1" })])
    expect(p.announcements.appearing.map((a) => [a.protocol, a.node, a.peer, a.target, a.localPref])).toEqual([
      ["bgp", "node-a", "router", "192.0.2.1/32", 120],
      ["bgp", "node-b", "router", "192.0.2.1/32", 120],
    ])
    expect(exitCodeOf(p)).toBe(2)
  })

  it("a moved address moves its Layer 2 announcement; a BGP community change is a changed announcement", () => {
    const live = [pool("main", ["192.0.2.0/28"]), l2("l2"), peer("router", "203.0.113.1"), bgpAd("bgp", ["main"])]
    const cluster = clusterOf(live, [allocated("web", "192.0.2.10", "main")])
    const p = plan({ cluster, files: docs(pool("main", ["192.0.2.0/29"]), bgpAd("bgp", ["main"], { communities: ["64500:100"] })) })
    expect(p.announcements.disappearing.map((a) => `${a.protocol} ${a.target}`)).toContain("layer2 192.0.2.10")
    expect(p.announcements.appearing.map((a) => `${a.protocol} ${a.target}`)).toContain("layer2 192.0.2.0")
    expect(p.announcements.appearing.filter((a) => a.protocol === "bgp").map((a) => a.communities)).toEqual([["64500:100"], ["64500:100"]])
    const communities = plan({ cluster, files: docs(bgpAd("bgp", ["main"], { communities: ["64500:100"] })) })
    expect(communities.services).toEqual([])
    expect(communities.announcements.changing.map(([b, a]) => [b.communities, a.communities])).toEqual([[[], ["64500:100"]], [[], ["64500:100"]]])
  })

  it("only nodes with a ready speaker pod announce, when pods are known", () => {
    const live = [pool("main", ["192.0.2.0/29"]), peer("router", "203.0.113.1")]
    const cluster = clusterOf(live, [allocated("web", "192.0.2.1", "main")], { speakerPods: [{ name: "speaker-1", node: "node-b", ready: true }] })
    const p = plan({ cluster, files: docs(bgpAd("bgp", ["main"])) })
    expect(p.announcements.appearing.map((a) => a.node)).toEqual(["node-b"])
  })
})

describe("plan: takeover (--from-live)", () => {
  it("Services as MetalLB leaves them keep their addresses: status, both annotation prefixes, MetalLB's pool annotation", () => {
    const live = [pool("default-pool", ["192.0.2.0/28"]), pool("reserved", ["198.51.100.0/29"], { autoAssign: false }), l2("l2")]
    const cluster = clusterOf(live, [
      allocated("web", "192.0.2.3", "default-pool"),
      allocated("old-style", "198.51.100.2", "reserved", { annotations: { "metallb.universe.tf/address-pool": "reserved" } }),
      allocated("asked", "192.0.2.9", "default-pool", { annotations: { "metallb.io/loadBalancerIPs": "192.0.2.9" } }),
      allocated("shared-1", "192.0.2.5", "default-pool", { annotations: { "metallb.universe.tf/allow-shared-ip": "k" }, ports: [{ protocol: "TCP", port: 80 }] }),
      allocated("shared-2", "192.0.2.5", "default-pool", { annotations: { "metallb.io/allow-shared-ip": "k" }, ports: [{ protocol: "TCP", port: 443 }] }),
    ])
    const p = plan({ cluster })
    expect(p.mode).toBe("takeover")
    expect(p.services).toEqual([])
    expect(p.unchanged).toBe(5)
    expect(p.announcements).toEqual({ appearing: [], disappearing: [], changing: [] })
    expect(exitCodeOf(p)).toBe(0)
  })

  it("a Service without MetalLB's pool annotation (before 0.14) keeps its address; recording the pool is not a change to gate on", () => {
    const cluster = clusterOf([pool("main", ["192.0.2.0/28"]), l2("l2")], [service("web", ["192.0.2.7"])])
    const p = plan({ cluster })
    expect(p.services).toEqual([expect.objectContaining({ service: "default/web", kind: "pool", after: ["192.0.2.7"], poolAfter: "main", reasons: [] })])
    expect(p.announcements.changing).toEqual([])
    expect(exitCodeOf(p)).toBe(0)
    expect(formatPlanText(p)).toContain(". default/web: keeps 192.0.2.7; its pool main is recorded in the metallb.io/ip-allocated-from-pool annotation")
  })

  it("names what would change: an address outside every pool, a sharing conflict", () => {
    const live = [pool("main", ["192.0.2.0/28"])]
    const cluster = clusterOf(live, [
      allocated("outside", "198.51.100.1", "gone"),
      allocated("first", "192.0.2.5", "main", { annotations: { "metallb.io/allow-shared-ip": "k" } }),
      allocated("second", "192.0.2.5", "main", { annotations: { "metallb.io/allow-shared-ip": "other" } }),
    ])
    const p = plan({ cluster })
    expect(change(p.services, "outside")).toMatchObject({ kind: "moves", reasons: [{ _tag: "NotInAnyPool", address: "198.51.100.1" }, { _tag: "AllocatedFrom", pool: "main" }] })
    expect(change(p.services, "second")).toMatchObject({ kind: "moves", reasons: [{ _tag: "AddressTaken", address: "192.0.2.5", by: ["default/first"] }, { _tag: "AllocatedFrom" }] })
    expect(exitCodeOf(p)).toBe(2)
  })
})

describe("plan: reasons a takeover finds in a Service itself", () => {
  const live = [pool("a", ["192.0.2.0/29"]), pool("b", ["198.51.100.0/29"], { autoAssign: false })]

  it("it requests other addresses than its status shows", () => {
    const p = plan({ cluster: clusterOf(live, [allocated("web", "192.0.2.5", "a", { annotations: { "metallb.io/loadBalancerIPs": "192.0.2.6" } })]) })
    expect(change(p.services, "web")).toMatchObject({ kind: "moves", after: ["192.0.2.6"], reasons: [{ _tag: "RequestsOthers", requested: ["192.0.2.6"] }, { _tag: "AllocatedFrom", pool: "a" }] })
  })

  it("its families no longer match the addresses in status", () => {
    const v6 = [pool("v6", ["2001:db8::/125"])]
    const p = plan({ cluster: clusterOf([...live, ...v6], [service("web", ["2001:db8::3"], { clusterIPs: ["198.18.0.200"] })]) })
    expect(change(p.services, "web")).toMatchObject({ kind: "moves", after: ["192.0.2.0"], reasons: [{ _tag: "FamiliesChanged", wanted: ["ipv4"] }, { _tag: "AllocatedFrom", pool: "a" }] })
  })

  it("its address-pool annotation names another pool than the one holding its address", () => {
    const p = plan({ cluster: clusterOf(live, [allocated("web", "192.0.2.5", "a", { annotations: { "metallb.io/address-pool": "b" } })]) })
    expect(change(p.services, "web")).toMatchObject({ kind: "moves", after: ["198.51.100.0"], reasons: [{ _tag: "AnnotatedPoolDiffers", annotated: "b", holding: "a" }, { _tag: "AllocatedFrom", pool: "b" }] })
  })

  it("its pool annotation names a pool that does not hold the address: only the annotation changes", () => {
    const p = plan({ cluster: clusterOf(live, [allocated("web", "192.0.2.5", "stale")]) })
    expect(change(p.services, "web")).toMatchObject({ kind: "pool", poolBefore: "stale", poolAfter: "a", reasons: [{ _tag: "Rehomed", from: "stale", to: "a" }] })
    expect(exitCodeOf(p)).toBe(2)
  })

  it("it is no LoadBalancer any more but still shows an address", () => {
    const p = plan({ cluster: clusterOf(live, [service("web", ["192.0.2.5"], { type: "ClusterIP" })]) })
    expect(change(p.services, "web")).toMatchObject({ kind: "loses", reasons: [{ _tag: "Other", message: expect.stringContaining("no longer assigns it an address") }] })
  })

  it("another loadBalancerClass's Services are not ours: never listed", () => {
    const p = plan({ cluster: clusterOf(live, [service("web", ["203.0.113.9"], { loadBalancerClass: "example.com/other" })]) })
    expect(p.services).toEqual([])
    expect(p.unchanged).toBe(0)
    const ours = plan({ cluster: clusterOf(live, [service("web", ["203.0.113.9"], { loadBalancerClass: "example.com/other" })], { loadBalancerClass: "example.com/other" }) })
    expect(change(ours.services, "web")).toMatchObject({ kind: "moves", reasons: [{ _tag: "NotInAnyPool" }, { _tag: "AllocatedFrom" }] })
  })
})

describe("plan: properties", () => {
  const cidrs = fc.constantFrom("192.0.2.0/29", "192.0.2.0/30", "192.0.2.4/30", "192.0.2.8/29", "198.51.100.0/30")
  const pools = fc.uniqueArray(fc.record({ name: fc.constantFrom("a", "b", "c"), cidr: cidrs }), { selector: (p) => p.name, minLength: 1, maxLength: 3 })
    .filter((ps) => new Set(ps.map((p) => p.cidr)).size === ps.length && !(ps.some((p) => p.cidr === "192.0.2.0/29") && ps.some((p) => p.cidr.startsWith("192.0.2.0/30") || p.cidr.startsWith("192.0.2.4/30"))))
  const ingress = fc.array(fc.option(fc.integer({ min: 0, max: 11 }), { nil: undefined }), { minLength: 1, maxLength: 8 })

  it("applying the live configuration unchanged changes nothing the controller would not change anyway", () => {
    fc.assert(fc.property(pools, ingress, (ps, ips) => {
      const live = ps.map((p) => pool(p.name, [p.cidr]))
      const services = ips.map((i, n) => service(`s${n}`, i === undefined ? [] : [`192.0.2.${i}`]))
      const p = plan({ cluster: clusterOf(live, services), files: docs(...live) })
      expect(p.valid).toBe(true)
      expect(p.settled).toBe(true)
      for (const c of p.services) expect(c.alreadyPending).toBe(true)
    }), { numRuns: 200 })
  })

  it("after the plan's changes, planning again from the predicted state changes nothing", () => {
    fc.assert(fc.property(pools, pools, ingress, (before, after, ips) => {
      const live = before.map((p) => pool(p.name, [p.cidr]))
      const next = after.map((p) => pool(p.name, [p.cidr]))
      const services = ips.map((i, n) => service(`s${n}`, i === undefined ? [] : [`192.0.2.${i}`]))
      const first = plan({ cluster: clusterOf(live, services), files: docs(...next), prune: true })
      const predicted = services.map((s) => {
        const c = first.services.find((x) => x.service === `default/${s.name}`)
        if (c === undefined) return s
        const { "metallb.io/ip-allocated-from-pool": _p, ...annotations } = s.annotations
        return { ...s, ingressIPs: c.after, annotations: c.poolAfter === undefined ? annotations : { ...annotations, "metallb.io/ip-allocated-from-pool": c.poolAfter } }
      })
      const again = plan({ cluster: clusterOf(next, predicted), files: docs(...next), prune: true })
      expect(again.services).toEqual([])
    }), { numRuns: 200 })
  })
})
