// explain over cluster states built from dumps (the offline reader's decoding): every reason the issue
// lists, as the controller's and speakers' own functions decide it.
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { explain } from "../../../core/explain/explain.ts"
import type { Allocation, Explanation, ServiceExplanation } from "../../../core/explain/explanation.ts"
import { formatExplanationText } from "../../../core/explain/text.ts"
import type { ClusterState } from "../../../core/snapshot/cluster-state.ts"
import { readDump } from "../../../shell/cli/cluster-state.ts"

type Obj = Record<string, unknown>
const ns = "metallb-system"

const node = (name: string, labels: Record<string, string> = {}, extra: Obj = {}): Obj => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name, labels: { "kubernetes.io/hostname": name, ...labels } },
  status: { addresses: [{ type: "InternalIP", address: `192.0.2.${10 + Number(name.slice(-1).charCodeAt(0) - 96)}` }], ...extra },
})
const namespace = (name: string, labels: Record<string, string> = {}): Obj => ({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } })
const pool = (name: string, spec: Obj): Obj => ({ apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name, namespace: ns }, spec })
const l2 = (name: string, spec: Obj = {}): Obj => ({ apiVersion: "metallb.io/v1beta1", kind: "L2Advertisement", metadata: { name, namespace: ns }, spec })
const bgpAd = (name: string, spec: Obj = {}): Obj => ({ apiVersion: "metallb.io/v1beta1", kind: "BGPAdvertisement", metadata: { name, namespace: ns }, spec })
const peer = (name: string, spec: Obj = {}): Obj => ({
  apiVersion: "metallb.io/v1beta2",
  kind: "BGPPeer",
  metadata: { name, namespace: ns },
  spec: { myASN: 64500, peerASN: 64501, peerAddress: "192.0.2.1", ...spec },
})
let ip = 1
const service = (name: string, options: { namespace?: string; status?: ReadonlyArray<string>; annotations?: Record<string, string>; spec?: Obj; labels?: Record<string, string> } = {}): Obj => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: options.namespace ?? "shop", labels: options.labels ?? {}, annotations: options.annotations ?? {} },
  spec: { type: "LoadBalancer", clusterIPs: [`198.18.0.${ip++}`], ports: [{ port: 80, protocol: "TCP" }], selector: { app: name }, ...options.spec },
  ...(options.status === undefined ? {} : { status: { loadBalancer: { ingress: options.status.map((i) => ({ ip: i })) } } }),
})
const endpoints = (serviceName: string, nodes: ReadonlyArray<string>, namespaceName = "shop"): Obj => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: `${serviceName}-x`, namespace: namespaceName, labels: { "kubernetes.io/service-name": serviceName } },
  addressType: "IPv4",
  endpoints: nodes.map((n, i) => ({ addresses: [`10.0.0.${i + 1}`], nodeName: n, conditions: { ready: true } })),
})
const speakerPod = (nodeName: string, ready = true): Obj => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: `speaker-${nodeName}`, namespace: ns, labels: { app: "metallb", component: "speaker" } },
  spec: { nodeName, containers: [] },
  status: { conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
})
const status = (kind: "ServiceL2Status" | "ServiceBGPStatus", serviceName: string, nodeName: string, extra: Obj): Obj => ({
  apiVersion: "metallb.io/v1beta1",
  kind,
  metadata: { name: `${kind}-${serviceName}-${nodeName}`, namespace: ns },
  status: { node: nodeName, serviceName, serviceNamespace: "shop", ...extra },
})

/** A BGPSessionState as our speaker writes it (bgpPeer set) or as frr-k8s does (no BGPPeer label). */
const sessionState = (nodeName: string, neighbor: string, bgpStatus: string, options: { bgpPeer?: string; bfdStatus?: string; since?: string } = {}): Obj => ({
  apiVersion: "frrk8s.metallb.io/v1beta1",
  kind: "BGPSessionState",
  metadata: {
    name: `${nodeName}-${options.bgpPeer ?? neighbor}`,
    namespace: ns,
    labels: { "frrk8s.metallb.io/node": nodeName, "frrk8s.metallb.io/peer": neighbor, "frrk8s.metallb.io/vrf": "", ...(options.bgpPeer === undefined ? {} : { "metallb-ts.io/bgppeer": options.bgpPeer }) },
    ...(options.since === undefined ? {} : { annotations: { "metallb-ts.io/bgp-status-since": options.since } }),
  },
  status: { node: nodeName, peer: neighbor, vrf: "", bgpStatus, bfdStatus: options.bfdStatus ?? "N/A" },
})

