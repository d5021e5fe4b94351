// Built-in scenarios: the situations MetalLB users hit most (METALLB.md §8), each a timeline of faults
// over a small cluster, plus a generator of random scenarios for seed sweeps (VOPR-style).
import type { BfdProfile } from "../../core/config/config.ts"
import type { ServiceSpec } from "./cluster.ts"
import type { Random } from "./random.ts"
import type { Action, Scenario } from "./scenario.ts"

const ns = "metallb-system"
const pool = (name: string, addresses: ReadonlyArray<string>, spec: Record<string, unknown> = {}) =>
  ({ apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name, namespace: ns }, spec: { addresses, ...spec } })
const l2 = (name: string, spec: Record<string, unknown> = {}) =>
  ({ apiVersion: "metallb.io/v1beta1", kind: "L2Advertisement", metadata: { name, namespace: ns }, spec })
const bgpAd = (name: string, spec: Record<string, unknown> = {}) =>
  ({ apiVersion: "metallb.io/v1beta1", kind: "BGPAdvertisement", metadata: { name, namespace: ns }, spec })
const peer = (spec: Record<string, unknown>) =>
  ({ apiVersion: "metallb.io/v1beta2", kind: "BGPPeer", metadata: { name: "router", namespace: ns }, spec })
const bfdProfileDoc = { apiVersion: "metallb.io/v1beta1", kind: "BFDProfile", metadata: { name: "fast", namespace: ns }, spec: { receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3 } }
const bfdProfile: BfdProfile = { name: "fast", receiveIntervalMs: 300, transmitIntervalMs: 300, detectMultiplier: 3, echoIntervalMs: 50, echoMode: false, passiveMode: false, minimumTtl: 254 }

const nodes = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `node-${i + 1}` }))
const everywhere = ["node-1", "node-2", "node-3"]
const service = (name: string, extra: Partial<ServiceSpec> = {}): ServiceSpec => ({ name, endpoints: everywhere, ...extra })

export const l2Failover: Scenario = {
  name: "l2-failover",
  description: "Layer 2: three nodes announce two services; the node owning web crashes and comes back; the node owning api is stopped gracefully (hand-over).",
  nodes: nodes(3),
  config: [pool("lan", ["198.51.100.10-198.51.100.20"]), l2("lan")],
  services: [service("web"), service("api")],
  clients: 1,
  timeline: [
    { atMs: 5_000, action: { _tag: "CrashOwner", service: "web" } },
    { atMs: 15_000, action: { _tag: "RestartNode", node: "node-3" } },
    { atMs: 25_000, action: { _tag: "StopSpeaker", node: "node-1", handOverMs: 1_000 } },
    { atMs: 30_000, action: { _tag: "RestartNode", node: "node-1" } },
    { atMs: 35_000, action: { _tag: "KillSpeaker", node: "node-2" } },
    { atMs: 40_000, action: { _tag: "RestartSpeaker", node: "node-2" } },
  ],
  durationMs: 45_000,
  expect: { maxAnnounceMs: 1_000, maxOutageMs: 1_500 },
}

