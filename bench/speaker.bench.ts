// The speaker's footprint (issue 17) in the Layer 2 lab (spec/support/lab.ts): two node namespaces on one
// segment, each with a real `metallb-ts speaker` process (the DaemonSet's entry, root for AF_PACKET,
// membership on with the default "fast" profile), the real controller writing the Services' status, one
// IPv6 Layer 2 pool (2001:db8:300::/112, so 5,000 addresses fit in TESTBED.md's ranges) and 5,000
// LoadBalancer Services (METALLB_TS_BENCH_SERVICES to change) with one EndpointSlice each, endpoints on
// every node. node-1's speaker is measured from /proc/<pid>: RSS at start, RSS with every Service announced
// (by one of the two speakers), CPU while 100 EndpointSlices change per second (node-1's endpoint
// turns not ready and ready again: the Services stay announced, the speaker sees each change) and idle CPU
// with nothing changing. CPU seconds hold on a loaded machine; the achieved churn rate is printed.
// The speakers and the controller run as the image runs them, from the bundle (shell/image/bundle.ts), and
// the speakers with the DaemonSet's NODE_OPTIONS (spec/support/lab.ts speakerNodeOptions reads them from
// manifests/base/speaker.yaml): V8's heap flags move the RSS by far more than the targets' margins.
import { DiscoveryV1Api, type V1EndpointSlice, type V1Node, type V1Service } from "@kubernetes/client-node"
import { initialNode, type NodeInput, type NodeState, step } from "../core/speaker/node.ts"
import { emptyPassCache } from "../core/speaker/node/pass-cache.ts"
import { nodeSettings } from "../core/speaker/settings.ts"
import { ClusterSnapshots } from "../shell/speaker/cluster-snapshot.ts"
import { membershipProfiles } from "../core/election/membership/config.ts"
import { bundleFile, buildBundle } from "../shell/image/bundle.ts"
import { withConnectionReuse } from "../shell/kube/kube-config.ts"
import { createService, type E2eLab, labSkipReason, metallbNamespace, speakerNodeOptions, startE2eLab } from "../spec/support/lab.ts"
import { sleep } from "../spec/support/netns.ts"
import { printTarget } from "./harness.ts"
import { cpuSeconds, peakRssMiB, rssMiB, sample } from "./proc.ts"

const services = Number(process.env["METALLB_TS_BENCH_SERVICES"] ?? 5_000)
const createInFlight = 32
const churnPerSecond = 100
const windowMs = 30_000
const pool = "2001:db8:300::/112"
const namespace = "default"
const rssGuardMiB = 4_096

/** Addresses announced by a speaker, from its metallb_speaker_announced samples. */
const announcedBy = async (lab: E2eLab, node: E2eLab["nodes"][number]): Promise<number> =>
  ((await lab.scrapeSpeaker(node)) ?? "").split("\n").filter((l) => l.startsWith("metallb_speaker_announced{") && !l.endsWith(" 0")).length

/** CPU milliseconds (user + system) of `f`. */
const cpuMs = (f: () => void): number => {
  const from = process.cpuUsage()
  f()
  const used = process.cpuUsage(from)
  return (used.user + used.system) / 1000
}

/**
 * The probe's answer once it has one, within `timeoutMs` of wall time (a scrape of 5,000 samples on a
 * loaded machine takes seconds: counting attempts would wait far longer than the timeout).
 */