const base = [namespace("shop", { team: "a" }), namespace("dev"), node("node-a"), node("node-b"), node("node-c")]
const stateOf = (objects: ReadonlyArray<Obj>, options: { lbClass?: string } = {}): ClusterState =>
  readDump(JSON.stringify({ apiVersion: "v1", kind: "List", items: [...base, ...objects] }), "test.yaml", {
    sessionStates: true,
    ...(options.lbClass === undefined ? {} : { loadBalancerClass: options.lbClass }),
  })

const run = (state: ClusterState, key: string): ServiceExplanation => {
  const result = explain(state, { keys: [key] })
  if (Result.isFailure(result)) throw new Error(result.failure.message)
  const [one] = result.success.services
  // Every explanation also words itself and round-trips through JSON (what -o json prints).
  expect(formatExplanationText(result.success)).toContain(`Service ${key}`)
  expect(JSON.parse(JSON.stringify(result.success))).toEqual(result.success)
  return one!
}
const allocation = <T extends Allocation["_tag"]>(e: ServiceExplanation, tag: T): Extract<Allocation, { _tag: T }> => {
  expect(e.allocation._tag).toBe(tag)
  return e.allocation as Extract<Allocation, { _tag: T }>
}

describe("explain: addresses and how they were chosen", () => {
  const pools = [
    pool("pinned", { addresses: ["198.51.100.0/31"], serviceAllocation: { priority: 5, namespaces: ["shop"] } }),
    pool("general", { addresses: ["198.51.100.8/30"] }),
    pool("manual", { addresses: ["198.51.100.16/30"], autoAssign: false }),
    l2("l2"),
  ]

  it("pool priority: a pinned pool that serves the namespace comes before the default pools", () => {
    const a = allocation(run(stateOf([...pools, service("web")]), "shop/web"), "Assigned")
    expect(a).toMatchObject({ addresses: ["198.51.100.0"], pool: "pinned", how: { _tag: "PoolOrder" } })
    expect(a.pools.map((p) => [p.pool, p.verdict])).toEqual([["pinned", "chosen"], ["general", "notTried"], ["manual", "autoAssign"]])
  })

  it("pool order past an excluded namespace and an exhausted pool", () => {
    const full = pool("pinned", { addresses: ["198.51.100.0/32"], serviceAllocation: { priority: 5, namespaces: ["dev"] } })
    const tiny = pool("a-tiny", { addresses: ["198.51.100.32/32"] })
    const e = run(stateOf([full, tiny, pool("general", { addresses: ["198.51.100.8/30"] }), service("old", { namespace: "dev", status: ["198.51.100.32"] }), service("web")]), "shop/web")
    const a = allocation(e, "Assigned")
    expect(a.pool).toBe("general")
    expect(a.pools.map((p) => [p.pool, p.verdict])).toEqual([["a-tiny", "exhausted"], ["general", "chosen"], ["pinned", "namespace"]])
  })

  it("requested by annotation and by spec.loadBalancerIP; kept from status; the annotated pool", () => {
    const s = stateOf([
      ...pools,
      service("by-annotation", { annotations: { "metallb.io/loadBalancerIPs": "198.51.100.17" } }),
      service("by-spec", { spec: { loadBalancerIP: "198.51.100.9" } }),
      service("kept", { status: ["198.51.100.10"] }),
      service("annotated", { annotations: { "metallb.io/address-pool": "manual" } }),
    ])
    expect(allocation(run(s, "shop/by-annotation"), "Assigned")).toMatchObject({ addresses: ["198.51.100.17"], pool: "manual", how: { _tag: "Requested", by: "annotation" } })
    expect(allocation(run(s, "shop/by-spec"), "Assigned")).toMatchObject({ addresses: ["198.51.100.9"], how: { _tag: "Requested", by: "spec.loadBalancerIP" } })
    expect(allocation(run(s, "shop/kept"), "Assigned")).toMatchObject({ addresses: ["198.51.100.10"], pool: "general", how: { _tag: "KeptFromStatus" } })
    expect(run(s, "shop/kept").notes).toEqual([])
    expect(allocation(run(s, "shop/annotated"), "Assigned")).toMatchObject({ pool: "manual", how: { _tag: "AnnotatedPool", pool: "manual" } })
    expect(run(s, "shop/by-spec").notes[0]).toMatch(/status shows no address: the controller has not written 198\.51\.100\.9/)
  })

  it("sharing: with which Services on which ports", () => {
    const shared = { "metallb.io/allow-shared-ip": "k", "metallb.io/loadBalancerIPs": "198.51.100.9" }
    const s = stateOf([...pools, service("http", { annotations: shared }), service("dns", { annotations: shared, spec: { ports: [{ port: 53, protocol: "UDP" }] } })])
    const a = allocation(run(s, "shop/http"), "Assigned")
    expect(a.shared).toEqual([{ address: "198.51.100.9", sharingKey: "k", with: [{ service: "shop/dns", ports: ["UDP/53"] }] }])
  })
})

