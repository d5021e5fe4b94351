// Every simulator invariant fires on the bug it guards against, and only that one: first on crafted
// observations of a healthy world built by the production cores (configuration, allocator, election,
// BGP planning) with one thing broken, then in real simulated runs with the bug planted through a
// test-only injection (shell/sim/injections.ts).
import { describe, expect, it } from "vitest"
import type { Config } from "../../../core/config/config.ts"
import { resolve } from "../../../core/config/resolve.ts"
import { applyConfig, initialState, reconcileAll } from "../../../core/controller/reconcile.ts"
import { gratuitousFrames } from "../../../core/l2/announcer.ts"
import { encodeFrame, type Frame } from "../../../core/l2/frame.ts"
import { formatAddress } from "../../../core/net/address.ts"
import { l2Announcements } from "../../../core/speaker/l2.ts"
import { SimCluster } from "../../../shell/sim/cluster.ts"
import {
  type Check, checkBoundedWork, checkExpectations, eventBound, checkLeaverSilent, checkMembershipConverges, checkRoutesMatchAdvertisements, checkServicesAssigned,
  checkSharing, checkSingleL2Owner, checkStatusMatchesAllocator, type ControllerObservation, desiredRoutes, type Invariant, layer2Addresses,
  type MeasuredFailover, type Rib, sampleOwnership, type SpeakerObservation,
} from "../../../shell/sim/invariants.ts"
import type { Expectations, Scenario } from "../../../shell/sim/scenario.ts"
import { bgpEcmp, l2Failover } from "../../../shell/sim/scenarios.ts"
import type { Injections } from "../../../shell/sim/injections.ts"
import { runScenario } from "../../../shell/sim/world.ts"
import type { ServiceView } from "../../../core/controller/service.ts"
import { ip, mac } from "../../core/l2/fixtures.ts"

const ns = "metallb-system"
const documents = [
  { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: "lan", namespace: ns }, spec: { addresses: ["198.51.100.10-198.51.100.13"] } },
  { apiVersion: "metallb.io/v1beta1", kind: "L2Advertisement", metadata: { name: "lan", namespace: ns }, spec: {} },
  { apiVersion: "metallb.io/v1beta1", kind: "BGPAdvertisement", metadata: { name: "lan", namespace: ns }, spec: {} },
  { apiVersion: "metallb.io/v1beta2", kind: "BGPPeer", metadata: { name: "router", namespace: ns }, spec: { myASN: 64500, peerASN: 64501, peerAddress: "192.0.2.254" } },
]
const nodeNames = ["node-1", "node-2", "node-3"]

/** Everything the checkers look at, at one moment. */
interface World {
  readonly speakers: ReadonlyArray<SpeakerObservation>
  readonly services: ReadonlyArray<ServiceView>
  readonly controller: ControllerObservation
  readonly router: { readonly up: boolean; readonly rib: Rib }
  readonly desired: Rib
  readonly settled: boolean
  readonly msSinceLastFault: number
  readonly frames: ReadonlyArray<{ readonly from: string; readonly frame: Uint8Array }>
  readonly expect: Expectations
  readonly failovers: ReadonlyArray<MeasuredFailover>
  readonly bgpConvergenceMs: ReadonlyArray<number>
}

const checksOf = (w: World): Record<Invariant, Check> => ({
  sharing: checkSharing(w.services),
  statusMatchesAllocator: checkStatusMatchesAllocator({ controller: w.controller, services: w.services }),
  singleL2Owner: checkSingleL2Owner({ speakers: w.speakers, msSinceLastFault: w.msSinceLastFault }),
  leaverSilent: w.frames.map(({ from, frame }) => checkLeaverSilent({ from, terminating: w.speakers.some((s) => s.name === from && s.terminating), frame }))
    .reduce((a, b) => ({ checked: a.checked + b.checked, findings: [...a.findings, ...b.findings] }), { checked: 0, findings: [] }),
  routesMatchAdvertisements: checkRoutesMatchAdvertisements({ settled: w.settled, router: w.router, desired: w.desired }),
  servicesAssigned: checkServicesAssigned({ settled: w.settled, controller: w.controller, services: w.services, expectAllAssigned: false }),
  membershipConverges: checkMembershipConverges({ speakers: w.speakers, msSinceLastFault: w.msSinceLastFault }),
  expectation: checkExpectations({ expect: w.expect, failovers: w.failovers, bgpConvergenceMs: w.bgpConvergenceMs }),
  boundedWork: { checked: 0, findings: [] },
})