export const bgpEcmp: Scenario = {
  name: "bgp-ecmp",
  description: "BGP: three nodes peer with a router (with BFD); every node advertises the services (ECMP); a node crashes, the router restarts, BFD flaps.",
  nodes: nodes(3),
  config: [
    pool("public", ["203.0.113.0/28", "2001:db8:100::/124"]),
    peer({ myASN: 64500, peerASN: 64501, peerAddress: "192.0.2.254", holdTime: "9s", bfdProfile: "fast", dualStackAddressFamily: true }),
    bfdProfileDoc,
    bgpAd("all", { communities: ["64500:100"] }),
  ],
  services: [service("web"), service("dns", { ipFamilyPolicy: "RequireDualStack" })],
  router: { asn: 64501, nodeAsn: 64500, holdTimeSeconds: 9, bfd: bfdProfile },
  clients: 0,
  timeline: [
    { atMs: 8_000, action: { _tag: "CrashNode", node: "node-3" } },
    { atMs: 20_000, action: { _tag: "RestartNode", node: "node-3" } },
    { atMs: 30_000, action: { _tag: "RestartRouter", downMs: 2_000 } },
    { atMs: 42_000, action: { _tag: "FlapBfd", node: "node-1", downMs: 1_500 } },
    { atMs: 48_000, action: { _tag: "KillSpeaker", node: "node-2" } },
    { atMs: 52_000, action: { _tag: "RestartSpeaker", node: "node-2" } },
  ],
  durationMs: 60_000,
  // BFD detects in <= 900 ms; a restarted router needs the sessions re-established.
  // With the production reconnect backoff (core/speaker/settings.ts: 1 s doubling) a session that
  // dropped with the router dials at once, after 1 s and after 2 s more: the router, back after 2 s,
  // has its routes again about 4 s after the restart (with the copy's 0.5 s backoff it was under 3 s).
  expect: { maxBgpConvergenceMs: 5_000 },
}

export const poolReload: Scenario = {
  name: "pool-reload",
  description: "Configuration edits: growing a pool moves nothing; shrinking it re-allocates only the services whose address left; an invalid edit changes nothing, even across a controller restart; the fixed configuration rebuilds from status.",
  nodes: nodes(3),
  config: [pool("lan", ["198.51.100.0/29"]), l2("lan")],
  services: [service("a"), service("b"), service("c"), service("d")],
  clients: 1,
  timeline: [
    { atMs: 3_000, action: { _tag: "ApplyConfig", documents: [pool("lan", ["198.51.100.0/28"])] } },
    { atMs: 8_000, action: { _tag: "ApplyConfig", documents: [pool("lan", ["198.51.100.2-198.51.100.9"])] } },
    { atMs: 14_000, action: { _tag: "ApplyConfig", documents: [pool("lan", ["198.51.100.2-198.51.100.9", "not-an-address"])] } },
    { atMs: 16_000, action: { _tag: "CrashController" } },
    { atMs: 17_000, action: { _tag: "RestartController" } },
    { atMs: 19_000, action: { _tag: "ApplyConfig", documents: [pool("lan", ["198.51.100.2-198.51.100.12"])] } },
    { atMs: 21_000, action: { _tag: "CreateService", service: service("e") } },
  ],
  durationMs: 30_000,
}

export const dualStack: Scenario = {
  name: "dual-stack",
  description: "Dual-stack: RequireDualStack and PreferDualStack services get one address per family from one pool; IPv4-only services from an IPv4 pool; the crash of the dual-stack service's owner moves both families together (the client follows over ARP and NDP).",
  nodes: nodes(3),
  config: [pool("v4", ["198.51.100.0/28"]), pool("dual", ["203.0.113.0/28", "2001:db8:1::/124"], { serviceAllocation: { priority: 10, serviceSelectors: [{ matchLabels: { stack: "dual" } }] } }), l2("all")],
  services: [
    service("both", { ipFamilyPolicy: "RequireDualStack", labels: { stack: "dual" } }),
    service("prefer", { ipFamilyPolicy: "PreferDualStack", labels: { stack: "dual" } }),
    service("plain"),
  ],
  clients: 1,
  // The election is deterministic: node-3 owns default/both (203.0.113.0, 2001:db8:1::).
  timeline: [{ atMs: 6_000, action: { _tag: "CrashOwner", service: "both" } }, { atMs: 14_000, action: { _tag: "RestartNode", node: "node-3" } }],
  durationMs: 24_000,
  expect: { maxAnnounceMs: 1_000, maxOutageMs: 1_500 },
}

