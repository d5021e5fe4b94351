// BGP convergence (issue 5): advertise 10,000 prefixes to a real BIRD 2 over a veth pair in network
// namespaces and time until BIRD holds all of them, then withdraw them and time until it holds none.
// The subject is the speaker's RIB planner (prefixes sharing attributes packed into 4096-byte
// UPDATEs); the baseline, measured in the same run against the same BIRD, is MetalLB's native speaker's
// way: one UPDATE per prefix, announced and withdrawn. Both go through the same BgpPeer driver and TCP
// transport; only the planner differs. Rounds alternate subject and baseline; the median is reported.
//
// It needs root (namespaces) and BIRD. bench/run.ts calls run() without awaiting it, so run() does the
// work in a child process and waits for it: the timing is then not shared with the other benchmarks.
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { Update } from "../core/bgp/messages.ts"
import { type AdjRibOut, type DesiredRoute, type PeerContext, type Plan, planUpdates } from "../core/bgp/rib.ts"
import { makePrefix } from "../core/net/prefix.ts"
import { PeerSession } from "../shell/speaker/peer-session.ts"
import { tcpAddon } from "../shell/speaker/bgp-transport.ts"
import { ensureAddonBuilt } from "../spec/shell/native/build-addon.ts"
import { address, peer } from "../spec/shell/speaker/interop-support.ts"
import { testFibers } from "../spec/support/fibers.ts"
import { eventually, Lab, rootSkipReason, sleep } from "../spec/support/netns.ts"
import { birdProtocolName, type BirdRouter, startBird } from "../spec/support/routers/index.ts"

const prefixCount = 10_000
const rounds = 3
const routerAddress = "192.0.2.1"
const sources = ["192.0.2.10", "192.0.2.11"] as const

/** One UPDATE per prefix, for announcements and withdrawals alike (MetalLB's native speaker). */
const onePerPrefix = (sent: AdjRibOut, desired: ReadonlyArray<DesiredRoute>, context: PeerContext): Plan => {
  const plan = planUpdates(sent, desired, context)
  const split = (u: Update): Array<Update> => [
    ...u.withdrawn.map((p): Update => ({ _tag: "Update", withdrawn: [p], attributes: {}, nlri: [] })),
    ...(u.attributes.mpUnreach?.withdrawn ?? []).map((p): Update => ({ _tag: "Update", withdrawn: [], attributes: { mpUnreach: { family: "ipv6", withdrawn: [p] } }, nlri: [] })),
    ...u.nlri.map((p): Update => ({ _tag: "Update", withdrawn: [], attributes: u.attributes, nlri: [p] })),
    ...(u.attributes.mpReach === undefined
      ? []
      : u.attributes.mpReach.nlri.map((p): Update => ({ _tag: "Update", withdrawn: [], attributes: { ...u.attributes, mpReach: { ...u.attributes.mpReach!, nlri: [p] } }, nlri: [] }))),
  ]
  return { ...plan, updates: plan.updates.flatMap(split) }
}

// 198.18.0.0/15 holds 131,072 addresses: each prefix is a /32 service address with one community.
const routes: ReadonlyArray<DesiredRoute> = Array.from({ length: prefixCount }, (_, i) => ({
  prefix: makePrefix("ipv4", 0xc6120000n + BigInt(i), 32),
  communities: [{ kind: "standard", asn: 64500, value: 100 }],
}))

const importedRoutes = async (bird: BirdRouter, index: number): Promise<number> => {
  const text = await bird.birdc("show", "protocols", "all", birdProtocolName(index))
  const match = /Routes:\s+(\d+) imported/.exec(text)
  return match === null ? 0 : Number(match[1])
}

interface Phase {
  readonly messages: number
  readonly bytes: number
  /** From setRoutes until BIRD holds the expected count. */
  readonly convergedMs: number
  /** setRoutes itself: planning, encoding, handing bytes to the socket. */
  readonly sendMs: number
}

/** Sets the routes, then polls BIRD until it holds `expected` routes from this session. */
const phase = async (session: PeerSession, bird: BirdRouter, index: number, desired: ReadonlyArray<DesiredRoute>): Promise<Phase> => {
  const messages0 = session.bgp.updatesSent
  const bytes0 = session.bgp.updateBytesSent
  const startMs = performance.now()
  session.setRoutes(desired)
  const sendMs = performance.now() - startMs
  const deadline = startMs + 60_000
  while ((await importedRoutes(bird, index)) !== desired.length) {
    if (performance.now() > deadline) throw new Error(`BIRD did not reach ${desired.length} routes within 60 s`)
    await sleep(2)
  }
  return { messages: session.bgp.updatesSent - messages0, bytes: session.bgp.updateBytesSent - bytes0, convergedMs: performance.now() - startMs, sendMs }
}

const median = (values: ReadonlyArray<number>): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN

const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US")
const fmtSeconds = (ms: number) => (ms / 1000).toFixed(3)