/** The invariants that fire on this world, each once. */
const fired = (w: World): ReadonlyArray<string> =>
  [...new Set(Object.values(checksOf(w)).flatMap((c) => c.findings.map((f) => f.invariant)))].sort()
const findings = (w: World, invariant: Invariant) => checksOf(w)[invariant].findings.map((f) => f.detail)

/**
 * A healthy world made by the production cores: the configuration resolved, the allocator's answers
 * written to status (two DNS services share one address), each node claiming what the election gives
 * it over the full membership, and the router holding exactly the routes the nodes advertise.
 */
const healthyWorld = (): World & { readonly config: Config; readonly cluster: SimCluster } => {
  const resolution = resolve(documents.map((value) => ({ value })))
  if (resolution._tag !== "Valid") throw new Error(`test configuration invalid: ${JSON.stringify(resolution.errors)}`)
  const config = resolution.config
  const cluster = new SimCluster()
  cluster.applyDocuments(documents)
  for (const name of nodeNames) cluster.addNode({ name, labels: { "kubernetes.io/hostname": name }, networkUnavailable: false })
  cluster.upsertService({ name: "web", endpoints: nodeNames })
  cluster.upsertService({ name: "api", endpoints: nodeNames })
  const dns = { annotations: { "metallb.io/allow-shared-ip": "dns" }, endpoints: nodeNames }
  cluster.upsertService({ name: "dns-tcp", ports: [{ protocol: "TCP", port: 53 }], ...dns })
  cluster.upsertService({ name: "dns-udp", ports: [{ protocol: "UDP", port: 53 }], ...dns })
  const { state, outcomes } = reconcileAll(applyConfig(initialState, config), cluster.serviceViews(), () => ({}))
  for (const o of outcomes) if (o.ingress !== undefined) cluster.writeStatus(o.key, o.ingress, o.pool)
  const snapshot = cluster.snapshot()
  const members = new Set(nodeNames)
  const speakers = nodeNames.map((name) => ({
    name,
    up: true,
    running: true,
    terminating: false,
    claimed: l2Announcements(config, snapshot, name, members).claims.map((c) => c.address),
    members,
  }))
  const desired = desiredRoutes(config, snapshot, nodeNames, "router")
  return {
    config,
    cluster,
    speakers,
    services: cluster.serviceViews(),
    controller: { alive: true, busy: false, config, allocator: state.allocator },
    router: { up: true, rib: new Map(desired) },
    desired,
    settled: true,
    msSinceLastFault: 20_000,
    frames: [],
    expect: { maxAnnounceMs: 1_000, maxOutageMs: 1_500, maxBgpConvergenceMs: 3_000 },
    failovers: [{ node: "node-3", address: "198.51.100.10", announceMs: 360, outageMs: 400 }],
    bgpConvergenceMs: [900],
  }
}

const healthy = healthyWorld()
const ingressOf = (name: string) => healthy.services.find((s) => s.name === name)!.ingressIPs
const ownerOf = (address: string) => healthy.speakers.filter((s) => s.claimed.some((a) => formatAddress(a) === address)).map((s) => s.name)
const withService = (name: string, change: (view: ServiceView) => ServiceView): ReadonlyArray<ServiceView> =>
  healthy.services.map((s) => (s.name === name ? change(s) : s))
const withSpeaker = (name: string, change: (s: SpeakerObservation) => SpeakerObservation): ReadonlyArray<SpeakerObservation> =>
  healthy.speakers.map((s) => (s.name === name ? change(s) : s))
const web = ingressOf("web")[0]!
const webOwner = ownerOf(web)[0]!
const bytes = (frame: Frame) => encodeFrame(frame)
const gratuitous = (address: string, from: string) =>
  gratuitousFrames(ip(address), { name: "eth0", mac: mac(`02:00:00:00:00:0${nodeNames.indexOf(from) + 1}`) }).map(bytes)