export const partition: Scenario = {
  name: "partition",
  description: "A network partition isolates node-3 from the other nodes (not from clients): both sides may claim an address until it heals (split brain measured), then one owner remains.",
  nodes: nodes(3),
  config: [pool("lan", ["198.51.100.10-198.51.100.20"]), l2("lan")],
  services: [service("web"), service("api"), service("db")],
  clients: 1,
  timeline: [
    { atMs: 5_000, action: { _tag: "CutLink", a: "node-3", b: "node-1" } },
    { atMs: 5_000, action: { _tag: "CutLink", a: "node-3", b: "node-2" } },
    { atMs: 12_000, action: { _tag: "HealLinks" } },
    { atMs: 20_000, action: { _tag: "SetLoss", rate: 0.05 } },
    { atMs: 30_000, action: { _tag: "SetLoss", rate: 0 } },
  ],
  durationMs: 40_000,
}

/** Endpoints of the i-th service (from 0) of a large cluster: three nodes spread over all of them. */
const spreadEndpoints = (i: number, nodeCount: number) => [0, 1, 2].map((k) => `node-${((i + k * Math.ceil(nodeCount / 3)) % nodeCount) + 1}`)

/**
 * At scale: 100 nodes and 2,000 Services. Its endpoints are Local, on three nodes each, so every election
 * has three candidates; with Cluster every one of the 100 nodes is a candidate of every Service, and each
 * speaker's pass computes 200,000 election hashes (the production cost, 100 times over in one process).
 */
export const large: Scenario = {
  name: "large",
  description: "Scale: 100 nodes announce 2,000 Layer 2 services (Local endpoints on 3 nodes each); node-7 crashes and comes back; node-42's speaker is stopped gracefully.",
  nodes: nodes(100),
  config: [pool("lan", ["198.19.0.0/21"]), l2("lan")],
  services: Array.from({ length: 2_000 }, (_, i) => service(`svc-${i + 1}`, { endpoints: spreadEndpoints(i, 100), externalTrafficPolicy: "Local" })),
  clients: 1,
  // The faults end by 8 s, so both end-of-run checks judge the run: every Service addressed once
  // settled (6 s after the last fault: from 14 s) and one membership again (10 s after it: at 20 s).
  timeline: [
    { atMs: 4_000, action: { _tag: "CrashNode", node: "node-7" } },
    { atMs: 5_000, action: { _tag: "StopSpeaker", node: "node-42", handOverMs: 1_000 } },
    { atMs: 7_000, action: { _tag: "RestartNode", node: "node-7" } },
    { atMs: 8_000, action: { _tag: "RestartNode", node: "node-42" } },
  ],
  durationMs: 20_000,
  expect: { maxAnnounceMs: 1_000, maxOutageMs: 1_500 },
}

export const builtinScenarios: ReadonlyArray<Scenario> = [l2Failover, bgpEcmp, poolReload, dualStack, partition]

/** Scenarios at scale: run by name, and once per 100 seeds of a sweep (run.ts). */
export const scaleScenarios: ReadonlyArray<Scenario> = [large]