describe("explain: why no address", () => {
  const pools = [pool("general", { addresses: ["198.51.100.8/31"] }), l2("l2")]

  it("not LoadBalancer, another loadBalancerClass", () => {
    const s = stateOf([...pools, service("cip", { spec: { type: "ClusterIP" } }), service("other", { spec: { loadBalancerClass: "example.com/other" } })])
    expect(allocation(run(s, "shop/cip"), "NotLoadBalancer").type).toBe("ClusterIP")
    expect(allocation(run(s, "shop/other"), "OtherClass")).toMatchObject({ loadBalancerClass: "example.com/other" })
    expect(allocation(run(stateOf([...pools, service("mine")], { lbClass: "example.com/ours" }), "shop/mine"), "OtherClass").ours).toBe("example.com/ours")
  })

  it("no compatible pool, naming each pool and its rule: namespace, serviceSelector, autoAssign, family, exhausted", () => {
    const s = stateOf([
      pool("for-dev", { addresses: ["198.51.100.0/31"], serviceAllocation: { namespaces: ["dev"] } }),
      pool("for-labelled", { addresses: ["198.51.100.2/31"], serviceAllocation: { serviceSelectors: [{ matchLabels: { tier: "gold" } }] } }),
      pool("manual", { addresses: ["198.51.100.16/30"], autoAssign: false }),
      pool("v6", { addresses: ["2001:db8::/126"] }),
      pool("full", { addresses: ["198.51.100.20/32"] }),
      service("taker", { status: ["198.51.100.20"] }),
      service("web"),
    ])
    const f = allocation(run(s, "shop/web"), "Failed")
    expect(f.error).toBe("PoolExhausted")
    expect(Object.fromEntries(f.pools.map((p) => [p.pool, p.verdict]))).toEqual({
      "for-dev": "namespace",
      "for-labelled": "serviceSelector",
      manual: "autoAssign",
      v6: "family",
      full: "exhausted",
    })
  })

  it("a requested address outside every pool, or in use (by whom), or a sharing conflict", () => {
    const s = stateOf([
      ...pools,
      service("outside", { annotations: { "metallb.io/loadBalancerIPs": "203.0.113.5" } }),
      service("owner", { status: ["198.51.100.8"] }),
      service("thief", { annotations: { "metallb.io/loadBalancerIPs": "198.51.100.8" } }),
      service("a", { annotations: { "metallb.io/allow-shared-ip": "k", "metallb.io/loadBalancerIPs": "198.51.100.9" } }),
      service("b", { annotations: { "metallb.io/allow-shared-ip": "k", "metallb.io/loadBalancerIPs": "198.51.100.9" } }),
    ])
    expect(allocation(run(s, "shop/outside"), "Failed")).toMatchObject({ error: "AddressNotInPool", message: expect.stringMatching(/no pool contains it/) })
    expect(allocation(run(s, "shop/thief"), "Failed")).toMatchObject({ error: "AddressInUse", holders: ["shop/owner"] })
    // Same key, same port: the second one in the controller's order is refused, naming the first.
    expect(allocation(run(s, "shop/b"), "Failed")).toMatchObject({ error: "PortConflict", holders: ["shop/a"], message: expect.stringMatching(/TCP\/80/) })
  })

  it("sharing keys that differ, with the keys named", () => {
    const s = stateOf([
      ...pools,
      service("a", { annotations: { "metallb.io/allow-shared-ip": "one", "metallb.io/loadBalancerIPs": "198.51.100.9" } }),
      service("b", { annotations: { "metallb.io/allow-shared-ip": "two", "metallb.io/loadBalancerIPs": "198.51.100.9" }, spec: { ports: [{ port: 81 }] } }),
    ])
    expect(allocation(run(s, "shop/b"), "Failed")).toMatchObject({ error: "AddressInUse", holders: ["shop/a"], message: expect.stringMatching(/sharing key "two" does not match "one"/) })
  })

  it("a sharing conflict on the backend: externalTrafficPolicy Local services sharing must select the same pods", () => {
    const local = (name: string, app: string) =>
      service(name, { annotations: { "metallb.io/allow-shared-ip": "k", "metallb.io/loadBalancerIPs": "198.51.100.9" }, spec: { externalTrafficPolicy: "Local", selector: { app }, ports: [{ port: name === "a" ? 80 : 81 }] } })
    const s = stateOf([...pools, local("a", "one"), local("b", "two")])
    expect(allocation(run(s, "shop/b"), "Failed")).toMatchObject({ error: "AddressInUse", holders: ["shop/a"], message: expect.stringMatching(/must select the same pods/) })
  })

  it("a bad request (unparsable annotation) is the controller's warning", () => {
    const s = stateOf([...pools, service("typo", { annotations: { "metallb.io/loadBalancerIPs": "not-an-ip" } })])
    expect(allocation(run(s, "shop/typo"), "BadRequest").message).toMatch(/loadBalancerIPs annotation/)
  })

  it("an invalid configuration: its errors, and that the last valid one stays in force with the Service's addresses", () => {
    const s = stateOf([pool("broken", { addresses: ["not-a-range"] }), l2("l2"), service("web", { status: ["198.51.100.8"] })])
    const result = explain(s, { keys: ["shop/web"] })
    const e = Result.getOrThrow(result)
    expect(e.config.valid).toBe(false)
    expect(e.config.errors.join("\n")).toMatch(/IPAddressPool .*broken.*spec\.addresses/)
    expect(e.services[0]?.allocation._tag).toBe("NoConfiguration")
    expect(e.services[0]?.notes[0]).toMatch(/keeps the last valid configuration .* so the Service keeps 198\.51\.100\.8/)
    expect(formatExplanationText(e)).toMatch(/Configuration: INVALID \(\d+ error\(s\)\); the controller and speakers keep the last valid configuration/)
  })

  it("an unknown Service is an error naming it", () => {
    const result = explain(stateOf(pools), { keys: ["shop/nope"] })
    expect(Result.isFailure(result) && result.failure.message).toBe("no Service shop/nope in file test.yaml")
  })
})

