// The speaker's footprint (issue 17) in the Layer 2 lab (spec/support/lab.ts): two node namespaces on one
// segment, each with a real `metallb-ts speaker` process (the DaemonSet's entry, root for AF_PACKET,
// membership on with the default "fast" profile), the real controller writing the Services' status, one
// IPv6 Layer 2 pool (2001:db8:300::/112, so 5,000 addresses fit in TESTBED.md's ranges) and 5,000
// LoadBalancer Services (METALLB_TS_BENCH_SERVICES to change) with one EndpointSlice each, endpoints on
// every node. node-1's speaker is measured from /proc/<pid>: RSS at start, RSS with every Service announced
// (by one of the two speakers), CPU while 100 EndpointSlices change per second (node-1's endpoint
// turns not ready and ready again: the Services stay announced, the speaker sees each change) and idle CPU
// with nothing changing. CPU seconds hold on a loaded machine; the achieved churn rate is printed.
// The speakers and the controller run as the image runs them, from the bundle (shell/image/bundle.ts).
import { DiscoveryV1Api } from "@kubernetes/client-node"
import { membershipProfiles } from "../core/election/membership/config.ts"
import { bundleFile, buildBundle } from "../shell/image/bundle.ts"
import { withConnectionReuse } from "../shell/kube/kube-config.ts"
import { createService, type E2eLab, labSkipReason, metallbNamespace, startE2eLab } from "../spec/support/lab.ts"
import { eventually, sleep } from "../spec/support/netns.ts"
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

export const run = async (): Promise<void> => {
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
    const announced = await eventually(`${services} Services announced`, async () => {
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
    await sleep(5_000)
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
    printTarget("RSS at start (synced, members joined, no Services)", rssAtStartMiB, "MiB", 64, `start-up CPU ${startupCpu.toFixed(2)} s`)
    printTarget(`RSS with ${services.toLocaleString("en-US")} Services announced`, rssAnnouncedMiB, "MiB", 96, `announced per node ${perNode.join(" / ")}; peak (VmHWM) ${peakMiB.toFixed(0)} MiB after the churn`)
    printTarget(`CPU while ${churnPerSecond} EndpointSlices change per second`, churnShare * 100, "% core", 5, `${changed} changes in ${(churnMs / 1000).toFixed(1)} s = ${(changed / (churnMs / 1000)).toFixed(0)}/s achieved${failed > 0 ? `, ${failed} failed: ${firstError}` : ""}`)
    printTarget(`idle CPU, ${services.toLocaleString("en-US")} announced, nothing changing`, idleShare * 100, "% core", 1, `over ${windowMs / 1000} s; ${(idleEmptyShare * 100).toFixed(2)}% with no Services, over ${windowMs / 2000} s`)
    console.log(`  CPU to announce the ${services.toLocaleString("en-US")} Services (creation to every address announced): ${announceCpu.toFixed(1)} s`)
  } finally {
    await lab.close()
  }
}