/** A random cluster and timeline: 2-5 nodes, L2 and sometimes BGP, random services and faults. */
export const randomScenario = (random: Random, index: number): Scenario => {
  const nodeCount = 2 + random.int(4)
  const names = Array.from({ length: nodeCount }, (_, i) => `node-${i + 1}`)
  const withBgp = random.chance(0.4)
  const config: Array<unknown> = [pool("lan", ["198.51.100.0/27", "2001:db8:2::/120"]), l2("lan")]
  if (withBgp) config.push(peer({ myASN: 64500, peerASN: 64501, peerAddress: "192.0.2.254", holdTime: "9s", bfdProfile: "fast", dualStackAddressFamily: true }), bfdProfileDoc, bgpAd("all"))
  const serviceCount = 1 + random.int(6)
  const services: Array<ServiceSpec> = Array.from({ length: serviceCount }, (_, i) => {
    const shared = random.chance(0.25)
    return {
      name: `svc-${i + 1}`,
      endpoints: names.filter(() => random.chance(0.7)).concat(names.slice(0, 1)),
      ports: [{ protocol: "TCP", port: 8000 + i }],
      ...(random.chance(0.2) ? { ipFamilyPolicy: "RequireDualStack" as const } : {}),
      ...(shared ? { annotations: { "metallb.io/allow-shared-ip": "shared" } } : {}),
      ...(random.chance(0.2) ? { externalTrafficPolicy: "Local" as const } : {}),
    }
  })
  // Long enough after the last repair for the membership check (10 s) to judge every run.
  const durationMs = 30_000
  const timeline: Array<{ atMs: number; action: Action }> = []
  const faults = 1 + random.int(4)
  const pickNode = () => names[random.int(names.length)]!
  /** Two non-empty sides, at random. */
  const splitNodes = (): readonly [ReadonlyArray<string>, ReadonlyArray<string>] => {
    const cut = 1 + random.int(names.length - 1)
    const shuffled = names.map((n) => [random.float(), n] as const).sort((x, y) => x[0] - y[0]).map(([, n]) => n)
    return [shuffled.slice(0, cut), shuffled.slice(cut)]
  }
  for (let i = 0; i < faults; i++) {
    const atMs = 2_000 + random.int(10_000)
    const node = pickNode()
    // Each fault with the repair that follows it, so the run ends in a settled cluster the checkers can judge.
    const faultsAndRepairs: Array<readonly [Action, Action | undefined, number?]> = [
      [{ _tag: "CrashNode", node }, { _tag: "RestartNode", node }],
      [{ _tag: "StopSpeaker", node, handOverMs: 500 + random.int(1_000) }, { _tag: "RestartNode", node }],
      [{ _tag: "KillSpeaker", node }, { _tag: "RestartSpeaker", node }],
      [{ _tag: "CutLink", a: node, b: pickNode() }, { _tag: "HealLinks" }],
      [{ _tag: "Partition", sides: splitNodes() }, { _tag: "HealLinks" }],
      [{ _tag: "SetLoss", rate: random.float() * 0.05 }, { _tag: "SetLoss", rate: 0 }],
      [{ _tag: "ApplyConfig", documents: [pool("lan", [random.chance(0.5) ? "198.51.100.0/28" : "198.51.100.0/26", "2001:db8:2::/120"])] }, undefined],
      // An invalid configuration pushed mid-run (the last valid one stays in force), fixed later.
      [{ _tag: "ApplyConfig", documents: [pool("lan", ["198.51.100.0/33", "2001:db8:2::/120"])] }, { _tag: "ApplyConfig", documents: [pool("lan", ["198.51.100.0/27", "2001:db8:2::/120"])] }],
      // A node's link down for seconds (its interface down), or a flap shorter than the link poll to a few polls.
      [{ _tag: "LinkDown", node }, { _tag: "LinkUp", node }],
      [{ _tag: "LinkDown", node }, { _tag: "LinkUp", node }, 100 + random.int(700)],
      [{ _tag: "CrashController" }, { _tag: "RestartController" }],
      [{ _tag: "CreateService", service: { name: `late-${i}`, endpoints: names } }, undefined],
      ...(withBgp
        ? [
          [{ _tag: "RestartRouter", downMs: 500 + random.int(2_000) }, undefined] as const,
          [{ _tag: "FlapBfd", node, downMs: 500 + random.int(1_500) }, undefined] as const,
        ]
        : []),
    ]
    const [fault, repair, repairAfterMs] = faultsAndRepairs[random.int(faultsAndRepairs.length)]!
    timeline.push({ atMs, action: fault })
    if (repair !== undefined) timeline.push({ atMs: atMs + (repairAfterMs ?? 1_000 + random.int(3_000)), action: repair })
  }
  timeline.sort((a, b) => a.atMs - b.atMs)
  return {
    name: `random-${index}`,
    description: `${nodeCount} nodes, ${serviceCount} services${withBgp ? ", BGP" : ""}, ${faults} faults`,
    nodes: names.map((name) => ({ name })),
    config,
    services,
    ...(withBgp ? { router: { asn: 64501, nodeAsn: 64500, holdTimeSeconds: 9, bfd: bfdProfile } } : {}),
    clients: 1,
    timeline,
    durationMs,
  }
}