describe("explain: Layer 2", () => {
  it("the election order with each node's reason: not a member, excluded label, NetworkUnavailable, node selector, no local endpoint", () => {
    const s = stateOf([
      node("node-d", { "node.kubernetes.io/exclude-from-external-load-balancers": "" }),
      node("node-e", {}, { conditions: [{ type: "NetworkUnavailable", status: "True" }] }),
      node("node-f", { rack: "other" }),
      node("node-g"),
      pool("general", { addresses: ["198.51.100.8/30"] }),
      l2("l2", { nodeSelectors: [{ matchExpressions: [{ key: "rack", operator: "DoesNotExist" }] }], interfaces: ["eth1"] }),
      service("web", { status: ["198.51.100.8"], spec: { externalTrafficPolicy: "Local" } }),
      endpoints("web", ["node-a", "node-b", "node-d", "node-e", "node-f"]),
      ...["node-a", "node-b", "node-c", "node-d", "node-e", "node-f"].map((n) => speakerPod(n)),
      speakerPod("node-g", false),
      status("ServiceL2Status", "web", "node-a", { interfaces: [{ name: "eth1" }] }),
    ])
    const e = run(s, "shop/web")
    const l = e.layer2!
    const reasons = Object.fromEntries(l.nodes.map((n) => [n.node, n.reason]))
    expect(reasons).toEqual({
      "node-a": "candidate",
      "node-b": "candidate",
      "node-c": "NoLocalEndpoint",
      "node-d": "ExcludedLabel",
      "node-e": "NetworkUnavailable",
      "node-f": "NodeSelector",
      "node-g": "NotMember",
    })
    const ranked = l.nodes.filter((n) => n.reason === "candidate").map((n) => [n.rank, n.node])
    expect(ranked.map(([r]) => r)).toEqual([1, 2])
    expect(l.owner).toBe(ranked[0]?.[1])
    expect(l.interfaces).toEqual(["eth1"])
    expect(l.result).toBe("Elected")
    // The status names node-a: agreeing or not, the explanation says so.
    if (l.owner === "node-a") expect(e.notes).toEqual([])
    else expect(e.notes[0]).toMatch(/ServiceL2Status says node-a announces it, not node-b/)
  })

  it("preferredNodeSelectors weights come before the hash", () => {
    const s = stateOf([
      pool("general", { addresses: ["198.51.100.8/30"] }),
      l2("l2", { preferredNodeSelectors: [{ weight: 50, preference: { matchLabels: { "kubernetes.io/hostname": "node-c" } } }] }),
      service("web", { status: ["198.51.100.8"] }),
      endpoints("web", ["node-a"]),
    ])
    const l = run(s, "shop/web").layer2!
    expect(l.owner).toBe("node-c")
    expect(l.nodes[0]).toEqual({ node: "node-c", reason: "candidate", rank: 1, score: 50 })
  })

  it("no ready endpoint anywhere: nobody announces", () => {
    const s = stateOf([pool("general", { addresses: ["198.51.100.8/30"] }), l2("l2"), service("web", { status: ["198.51.100.8"] })])
    const l = run(s, "shop/web").layer2!
    expect(l.owner).toBeUndefined()
    expect(l.result).toBe("NoServingEndpoint")
  })

  it("no advertisement for the pool: nobody announces, and the note says so", () => {
    const s = stateOf([pool("general", { addresses: ["198.51.100.8/30"] }), service("web", { status: ["198.51.100.8"] }), endpoints("web", ["node-a"])])
    const e = run(s, "shop/web")
    expect(e.layer2).toBeUndefined()
    expect(e.bgp).toBeUndefined()
    expect(e.notes).toContainEqual(expect.stringMatching(/no L2Advertisement or BGPAdvertisement covers pool "general"/))
  })
})