const main = async (): Promise<void> => {
  ensureAddonBuilt()
  const tcp = await Effect.runPromise(tcpAddon)
  await using lab = await Lab.create("benchbgp")
  const node = await lab.host("node")
  const router = await lab.host("router")
  await lab.link(node, router, { aAddresses: sources.map((a) => `${a}/24`), bAddresses: [`${routerAddress}/24`] })
  await using bird = await startBird(router, {
    routerId: routerAddress,
    asn: 64501,
    // Passive: our dials are the only connections, so no collision decides the timing.
    neighbors: sources.map((a) => ({ address: a, asn: 64500, passive: true })),
  })
  const version = /BIRD ([\d.]+)/.exec(await bird.birdc("show", "status"))?.[1] ?? "2"
  const kinds = [
    { name: "packed UPDATEs (core/bgp/rib planUpdates)", planner: planUpdates },
    { name: "one UPDATE per prefix (MetalLB native)", planner: onePerPrefix },
  ] as const
  // The sessions' fibers and sockets, closed after them.
  const fibers = testFibers()
  const sessions = await Promise.all(
    kinds.map((kind, i) =>
      PeerSession.open({
        fibers,
        peer: peer({ name: `bench-${i}`, address: routerAddress, myAsn: 64500, peerAsn: 64501, sourceAddress: address(sources[i]!), holdTimeSeconds: 90, keepaliveTimeSeconds: 30 }),
        tcp,
        netnsPath: node.netnsPath,
        routerId: address(sources[i]!),
        planner: kind.planner,
        backoff: { initialDelayMs: 200, maxDelayMs: 2_000 },
      }),
    ),
  )
  try {
    for (const s of sessions) s.start()
    await eventually("both sessions Established", async () => (sessions.every((s) => s.state === "Established") ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 })
    const announce: Array<Array<Phase>> = kinds.map(() => [])
    const withdraw: Array<Array<Phase>> = kinds.map(() => [])
    for (let round = 0; round < rounds; round++) {
      for (const [i, session] of sessions.entries()) {
        announce[i]!.push(await phase(session, bird, i, routes))
        withdraw[i]!.push(await phase(session, bird, i, []))
      }
    }
    const summary = kinds.map((kind, i) => {
      const a = announce[i]!
      const w = withdraw[i]!
      return {
        name: kind.name,
        messages: median(a.map((p) => p.messages)),
        bytes: median(a.map((p) => p.bytes)),
        convergedMs: median(a.map((p) => p.convergedMs)),
        sendMs: median(a.map((p) => p.sendMs)),
        withdrawMessages: median(w.map((p) => p.messages)),
        withdrawMs: median(w.map((p) => p.convergedMs)),
      }
    })
    console.log(`\nBGP: advertise ${fmtInt(prefixCount)} IPv4 /32s to BIRD ${version} (eBGP over a veth pair), then withdraw them; median of ${rounds} rounds`)
    console.log("  send: planning, encoding and writing to the socket; held: from setRoutes until BIRD holds every prefix; gone: the same for the withdrawal")
    console.log(`  ${"".padEnd(44)} ${"messages".padStart(9)} ${"bytes".padStart(10)} ${"send (s)".padStart(9)} ${"held (s)".padStart(9)}   ${"withdraw msgs".padStart(13)} ${"gone (s)".padStart(9)}`)
    for (const s of summary) {
      console.log(`  ${s.name.padEnd(44)} ${fmtInt(s.messages).padStart(9)} ${fmtInt(s.bytes).padStart(10)} ${fmtSeconds(s.sendMs).padStart(9)} ${fmtSeconds(s.convergedMs).padStart(9)}   ${fmtInt(s.withdrawMessages).padStart(13)} ${fmtSeconds(s.withdrawMs).padStart(9)}`)
    }
    const [ours, baseline] = summary
    if (ours === undefined || baseline === undefined) return
    const fewer = baseline.messages / ours.messages
    const faster = baseline.convergedMs / ours.convergedMs
    console.log(`  ratios: ${fewer.toFixed(0)}x fewer messages, ${(baseline.bytes / ours.bytes).toFixed(1)}x fewer bytes, ${faster.toFixed(1)}x faster until BIRD holds every prefix; withdrawal ${(baseline.withdrawMs / ours.withdrawMs).toFixed(1)}x faster`)
    console.log("\n  targets:")
    console.log(`    >= 10x fewer UPDATE messages than one per prefix: ${fewer.toFixed(0)}x ${fewer >= 10 ? "MET" : "MISSED"}`)
    console.log(`    faster convergence than one per prefix: ${fmtSeconds(ours.convergedMs)} s vs ${fmtSeconds(baseline.convergedMs)} s ${faster > 1 ? "MET" : "MISSED"}`)
  } finally {
    for (const s of sessions) await s.stop()
    await fibers.shutdown()
  }
}

export const run = (): void => {
  const skip = rootSkipReason()
  if (skip !== undefined) {
    console.log(`\nBGP convergence against BIRD: skipped (${skip})`)
    return
  }
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { stdio: "inherit", timeout: 180_000 })
  if (child.status !== 0) console.log(`  BGP benchmark failed (${child.error?.message ?? `exit ${child.status ?? child.signal}`})`)
}

if (import.meta.main) {
  await main().catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
