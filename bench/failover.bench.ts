// Layer 2 failover on real parts (issue 6's targets, as a bench): the end-to-end lab (spec/support/lab.ts:
// kube-apiserver, the controller, three speakers in node namespaces, a client on the bridge) with one
// dual-stack Service. Each run SIGKILLs the owner's speaker and its backend and measures, from the
// death, the new owner's gratuitous ARP and unsolicited NA on the client's segment and the client's
// first HTTP answer from the new owner (spec/support/failover.ts); then the node comes back. A SIGTERM
// hand-over counts the client's lost pings. The baseline, in the same run, is the same lab with the
// speakers' membership on hashicorp/memberlist's LAN timings (what MetalLB runs): the ratio is what
// our membership defaults buy. Targets: <= 1 s to the gratuitous ARP, <= 1.5 s client-visible outage,
// no ping lost on a hand-over.
import { crashOwner, type CrashFailover, handOverOwner, restoreNode } from "../spec/support/failover.ts"
import { createService, labConfigYaml, labSkipReason, startE2eLab, waitForIngress } from "../spec/support/lab.ts"

const runsPerProfile = Number(process.env["METALLB_TS_BENCH_FAILOVERS"] ?? 5)
const targets = { announcementMs: 1_000, outageMs: 1_500, lostPings: 0 }

interface Profile {
  readonly name: string
  readonly flag: string
  /** How long the client probes after a death: longer than the slowest failover expected. */
  readonly probeMs: number
}

const profiles: ReadonlyArray<Profile> = [
  { name: "metallb-ts (fast membership)", flag: "fast", probeMs: 5_000 },
  { name: "baseline: memberlist LAN timings", flag: "memberlist-lan", probeMs: 15_000 },
]

interface Measured {
  readonly profile: Profile
  readonly crashes: ReadonlyArray<CrashFailover>
  readonly lostPings: number
  readonly sentPings: number
}

const sorted = (values: ReadonlyArray<number | undefined>) => values.filter((v): v is number => v !== undefined).sort((a, b) => a - b)
const median = (values: ReadonlyArray<number>) => values[Math.floor((values.length - 1) / 2)]
const figure = (values: ReadonlyArray<number | undefined>) => {
  const s = sorted(values)
  const missing = values.length - s.length
  return `${s.length === 0 ? "-" : `${median(s)} / ${s.at(-1)}`} ms${missing > 0 ? ` (${missing} missing)` : ""}`
}

const measure = async (profile: Profile): Promise<Measured> => {
  const lab = await startE2eLab({ label: "fbench", nodes: 3, handOverMs: 1_000, speakerArgs: ["--memberlist-profile", profile.flag] })
  try {
    lab.apply(labConfigYaml())
    await createService(lab.api, { name: "web", pool: "l2", families: "dual", endpointNodes: lab.nodes })
    const ips = await waitForIngress(lab.api, "web", 2)
    const web4 = ips.find((ip) => !ip.includes(":")) ?? ""
    const web6 = ips.find((ip) => ip.includes(":")) ?? ""
    const crashes: Array<CrashFailover> = []
    for (let run = 0; run < runsPerProfile; run++) {
      const crash = await crashOwner(lab, web4, web6, profile.probeMs)
      crashes.push(crash)
      console.log(`  ${profile.flag} run ${run + 1}: ${crash.owner.name} -> ${crash.successor.name}: GARP ${crash.garpMs} ms, NA ${crash.naMs} ms, client v4 ${crash.v4.recoveryMs} ms, v6 ${crash.v6.recoveryMs} ms`)
      await restoreNode(lab, crash.owner)
    }
    const handOver = await handOverOwner(lab, web4, web6)
    await restoreNode(lab, handOver.owner)
    return {
      profile,
      crashes,
      lostPings: handOver.ping4.sent - handOver.ping4.received + handOver.ping6.sent - handOver.ping6.received,
      sentPings: handOver.ping4.sent + handOver.ping6.sent,
    }
  } finally {
    await lab.close()
  }
}

export const run = async (): Promise<void> => {
  const skip = labSkipReason()
  if (skip !== undefined) {
    console.log(`  skipped: ${skip}`)
    return
  }
  const results: Array<Measured> = []
  for (const profile of profiles) results.push(await measure(profile))
  console.log(`\nLayer 2 failover, 3 speakers, SIGKILL of the owner (${runsPerProfile} runs per profile; median / max)`)
  for (const m of results) {
    console.log(`  ${m.profile.name}`)
    console.log(`    death -> gratuitous ARP ${figure(m.crashes.map((c) => c.garpMs))}, -> unsolicited NA ${figure(m.crashes.map((c) => c.naMs))}`)
    console.log(`    death -> client's first answer from the new owner: IPv4 ${figure(m.crashes.map((c) => c.v4.recoveryMs))}, IPv6 ${figure(m.crashes.map((c) => c.v6.recoveryMs))}`)
    console.log(`    SIGTERM hand-over: ${m.lostPings} of ${m.sentPings} pings lost`)
  }
  const [ours, baseline] = results
  if (ours === undefined || baseline === undefined) return
  const recoveries = (m: Measured) => sorted(m.crashes.flatMap((c) => [c.v4.recoveryMs, c.v6.recoveryMs]))
  const oursMedian = median(recoveries(ours))
  const baselineMedian = median(recoveries(baseline))
  if (oursMedian !== undefined && baselineMedian !== undefined) {
    console.log(`  ratio: client outage ${(baselineMedian / oursMedian).toFixed(1)}x shorter than the baseline (median ${oursMedian} ms vs ${baselineMedian} ms)`)
  }
  const worst = (values: ReadonlyArray<number | undefined>) => (values.some((v) => v === undefined) ? Number.POSITIVE_INFINITY : Math.max(...sorted(values)))
  const verdict = (ok: boolean) => (ok ? "met" : "MISSED")
  const announcementMs = worst(ours.crashes.flatMap((c) => [c.garpMs, c.naMs]))
  const outageMs = worst(ours.crashes.flatMap((c) => [c.v4.recoveryMs, c.v6.recoveryMs]))
  console.log(`  targets: death -> announcement <= ${targets.announcementMs} ms: ${verdict(announcementMs <= targets.announcementMs)} (worst ${announcementMs} ms); ` +
    `outage <= ${targets.outageMs} ms: ${verdict(outageMs <= targets.outageMs)} (worst ${outageMs} ms); ` +
    `pings lost on hand-over = ${targets.lostPings}: ${verdict(ours.lostPings === targets.lostPings)} (${ours.lostPings})`)
}