const until = async <A>(what: string, probe: () => Promise<A | undefined>, options: { readonly timeoutMs: number; readonly intervalMs: number }): Promise<A> => {
  const deadline = performance.now() + options.timeoutMs
  while (performance.now() < deadline) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    await sleep(options.intervalMs)
  }
  throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}`)
}

const median = (values: ReadonlyArray<number>): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/**
 * The decision pass in process, as the speaker runs it on a ClusterChanged: the snapshot from the
 * informers' objects (shell/speaker/cluster-snapshot.ts) and one step of the node machine, on a node of
 * three with `count` Services, half Layer 2 and half BGP, endpoints on every node. Figures: the first
 * pass (every Service decided), a pass after one EndpointSlice changed (with the snapshot's changes: the
 * median, and the mean over 1,200 changes, which includes the folds of the decisions kept aside and of
 * the snapshot's layers; and without the changes: every Service looked at), a pass with nothing changed (the resync), a
 * pass after a member was lost (every election again, hash order memoised) and a pass with the cache
 * dropped (what every pass cost before the pass cache).
 */
const passFigures = (count: number) => {
  const nodes: Array<V1Node> = ["node-1", "node-2", "node-3"].map((name, i) => ({
    metadata: { name, labels: { "kubernetes.io/hostname": name } },
    status: { addresses: [{ type: "InternalIP", address: `192.0.2.${i + 1}` }] },
  }))
  const services: Array<V1Service> = Array.from({ length: count }, (_, i) => ({
    metadata: { namespace: "default", name: `svc-${i}`, annotations: { "metallb.io/ip-allocated-from-pool": i % 2 === 0 ? "lan" : "wan" } },
    spec: { type: "LoadBalancer", externalTrafficPolicy: "Cluster" },
    status: { loadBalancer: { ingress: [{ ip: i % 2 === 0 ? `2001:db8:300::${i.toString(16)}` : `2001:db8:400::${i.toString(16)}` }] } },
  }))
  const slice = (i: number, node1Ready: boolean): V1EndpointSlice => ({
    metadata: { namespace: "default", name: `svc-${i}-x`, labels: { "kubernetes.io/service-name": `svc-${i}` } },
    addressType: "IPv6",
    endpoints: nodes.map((n) => {
      const ready = n !== nodes[0] || node1Ready
      return { addresses: ["2001:db8:ffff::1"], nodeName: n.metadata!.name!, conditions: { ready, serving: ready } }
    }),
  })
  const slices = services.map((_, i) => slice(i, true))
  // As the speaker's informers feed it: every object added, then each replaced slice as an update.
  const snapshots = new ClusterSnapshots(undefined)
  for (const s of services) snapshots.service("add", s)
  for (const s of slices) snapshots.slice("add", s)
  const doc = (kind: string, name: string, spec: Record<string, unknown>, version = "v1beta1") =>
    ({ value: { apiVersion: `metallb.io/${version}`, kind, metadata: { name, namespace: "metallb-system" }, spec } })
  const documents = [
    doc("IPAddressPool", "lan", { addresses: ["2001:db8:300::/112"] }),
    doc("L2Advertisement", "lan", { ipAddressPools: ["lan"] }),
    doc("IPAddressPool", "wan", { addresses: ["2001:db8:400::/112"] }),
    doc("BGPAdvertisement", "wan", { ipAddressPools: ["wan"] }),
    doc("BGPPeer", "tor", { myASN: 64500, peerASN: 64501, peerAddress: "2001:db8:ffff::fe" }, "v1beta2"),
  ]
  let state: NodeState = initialNode(nodeSettings({ nodeName: "node-1", excludePatterns: [], membership: true, seeds: ["node-2"] }))
  let nowMs = 0
  const feed = (input: NodeInput) => void (state = step(state, input).state)
  // Each snapshot with what changed since the one before, as the speaker builds them.
  const changed = () => feed({ _tag: "ClusterChanged", ...snapshots.next(nodes), nowMs: nowMs += 10 })
  feed({ _tag: "Started", nowMs })
  feed({ _tag: "InterfacesScanned", interfaces: [{ name: "eth0", index: 2, mac: "02:00:00:00:00:02", up: true, noArp: false, loopback: false, enslaved: false }], nowMs })
  feed({ _tag: "ConfigChanged", sources: { documents, secrets: [], namespace: "metallb-system" }, nowMs })
  feed({ _tag: "MembersChanged", live: new Set(["node-1", "node-2", "node-3"]), down: new Map(), lost: [], syncedAtMs: 0, nowMs })
  const firstMs = cpuMs(changed)
  const flip = (k: number) => {
    const i = (k * 7) % count
    slices[i] = slice(i, k % 2 === 1)
    snapshots.slice("update", slices[i]!)
  }
  const oneChange = Array.from({ length: 1_200 }, (_, k) => cpuMs(() => {
    flip(k)
    changed()
  }))
  const oneChangeMs = median(oneChange)
  const oneChangeMeanMs = oneChange.reduce((a, b) => a + b, 0) / oneChange.length
  // The same without the changes: the pass looks at every Service (its cache still saves the deciding).
  const walkMs = median(Array.from({ length: 200 }, (_, k) => cpuMs(() => {
    flip(k)
    feed({ _tag: "ClusterChanged", snapshot: snapshots.next(nodes).snapshot, nowMs: nowMs += 10 })
  })))
  const idleMs = median(Array.from({ length: 50 }, () => cpuMs(() => feed({ _tag: "TimerFired", name: "resync", nowMs: nowMs += 10 }))))
  const membersMs = median(Array.from({ length: 10 }, (_, k) => cpuMs(() =>
    feed({ _tag: "MembersChanged", live: new Set(k % 2 === 0 ? ["node-1", "node-2"] : ["node-1", "node-2", "node-3"]), down: new Map(), lost: [], nowMs: nowMs += 10 }))))
  const scratchMs = median(Array.from({ length: 5 }, () => cpuMs(() => {
    state = { ...state, passCache: emptyPassCache }
    changed()
  })))
  return { firstMs, oneChangeMs, oneChangeMeanMs, walkMs, idleMs, membersMs, scratchMs }
}

export const printPassFigures = (): void => {
  console.log(`\nSpeaker decision pass in process (snapshot from informer objects + one node step; 3 nodes, half Layer 2, half BGP)`)
  for (const count of [1_000, 5_000, 20_000]) {
    const f = passFigures(count)
    const n = count.toLocaleString("en-US")
    console.log(`  ${n} Services: first pass ${f.firstMs.toFixed(0)} ms; one EndpointSlice changed ${f.oneChangeMs.toFixed(3)} ms (mean ${f.oneChangeMeanMs.toFixed(3)} ms with the folds; without the changes, every Service looked at: ${f.walkMs.toFixed(2)} ms); nothing changed ${f.idleMs.toFixed(2)} ms; member lost ${f.membersMs.toFixed(1)} ms; cache dropped (every pass before) ${f.scratchMs.toFixed(0)} ms`)
    if (count === 5_000 || count === 20_000) {
      printTarget(`pass CPU at ${churnPerSecond} EndpointSlice changes/s, ${n} Services`, (f.oneChangeMeanMs * churnPerSecond) / 10, "% core", 5, `${f.oneChangeMeanMs.toFixed(3)} ms a pass (mean), one pass per change`)
    }
  }
}

export const run = async (): Promise<void> => {
  printPassFigures()
  const skip = labSkipReason()
  if (skip !== undefined) {
    console.log(`  skipped: ${skip}`)
    return
  }
  // Two nodes: the measured speaker has a member to probe, and the shared machine one speaker less to hold.
  await buildBundle({ repoRoot: new URL("..", import.meta.url).pathname })
  const lab = await startE2eLab({ label: "bench-speaker", nodes: 2, entry: bundleFile })
  try {
    const [node] = lab.nodes
    const pid = (node === undefined ? undefined : lab.speaker(node))?.child.pid
    if (node === undefined || pid === undefined) throw new Error("the lab started no speaker")
    // Started: caches synced ("Layer 2 on") and every other speaker a member.
    const startupCpu = cpuSeconds(pid)
    const rssAtStartMiB = rssMiB(pid)
    const idleEmptyFrom = cpuSeconds(pid)
    await sleep(windowMs / 2)
    const idleEmptyShare = (cpuSeconds(pid) - idleEmptyFrom) / (windowMs / 2 / 1000)

    lab.apply(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: bench, namespace: ${metallbNamespace} }
spec:
  addresses: [${pool}]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: { name: bench, namespace: ${metallbNamespace} }
spec:
  ipAddressPools: [bench]
`)
    const createdFrom = cpuSeconds(pid)
    let next = 0
    await Promise.all(Array.from({ length: createInFlight }, async () => {
      while (next < services) await createService(lab.api, { name: `svc-${next++}`, namespace, pool: "bench", families: "IPv6", endpointNodes: lab.nodes, allocateLoadBalancerNodePorts: false })
    }))
    let lastCounts: ReadonlyArray<number> = []
    const announced = await until(`${services} Services announced`, async () => {
      // A guard for the shared machine: a speaker this far over its target ends the run with the figure.
      if (rssMiB(pid) > rssGuardMiB) return { overMiB: rssMiB(pid) }
      const counts = await Promise.all(lab.nodes.map((n) => announcedBy(lab, n)))
      lastCounts = counts
      return counts.reduce((a, b) => a + b, 0) >= services ? { counts } : undefined
    }, { timeoutMs: 300_000 + services * 60, intervalMs: 2_000 }).catch(async () => {
      // Not every Service announced in time: the memory figures still stand, and the membership's
      // dead detections say whether it flapped (a pass that blocks the event loop misses probes).
      const metrics = (await lab.scrapeSpeaker(node)) ?? ""
      return { timedOut: true as const, detections: sample(metrics, "metallb_ts_speaker_member_detection_seconds_count") }
    })
    if ("timedOut" in announced) {
      console.log(`\nSpeaker footprint (issue 17): node-1's speaker of 2 in the Layer 2 lab, ${services.toLocaleString("en-US")} IPv6 Services (membership profile "fast")`)
      printTarget("RSS at start (synced, members joined, no Services)", rssAtStartMiB, "MiB", 64, `start-up CPU ${startupCpu.toFixed(2)} s`)
      printTarget("idle CPU with no Services", idleEmptyShare * 100, "% core", 1, `over ${windowMs / 2000} s`)
      printTarget(`RSS with ${services.toLocaleString("en-US")} Services (not all announced)`, rssMiB(pid), "MiB", 96, `peak (VmHWM) ${peakRssMiB(pid).toFixed(0)} MiB`)
      console.log(`  every Service announced: NOT reached in ${((300_000 + services * 60) / 1000).toFixed(0)} s (announced per node ${lastCounts.join(" / ")}); node-1 declared a member dead ${announced.detections} times`)
      return
    }
    if ("overMiB" in announced) {
      console.log(`\nSpeaker footprint (issue 17): node-1's speaker of 2 in the Layer 2 lab, ${services.toLocaleString("en-US")} IPv6 Services (membership profile "fast")`)
      printTarget("RSS at start (synced, members joined, no Services)", rssAtStartMiB, "MiB", 64, `start-up CPU ${startupCpu.toFixed(2)} s`)
      printTarget("idle CPU with no Services", idleEmptyShare * 100, "% core", 1, `over ${windowMs / 2000} s`)
      printTarget(`RSS with ${services.toLocaleString("en-US")} Services announced`, announced.overMiB, "MiB", 96, `run stopped: over ${rssGuardMiB} MiB before every Service was announced; RSS at start ${rssAtStartMiB.toFixed(0)} MiB`)
      return
    }
    const perNode = announced.counts
    const announceCpu = cpuSeconds(pid) - createdFrom
    // Announced is not settled: the speaker still writes a ServiceL2Status per Service it announces
    // (thousands, through the API server). Settled: within a point of its idle CPU with no Services
    // (the membership's probes alone cost a few percent with the fast profile) and under 2% at least,
    // over 10 s, or 10 minutes.
    const settledShare = Math.max(0.02, idleEmptyShare + 0.01)
    const settleFromMs = performance.now()
    let settleShare = 1
    while (performance.now() - settleFromMs < 600_000) {
      const from = cpuSeconds(pid)
      await sleep(10_000)
      settleShare = (cpuSeconds(pid) - from) / 10
      if (settleShare < settledShare) break
    }
    const settleS = (performance.now() - settleFromMs) / 1000
    const settleCpu = cpuSeconds(pid) - createdFrom - announceCpu
    const rssAnnouncedMiB = rssMiB(pid)

    const idleFrom = cpuSeconds(pid)
    await sleep(windowMs)
    const idleShare = (cpuSeconds(pid) - idleFrom) / (windowMs / 1000)

    // The churn: every 10 ms one EndpointSlice replaced, node-1's endpoint alternately not ready and
    // ready, the other nodes' endpoints ready throughout (externalTrafficPolicy Cluster: announced anyway).
    const discovery = withConnectionReuse(lab.api.kubeConfig).makeApiClient(DiscoveryV1Api)
    const slice = (index: number, node1Ready: boolean) => ({
      metadata: { name: `svc-${index}-ipv6`, labels: { "kubernetes.io/service-name": `svc-${index}`, "endpointslice.kubernetes.io/managed-by": "metallb-ts-lab" } },
      addressType: "IPv6",
      ports: [{ name: "http", port: 80, protocol: "TCP" }],
      endpoints: lab.nodes.map((n) => {
        const ready = n !== node || node1Ready
        return { addresses: [`2001:db8:ffff:200::${n.index}`], nodeName: n.name, conditions: { ready, serving: ready, terminating: false } }
      }),
    })
    let changed = 0
    let failed = 0
    let firstError = ""
    const inFlight = new Set<Promise<void>>()
    const churnFrom = cpuSeconds(pid)
    const churnStartMs = performance.now()
    const total = (churnPerSecond * windowMs) / 1000
    for (let i = 0; i < total; i++) {
      const dueMs = churnStartMs + (i * 1000) / churnPerSecond
      const waitMs = dueMs - performance.now()
      if (waitMs > 0) await sleep(waitMs)
      const index = i % services
      const change = discovery.replaceNamespacedEndpointSlice({ name: `svc-${index}-ipv6`, namespace, body: slice(index, Math.floor(i / services) % 2 === 1) })
        .then(() => void changed++, (error: unknown) => {
          failed++
          firstError ||= String(error).slice(0, 200)
        })
      inFlight.add(change)
      void change.finally(() => inFlight.delete(change))
    }
    await Promise.all(inFlight)
    const churnMs = performance.now() - churnStartMs
    const churnShare = (cpuSeconds(pid) - churnFrom) / (churnMs / 1000)
    const peakMiB = peakRssMiB(pid)

    const profile = membershipProfiles.fast
    console.log(`\nSpeaker footprint (issue 17): node-1's speaker of 2 in the Layer 2 lab, ${services.toLocaleString("en-US")} IPv6 Services, real kube-apiserver and controller`)
    console.log(`  membership profile "fast" (the default): probe every ${profile.probeIntervalMs} ms (timeout ${profile.probeTimeoutMs} ms, ${profile.indirectChecks} indirect), gossip every ${profile.gossipIntervalMs} ms to ${profile.gossipFanout}, push-pull every ${profile.pushPullIntervalMs / 1000} s, suspicion x${profile.suspicionMult}`)
    console.log(`  CPU from /proc/<pid>/stat, RSS from /proc/<pid>/status; the machine is shared, so wall-clock rates vary, CPU seconds much less`)
    console.log(`  the speakers run with the DaemonSet's NODE_OPTIONS: ${speakerNodeOptions()}`)
    printTarget("RSS at start (synced, members joined, no Services)", rssAtStartMiB, "MiB", 64, `start-up CPU ${startupCpu.toFixed(2)} s`)
    printTarget(`RSS with ${services.toLocaleString("en-US")} Services announced`, rssAnnouncedMiB, "MiB", 96, `announced per node ${perNode.join(" / ")}; peak (VmHWM) ${peakMiB.toFixed(0)} MiB after the churn`)
    printTarget(`CPU while ${churnPerSecond} EndpointSlices change per second`, churnShare * 100, "% core", 5, `${changed} changes in ${(churnMs / 1000).toFixed(1)} s = ${(changed / (churnMs / 1000)).toFixed(0)}/s achieved${failed > 0 ? `, ${failed} failed: ${firstError}` : ""}`)
    printTarget(`idle CPU, ${services.toLocaleString("en-US")} announced, nothing changing`, idleShare * 100, "% core", 1, `over ${windowMs / 1000} s; ${(idleEmptyShare * 100).toFixed(2)}% with no Services, over ${windowMs / 2000} s`)
    console.log(`  CPU to announce the ${services.toLocaleString("en-US")} Services (creation to every address announced): ${announceCpu.toFixed(1)} s; then ${settleCpu.toFixed(1)} s over ${settleS.toFixed(0)} s until settled (${(settleShare * 100).toFixed(1)}% of a core over the last 10 s: the status objects written)`)
  } finally {
    await lab.close()
  }
}