describe("simulator invariants on crafted observations", () => {
  it("a healthy world (built by the production cores) violates nothing, and every checker applies to it", () => {
    expect(ingressOf("dns-tcp")).toEqual(ingressOf("dns-udp"))
    const addresses = [...new Set(healthy.services.flatMap((s) => s.ingressIPs))]
    expect(addresses).toHaveLength(3)
    for (const address of addresses) expect(ownerOf(address), `owners of ${address}`).toHaveLength(1)
    expect(healthy.desired.size).toBe(3)
    expect(fired(healthy)).toEqual([])
    // leaverSilent applies to frames of a speaker handing over: its own test shows it.
    const applied = checksOf(healthy)
    for (const name of ["sharing", "statusMatchesAllocator", "singleL2Owner", "routesMatchAdvertisements", "servicesAssigned", "membershipConverges", "expectation"] as const) {
      expect(applied[name].checked, name).toBeGreaterThan(0)
    }
  })

  it("singleL2Owner: two live owners of an address once membership converged", () => {
    const other = nodeNames.find((n) => n !== webOwner)!
    const w = { ...healthy, speakers: withSpeaker(other, (s) => ({ ...s, claimed: [...s.claimed, ip(web)] })) }
    expect(fired(w)).toEqual(["singleL2Owner"])
    expect(findings(w, "singleL2Owner")).toEqual([`${web} claimed by 2 live speakers after membership converged`])
    // Not while membership disagrees (a partition), nor within 2 s of a fault; a leaver handing over is no second owner.
    const split = withSpeaker(other, (s) => ({ ...s, claimed: [...s.claimed, ip(web)], members: new Set([other]) }))
    expect(checkSingleL2Owner({ speakers: split, msSinceLastFault: 20_000 }).checked).toBe(0)
    expect(checkSingleL2Owner({ speakers: w.speakers, msSinceLastFault: 2_000 }).checked).toBe(0)
    const handOver = withSpeaker(other, (s) => ({ ...s, claimed: [...s.claimed, ip(web)], terminating: true }))
    expect(checkSingleL2Owner({ speakers: handOver, msSinceLastFault: 20_000 })).toEqual({ checked: 1, findings: [] })
  })

  it("leaverSilent: a speaker handing over sends a gratuitous ARP or an unsolicited NA", () => {
    const speakers = withSpeaker(webOwner, (s) => ({ ...s, terminating: true }))
    const w = { ...healthy, speakers, frames: gratuitous(web, webOwner).map((frame) => ({ from: webOwner, frame })) }
    expect(fired(w)).toEqual(["leaverSilent"])
    expect(findings(w, "leaverSilent")).toEqual([`${webOwner} announced ${web} while handing over`, `${webOwner} announced ${web} while handing over`])
    const [na] = gratuitousFrames(ip("2001:db8::10"), { name: "eth0", mac: mac("02:00:00:00:00:01") })
    expect(checkLeaverSilent({ from: webOwner, terminating: true, frame: bytes(na!) }).findings).toHaveLength(1)
    // Answers are allowed until it stops: an ARP reply to a client, a solicited NA; and anyone may announce before leaving.
    const [, reply] = gratuitousFrames(ip(web), { name: "eth0", mac: mac("02:00:00:00:00:01") })
    if (reply?._tag !== "ArpFrame" || na?._tag !== "NdpFrame" || na.ndp._tag !== "NeighborAdvertisement") throw new Error("unexpected announcement frames")
    const answer = bytes({ ...reply, arp: { ...reply.arp, targetIp: ip("192.0.2.200"), targetMac: mac("02:00:00:00:01:01") } })
    expect(checkLeaverSilent({ from: webOwner, terminating: true, frame: answer })).toEqual({ checked: 1, findings: [] })
    expect(checkLeaverSilent({ from: webOwner, terminating: true, frame: bytes({ ...na, ndp: { ...na.ndp, solicited: true } }) })).toEqual({ checked: 1, findings: [] })
    expect(checkLeaverSilent({ from: webOwner, terminating: false, frame: gratuitous(web, webOwner)[0]! }).checked).toBe(0)
  })

  it("statusMatchesAllocator: a status the allocator did not give", () => {
    const w = { ...healthy, services: withService("web", (s) => ({ ...s, ingressIPs: ["198.51.100.13"] })) }
    expect(fired(w)).toEqual(["statusMatchesAllocator"])
    expect(findings(w, "statusMatchesAllocator")).toEqual([`default/web: status [198.51.100.13] allocator [${web}]`])
    // Not while the controller's writes are still going out, nor while it is down or has no configuration.
    for (const controller of [{ busy: true }, { alive: false }, { config: undefined }]) {
      expect(checkStatusMatchesAllocator({ controller: { ...healthy.controller, ...controller }, services: w.services }).checked).toBe(0)
    }
  })

  it("sharing: two services on one address without a common sharing key, or with overlapping ports", () => {
    const noKey = { ...healthy, services: withService("dns-udp", (s) => ({ ...s, annotations: {} })) }
    const otherKey = { ...healthy, services: withService("dns-udp", (s) => ({ ...s, annotations: { "metallb.io/allow-shared-ip": "other" } })) }
    const samePort = { ...healthy, services: withService("dns-udp", (s) => ({ ...s, ports: [{ protocol: "TCP", port: 53 }] })) }
    const shared = ingressOf("dns-tcp")[0]
    for (const w of [noKey, otherKey, samePort]) {
      expect(fired(w)).toEqual(["sharing"])
      expect(findings(w, "sharing")).toEqual([`${shared} held by default/dns-tcp, default/dns-udp`])
    }
    // Without a protocol a port is TCP: TCP/53 and 53 overlap.
    const implicitTcp = withService("dns-udp", (s) => ({ ...s, ports: [{ port: 53 }] }))
    expect(checkSharing(implicitTcp).findings).toHaveLength(1)
  })

  it("routesMatchAdvertisements: the router's routes differ from the advertisements once settled", () => {
    const [prefix, nodes] = [...healthy.desired.entries()][0]!
    const missing = new Map(healthy.desired).set(prefix, nodes.slice(1))
    const stale = new Map(healthy.desired).set("198.51.100.99/32", ["node-2"])
    for (const rib of [missing, stale]) {
      const w = { ...healthy, router: { up: true, rib } }
      expect(fired(w)).toEqual(["routesMatchAdvertisements"])
      expect(findings(w, "routesMatchAdvertisements")[0]).toMatch(/^router \[.*\] desired \[.*\]$/)
    }
    // Not before the cluster settled, nor while the router is down or no configuration is known.
    expect(checkRoutesMatchAdvertisements({ settled: false, router: { up: true, rib: missing }, desired: healthy.desired }).checked).toBe(0)
    expect(checkRoutesMatchAdvertisements({ settled: true, router: { up: false, rib: missing }, desired: healthy.desired }).checked).toBe(0)
    expect(checkRoutesMatchAdvertisements({ settled: true, router: { up: true, rib: missing }, desired: undefined }).checked).toBe(0)
  })

  it("desiredRoutes: each announcing node's advertisements, and only theirs", () => {
    const { config, cluster } = healthyWorld()
    const addresses = healthy.services.flatMap((s) => s.ingressIPs)
    const two = desiredRoutes(config, cluster.snapshot(), ["node-1", "node-3"], "router")
    expect([...two.keys()].sort()).toEqual([...new Set(addresses)].map((a) => `${a}/32`).sort())
    for (const nodes of two.values()) expect(nodes).toEqual(["node-1", "node-3"])
    expect(desiredRoutes(config, cluster.snapshot(), ["node-1"], "another-peer").size).toBe(0)
  })

  it("servicesAssigned: a service left without an address although a default pool has room", () => {
    const unassigned: ServiceView = { ...healthy.services.find((s) => s.name === "api")!, name: "late", ingressIPs: [] }
    const w = { ...healthy, services: [...healthy.services, unassigned] }
    expect(fired(w)).toEqual(["servicesAssigned"])
    expect(findings(w, "servicesAssigned")).toEqual(["default/late has no address although a pool has room"])
    // A pool with no room left excuses it (unless the scenario expects every service assigned).
    const { config, cluster } = healthyWorld()
    cluster.upsertService({ name: "fourth", endpoints: nodeNames })
    const full = reconcileAll(applyConfig(initialState, config), cluster.serviceViews(), () => ({})).state
    const controller = { ...healthy.controller, allocator: full.allocator }
    expect(checkServicesAssigned({ settled: true, controller, services: w.services, expectAllAssigned: false })).toEqual({ checked: 1, findings: [] })
    expect(checkServicesAssigned({ settled: true, controller, services: w.services, expectAllAssigned: true }).findings).toHaveLength(1)
    expect(checkServicesAssigned({ settled: false, controller, services: w.services, expectAllAssigned: true }).checked).toBe(0)
  })

  it("membershipConverges: the running speakers are not one membership 10 s after the last fault", () => {
    const w = { ...healthy, speakers: healthy.speakers.map((s) => ({ ...s, members: new Set(s.name === "node-3" ? ["node-3"] : ["node-1", "node-2"]) })) }
    expect(fired(w)).toEqual(["membershipConverges"])
    expect(findings(w, "membershipConverges")).toEqual(["10 s after the last fault: node-1 sees node-1,node-2; node-2 sees node-1,node-2; node-3 sees node-3"])
    expect(checkMembershipConverges({ speakers: w.speakers, msSinceLastFault: 9_999 }).checked).toBe(0)
    // A crashed node is no member to wait for.
    const crashed = withSpeaker("node-3", (s) => ({ ...s, up: false, running: false, members: new Set() }))
      .map((s) => (s.name === "node-3" ? s : { ...s, members: new Set(["node-1", "node-2"]) }))
    expect(checkMembershipConverges({ speakers: crashed, msSinceLastFault: 20_000 })).toEqual({ checked: 1, findings: [] })
  })

  it("expectation: a scenario's failover or convergence figure is missed", () => {
    const slow = { ...healthy, failovers: [{ ...healthy.failovers[0]!, announceMs: 1_200 }] }
    const never = { ...healthy, failovers: [{ node: "node-3", address: web }] }
    const outage = { ...healthy, failovers: [{ ...healthy.failovers[0]!, outageMs: 1_600 }] }
    const bgp = { ...healthy, bgpConvergenceMs: [900, 3_500] }
    for (const w of [slow, never, outage, bgp]) expect(fired(w)).toEqual(["expectation"])
    expect(findings(slow, "expectation")).toEqual(["announcement of 198.51.100.10 after node-3 failed: 1200 ms (limit 1000 ms)"])
    expect(findings(never, "expectation")).toEqual([`announcement of ${web} after node-3 failed: never (limit 1000 ms)`])
    expect(findings(bgp, "expectation")).toEqual(["BGP convergence after a fault: 3500 ms (limit 3000 ms)"])
    expect(checkExpectations({ expect: {}, failovers: slow.failovers, bgpConvergenceMs: [] }).checked).toBe(0)
  })

  it("boundedWork: more events than 5 per node and 0.5 per Service per virtual ms", () => {
    const maxEvents = eventBound({ nodes: 3, services: 2, durationMs: 12_000 })
    expect(maxEvents).toBe(192_000)
    expect(eventBound({ nodes: 100, services: 2_000, durationMs: 20_000 })).toBe(30_000_000)
    expect(checkBoundedWork({ events: 192_000, maxEvents, nowMs: 12_000 }).findings).toEqual([])
    expect(checkBoundedWork({ events: 192_001, maxEvents, nowMs: 5_000 }).findings).toEqual([
      { invariant: "boundedWork", detail: "more than 192000 events by 5.000s: a runaway loop" },
    ])
  })

  it("sampleOwnership: counts addresses with two owners, with a hand-over in progress and with none", () => {
    const addresses = layer2Addresses(healthy.config, [...new Set(healthy.services.flatMap((s) => s.ingressIPs))].map(ip))
    expect(addresses).toHaveLength(3)
    expect(sampleOwnership({ speakers: healthy.speakers, addresses })).toEqual({ overlapping: 0, handingOver: 0, unowned: 0 })
    const other = nodeNames.find((n) => n !== webOwner)!
    const doubled = withSpeaker(other, (s) => ({ ...s, claimed: [...s.claimed, ip(web)] }))
    expect(sampleOwnership({ speakers: doubled, addresses })).toEqual({ overlapping: 1, handingOver: 0, unowned: 0 })
    const handing = doubled.map((s) => (s.name === webOwner ? { ...s, terminating: true } : s))
    expect(sampleOwnership({ speakers: handing, addresses }).handingOver).toBe(1)
    const lost = withSpeaker(webOwner, (s) => ({ ...s, claimed: [] }))
    expect(sampleOwnership({ speakers: lost, addresses }).unowned).toBe(healthy.speakers.find((s) => s.name === webOwner)!.claimed.length)
    expect(layer2Addresses(undefined, addresses)).toEqual([])
  })
})