describe("explain: BGP", () => {
  const config = [
    pool("general", { addresses: ["198.51.100.8/30"] }),
    peer("tor-a", { nodeSelectors: [{ matchLabels: { "kubernetes.io/hostname": "node-a" } }] }),
    peer("tor-b", { peerAddress: "192.0.2.2", nodeSelectors: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: ["node-a", "node-b"] }] }] }),
    bgpAd("agg", { aggregationLength: 30, localPref: 200, communities: ["64500:100"], nodeSelectors: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "NotIn", values: ["node-c"] }] }] }),
  ]

  it("which nodes advertise to which peers, with aggregation, local-pref and communities; and why the others do not", () => {
    const s = stateOf([
      ...config,
      service("web", { status: ["198.51.100.9"], spec: { externalTrafficPolicy: "Local" } }),
      endpoints("web", ["node-a", "node-c"]),
      status("ServiceBGPStatus", "web", "node-a", { peers: ["tor-a"] }),
    ])
    const e = run(s, "shop/web")
    const b = e.bgp!
    const byNode = Object.fromEntries(b.nodes.map((n) => [n.node, n]))
    expect(byNode["node-a"]?.reason).toBe("advertises")
    expect(byNode["node-a"]?.peers).toEqual([
      { peer: "tor-a", routes: [{ prefix: "198.51.100.8/30", localPref: 200, communities: ["64500:100"] }], reported: true },
      { peer: "tor-b", routes: [{ prefix: "198.51.100.8/30", localPref: 200, communities: ["64500:100"] }], reported: false },
    ])
    expect(byNode["node-b"]?.reason).toBe("NoLocalEndpoint")
    expect(byNode["node-c"]?.reason).toBe("NodeSelector")
    expect(e.notes).toContainEqual(expect.stringMatching(/node-a should advertise to tor-b but its ServiceBGPStatus does not list them/))
  })

  it("a node no peer selects, and a node without a speaker", () => {
    const s = stateOf([...config, service("web", { status: ["198.51.100.9"] }), endpoints("web", ["node-a"]), speakerPod("node-a"), speakerPod("node-b", false)])
    const byNode = Object.fromEntries(run(s, "shop/web").bgp!.nodes.map((n) => [n.node, n.reason]))
    expect(byNode).toEqual({ "node-a": "advertises", "node-b": "NoSpeaker", "node-c": "NodeSelector" })
    const noPeer = stateOf([...config.slice(0, 3), bgpAd("all"), service("web", { status: ["198.51.100.9"] }), endpoints("web", ["node-a"])])
    expect(Object.fromEntries(run(noPeer, "shop/web").bgp!.nodes.map((n) => [n.node, n.reason]))["node-c"]).toBe("NoPeerForNode")
  })

  describe("session states (BGPSessionState)", () => {
    const web = [service("web", { status: ["198.51.100.9"] }), endpoints("web", ["node-a", "node-b"])]
    const since = "2026-12-03T10:00:00.000Z"

    it("per node and peer; a node with no Established session to a peer it would advertise to: session down, with the state and since when", () => {
      const s = stateOf([
        ...config, ...web,
        sessionState("node-a", "192.0.2.1", "Established", { bgpPeer: "tor-a", bfdStatus: "up", since }),
        sessionState("node-a", "192.0.2.2", "Active", { bgpPeer: "tor-b", since }),
        sessionState("node-b", "192.0.2.2", "Connect", { bgpPeer: "tor-b", bfdStatus: "down", since }),
        status("ServiceBGPStatus", "web", "node-a", { peers: ["tor-a"] }),
      ])
      const e = run(s, "shop/web")
      const byNode = Object.fromEntries(e.bgp!.nodes.map((n) => [n.node, n]))
      expect(byNode["node-a"]?.reason).toBe("advertises")
      expect(byNode["node-a"]?.sessions).toEqual([
        { peer: "tor-a", state: { bgpStatus: "Established", bfdStatus: "up", since, object: "node-a-tor-a" } },
        { peer: "tor-b", state: { bgpStatus: "Active", bfdStatus: "N/A", since, object: "node-a-tor-b" } },
      ])
      expect(byNode["node-b"]?.reason).toBe("SessionDown")
      expect(byNode["node-b"]?.sessions).toEqual([{ peer: "tor-b", state: { bgpStatus: "Connect", bfdStatus: "down", since, object: "node-b-tor-b" } }])
      expect(byNode["node-c"]?.sessions).toEqual([])
      expect(e.bgp?.sessionStatesUnknown).toBeUndefined()
      // The sessions known down explain the missing ServiceBGPStatus peers: no guess in the notes.
      expect(e.notes.filter((n) => n.includes("ServiceBGPStatus"))).toEqual([])
      const text = formatExplanationText(Result.getOrThrow(explain(s, { keys: ["shop/web"] })))
      expect(text).toContain(`  node-b: not advertising: session down (no session to a peer it would advertise to is Established) (BGPAdvertisements agg)\n    session with tor-b: session down: Connect since ${since}, BFD down`)
      expect(text).toContain(`    session with tor-a: Established since ${since}, BFD up`)
      expect(text).toContain(`    session with tor-b: session down: Active since ${since}, BFD N/A`)
    })

    it("an Established session the ServiceBGPStatus does not list: the status lags; a session with no object: not open", () => {
      const s = stateOf([...config, ...web, sessionState("node-a", "192.0.2.1", "Established", { bgpPeer: "tor-a" })])
      const e = run(s, "shop/web")
      const byNode = Object.fromEntries(e.bgp!.nodes.map((n) => [n.node, n]))
      expect(byNode["node-a"]?.reason).toBe("advertises")
      expect(byNode["node-b"]?.reason).toBe("advertises")
      expect(byNode["node-b"]?.sessions).toEqual([{ peer: "tor-b" }])
      expect(e.notes).toContainEqual("node-a's session with tor-a is Established but its ServiceBGPStatus does not list them: the status lags (or statuses could not be read)")
      expect(e.notes).toContainEqual(expect.stringMatching(/^node-a should advertise to tor-b but/))
      expect(formatExplanationText(Result.getOrThrow(explain(s, { keys: ["shop/web"] })))).toContain("session with tor-b: no BGPSessionState (the session is not open on this node)")
    })

    it("frr-k8s's objects (MetalLB's FRR-K8s mode) are matched by neighbour address and VRF", () => {
      const v6 = peer("tor-6", { peerAddress: "2001:db8::1", nodeSelectors: [{ matchLabels: { "kubernetes.io/hostname": "node-a" } }] })
      const s = stateOf([
        ...config, v6, ...web,
        sessionState("node-a", "192.0.2.2", "OpenSent"),
        sessionState("node-a", "2001-0db8-0000-0000-0000-0000-0000-0001", "Established"),
      ])
      const sessions = run(s, "shop/web").bgp!.nodes.find((n) => n.node === "node-a")!.sessions
      expect(sessions.map((x) => [x.peer, x.state?.bgpStatus])).toEqual([["tor-6", "Established"], ["tor-a", undefined], ["tor-b", "OpenSent"]])
    })

    it("says plainly when the states could not be read: not in a dump, 403, CRD not served", () => {
      const read = stateOf([...config, ...web])
      const { sessionStates: _read, ...notDumped } = read
      expect(run(notDumped, "shop/web").bgp?.sessionStatesUnknown).toBe("BGPSessionStates were not read from file test.yaml")
      const forbidden = { ...notDumped, unreadable: [{ kind: "BGPSessionState", namespace: ns, status: 403, reason: "list bgpsessionstates.frrk8s.metallb.io: 403 Forbidden" }] }
      const e = Result.getOrThrow(explain(forbidden, { keys: ["shop/web"] }))
      expect(e.services[0]?.bgp?.sessionStatesUnknown).toBe("BGPSessionStates could not be read: not allowed (HTTP 403)")
      expect(e.services[0]?.bgp?.nodes.every((n) => n.reason !== "SessionDown")).toBe(true)
      const text = formatExplanationText(e)
      expect(text).toContain("  session states unknown: BGPSessionStates could not be read: not allowed (HTTP 403)")
      expect(text).not.toContain("session with")
      const noCrd = { ...notDumped, unreadable: [{ kind: "BGPSessionState", namespace: ns, status: 404, reason: "bgpsessionstates.frrk8s.metallb.io is not served (CRD not installed?)" }] }
      expect(run(noCrd, "shop/web").bgp?.sessionStatesUnknown).toBe("BGPSessionStates could not be read: the BGPSessionState CRD is not served (HTTP 404)")
    })
  })

  it("without readable Secrets, peers' passwordSecrets are not checked (said), the rest is explained", () => {
    const s = stateOf([...config.slice(0, 1), peer("tor-a", { passwordSecret: { name: "pw" } }), bgpAd("all"), service("web", { status: ["198.51.100.9"] }), endpoints("web", ["node-a"])])
    const e: Explanation = Result.getOrThrow(explain(s, { all: true }))
    expect(e.config.valid).toBe(true)
    expect(e.notes).toEqual(["Secrets could not be read: the password Secrets of BGPPeer tor-a were not checked"])
    expect(e.unreadable.map((u) => u.kind)).toContain("Secret")
    expect(formatExplanationText(e)).toMatch(/Could not read Secret: not in test\.yaml/)
  })
})