/** Every invariant a run reported, from the trace (the violation list itself keeps only the first 50). */
const violated = (result: ReturnType<typeof runScenario>): ReadonlyArray<string> =>
  [...new Set(result.trace.flatMap((line) => /checker +VIOLATION (\w+):/.exec(line)?.[1] ?? []))].sort()

const quietL2: Scenario = { ...l2Failover, name: "quiet-l2", timeline: [], durationMs: 12_000, expect: {} }
const quietBgp: Scenario = { ...bgpEcmp, name: "quiet-bgp", timeline: [], durationMs: 15_000, expect: {} }

describe("simulator invariants on runs with a planted bug", () => {
  it("the injection ports change nothing when they pass everything through", () => {
    const identity: Injections = {
      garbleStatus: (_key, ingress) => ingress,
      controllerServices: (services) => services,
      speakerSnapshot: (_node, snapshot) => snapshot,
      dropMembership: () => false,
      toRouter: (_node, b) => b,
    }
    for (const scenario of [l2Failover, bgpEcmp]) {
      const plain = runScenario(scenario, 5)
      expect(plain.violations).toEqual([])
      expect(runScenario(scenario, 5, identity).traceHash).toBe(plain.traceHash)
    }
    for (const scenario of [quietL2, quietBgp]) expect(violated(runScenario(scenario, 1))).toEqual([])
  })

  it("two owners: a speaker whose Node informer lost the other nodes elects itself for everything -> singleL2Owner", () => {
    const result = runScenario(quietL2, 1, { speakerSnapshot: (node, s) => (node === "node-2" ? { ...s, nodes: s.nodes.filter((n) => n.name === node) } : s) })
    expect(violated(result)).toEqual(["singleL2Owner"])
    expect(result.violations[0]!.detail).toMatch(/^198\.51\.100\.1\d claimed by 2 live speakers after membership converged$/)
    expect(result.overlapMs).toBeGreaterThan(0)
  })

  it("a leaver that keeps announcing: gratuitous frames repeated while handing over -> leaverSilent", () => {
    const scenario: Scenario = { ...quietL2, timeline: [{ atMs: 5_000, action: { _tag: "StopSpeaker", node: "node-1", handOverMs: 2_000 } }] }
    expect(violated(runScenario(scenario, 1))).toEqual([])
    const result = runScenario(scenario, 1, { leaverRepeatsEveryMs: 500 })
    expect(violated(result)).toEqual(["leaverSilent"])
    // Every repeat within the 2 s hand-over is caught, and nothing after the speaker stopped.
    expect(result.violations.map((v) => v.atMs)).toEqual([5_500, 6_000, 6_500])
    expect(result.violations[0]!.detail).toMatch(/^node-1 announced 198\.51\.100\.1\d while handing over$/)
  })

  it("status != allocator: the controller's status write for web lands garbled -> statusMatchesAllocator", () => {
    const result = runScenario(quietL2, 1, { garbleStatus: (key, ingress) => (key === "default/web" && ingress.length > 0 ? ["198.51.100.20"] : ingress) })
    expect(violated(result)).toEqual(["statusMatchesAllocator"])
    expect(result.violations[0]!.detail).toMatch(/^default\/web: status \[198\.51\.100\.20\] allocator \[198\.51\.100\.1[01]\]$/)
  })

  it("routes != advertisements: node-2's UPDATEs never reach the router -> routesMatchAdvertisements", () => {
    const bgpUpdate = 2
    const result = runScenario(quietBgp, 1, { toRouter: (node, bytes) => (node === "node-2" && bytes[18] === bgpUpdate ? undefined : bytes) })
    expect(violated(result)).toEqual(["routesMatchAdvertisements"])
    // Checked from the moment the cluster counts as settled (6 s) to the end, every 250 ms.
    expect(result.violations[0]!.atMs).toBe(6_000)
    expect(result.checks["routesMatchAdvertisements"]).toBe(result.violations.length)
    expect(result.violations[0]!.detail).toContain('["203.0.113.0/32",["node-1","node-3"]]')
  })

  it("sharing without a key: the controller's informer shows web and api sharing key k on different ports -> sharing", () => {
    const stale = (services: ReadonlyArray<ServiceView>) => services.map((v) => ({
      ...v,
      annotations: { ...v.annotations, "metallb.io/allow-shared-ip": "k" },
      ports: v.name === "api" ? [{ protocol: "TCP", port: 8080 }] : v.ports,
    }))
    const result = runScenario(quietL2, 1, { controllerServices: stale })
    expect(violated(result)).toEqual(["sharing"])
    expect(result.violations[0]!.detail).toMatch(/^198\.51\.100\.1\d held by default\/api, default\/web$/)
  })

  it("a satisfiable service left without an address: the controller never sees api -> servicesAssigned", () => {
    const result = runScenario(quietL2, 1, { controllerServices: (services) => services.filter((v) => v.name !== "api") })
    expect(violated(result)).toEqual(["servicesAssigned"])
    expect(result.violations[0]).toEqual({ atMs: 6_000, invariant: "servicesAssigned", detail: "default/api has no address although a pool has room" })
  })

  it("membership not whole: node-3 deaf to every membership datagram -> membershipConverges at the end", () => {
    const result = runScenario(quietL2, 1, { dropMembership: (_from, to) => to === "node-3" })
    expect(violated(result)).toEqual(["membershipConverges"])
    expect(result.violations).toEqual([{
      atMs: 12_000,
      invariant: "membershipConverges",
      detail: "10 s after the last fault: node-1 sees node-1,node-2; node-2 sees node-1,node-2; node-3 sees node-3",
    }])
  })

  it("a runaway loop: the leaver repeating its frames with no delay -> boundedWork ends the run (and leaverSilent)", () => {
    const scenario: Scenario = { ...quietL2, timeline: [{ atMs: 5_000, action: { _tag: "StopSpeaker", node: "node-1", handOverMs: 2_000 } }] }
    const result = runScenario(scenario, 1, { leaverRepeatsEveryMs: 0 })
    expect(violated(result)).toEqual(["boundedWork", "leaverSilent"])
    expect(result.events).toBe(192_001)
    expect(result.trace.at(-1)).toMatch(/^ +5\.0000s checker +VIOLATION boundedWork: more than 192000 events by 5\.000s: a runaway loop$/)
    // 192,000 events: ~12 s alone, over 60 s at load 20 (it timed out once there).
  }, 300_000)

  it("a lost status write (web never gets its address) -> statusMatchesAllocator and, once settled, servicesAssigned", () => {
    const result = runScenario(quietL2, 1, { garbleStatus: (key, ingress) => (key === "default/web" ? [] : ingress) })
    expect(violated(result)).toEqual(["servicesAssigned", "statusMatchesAllocator"])
  })

  it("an expectation not met: the l2-failover crash announced later than an impossible 50 ms -> expectation", () => {
    const result = runScenario({ ...l2Failover, expect: { maxAnnounceMs: 50 } }, 1)
    expect(violated(result)).toEqual(["expectation"])
    expect(result.violations).toEqual([{ atMs: 45_000, invariant: "expectation", detail: "announcement of 198.51.100.11 after node-3 failed: 360 ms (limit 50 ms)" }])
  })
})
