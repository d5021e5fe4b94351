// The simulated world: a scenario's nodes, speakers, controller, clients and router on one seeded,
// virtual network. It applies the timeline, runs everything in virtual time, checks the invariants
// after every event (and the convergence ones whenever the cluster has settled), and measures what
// users feel: failover time, client-visible outage, BGP convergence.
import { createHash } from "node:crypto"
import { HashMap, Result } from "effect"
import { poolStats } from "../../core/ipam/allocator.ts"
import type { Config } from "../../core/config/config.ts"
import { resolve } from "../../core/config/resolve.ts"
import { decodeFrame } from "../../core/l2/frame.ts"
import type { Mac } from "../../core/l2/mac.ts"
import { type Address, formatAddress, parseAddress } from "../../core/net/address.ts"
import { bgpAnnouncements } from "../../core/speaker/bgp.ts"
import { formatPrefix } from "../../core/net/prefix.ts"
import { SimClient } from "./client.ts"
import { SimCluster } from "./cluster.ts"
import { type SimContext, virtualTimers } from "./context.ts"
import { SimController } from "./controller-actor.ts"
import { Network, type Task } from "./network.ts"
import { Random } from "./random.ts"
import { SimRouter } from "./router.ts"
import { type Action, describeAction, isFault, type Scenario } from "./scenario.ts"
import { Scheduler } from "./scheduler.ts"
import { SimSpeaker } from "./speaker-actor.ts"

export interface Violation {
  readonly atMs: number
  readonly invariant: string
  readonly detail: string
}

export interface Failover {
  readonly node: string
  readonly address: string
  readonly crashAtMs: number
  /** Crash -> first gratuitous announcement by the new owner. */
  readonly announceMs?: number
  /** Client-visible outage for the address after the crash. */
  readonly outageMs?: number
}

export interface RunResult {
  readonly scenario: string
  readonly seed: number
  readonly trace: ReadonlyArray<string>
  readonly traceHash: string
  readonly violations: ReadonlyArray<Violation>
  readonly checks: Readonly<Record<string, number>>
  readonly failovers: ReadonlyArray<Failover>
  /** Virtual ms with two live owners of one address / with none, summed over addresses. */
  readonly overlapMs: number
  readonly gapMs: number
  /** Virtual ms during which a leaving speaker and the new owner both answered (graceful hand-over). */
  readonly handOverMs: number
  readonly bgpConvergenceMs: ReadonlyArray<number>
  readonly events: number
}

const settleMs = 6_000
const sampleMs = 10
const clientAddress = (i: number): Address => ({ family: "ipv4", value: 0xc0000200n + 200n + BigInt(i) }) // 192.0.2.200+
const clientAddress6 = (i: number): Address => ({ family: "ipv6", value: 0x2001_0db8_0000_0000_0000_0000_0000_0c00n + BigInt(i) }) // 2001:db8::c00+

const macOf = (prefix: number, i: number) => `02:00:00:00:${prefix.toString(16).padStart(2, "0")}:${(i + 1).toString(16).padStart(2, "0")}` as Mac

export const runScenario = (scenario: Scenario, seed: number): RunResult => {
  const scheduler = new Scheduler<Task>()
  const random = new Random(seed)
  const trace: Array<string> = []
  const network = new Network(scheduler, random.fork("network"), { latencyMs: 0.2, jitterMs: 0.1 })
  const ctx: SimContext = {
    scheduler,
    network,
    random: random.fork("protocols"),
    trace: (who, what) => trace.push(`${(scheduler.nowMs / 1000).toFixed(4).padStart(9)}s ${who.padEnd(10)} ${what}`),
    timers: virtualTimers(scheduler),
  }
  const cluster = new SimCluster()
  const controller = new SimController(ctx, cluster)
  const nodeNames = scenario.nodes.map((n) => n.name)
  const router = scenario.router === undefined ? undefined : new SimRouter(ctx, {
    name: "router",
    ...scenario.router,
    ...(scenario.router.bfd === undefined ? {} : { bfd: scenario.router.bfd }),
    latencyMs: 0.2,
  })
  const speakers = new Map<string, SimSpeaker>()
  const clients: Array<SimClient> = []
  const segmentHosts = () => [...nodeNames, ...clients.map((c) => c.name)]
  const deliverFrame = (host: string, frame: Uint8Array) => {
    speakers.get(host)?.receiveFrame(frame)
    clients.find((c) => c.name === host)?.receiveFrame(frame)
  }
  /** A leaving speaker's announcements (checked by the leaverSilent invariant, set up below). */
  let onSegmentFrame: (from: string, frame: Uint8Array) => void = () => undefined
  const segment = {
    transmit: (from: string, frame: Uint8Array) => {
      onSegmentFrame(from, frame)
      network.broadcast(from, segmentHosts(), (host) => deliverFrame(host, frame))
    },
  }

  scenario.nodes.forEach((n, i) => {
    cluster.addNode({ name: n.name, labels: { "kubernetes.io/hostname": n.name, ...n.labels }, networkUnavailable: false })
    const speaker = new SimSpeaker(ctx, cluster, {
      name: n.name,
      mac: macOf(0, i),
      segment,
      ...(router === undefined ? {} : {
        router: {
          name: router.name,
          connect: (node, connected, failed) => router.connect(node, connected, failed),
          bfdToRouter: (node, bytes) => network.send(node, router.name, () => router.receiveBfd(node, bytes)),
        },
      }),
      allNodes: () => nodeNames,
    })
    speaker.deliverMembership = (to, bytes) => speakers.get(to)?.receiveMembership(n.name, bytes)
    speakers.set(n.name, speaker)
    router?.addNode(n.name, i)
  })
  if (router !== undefined) {
    router.bfdToNode = (node, bytes) => network.send(router.name, node, () => speakers.get(node)?.receiveBfd("router", bytes))
  }
  const liveMacs = () => new Set([...speakers.values()].filter((s) => s.up).map((s) => s.mac))
  const serviceAddresses = (): ReadonlyArray<Address> =>
    cluster.serviceKeys().flatMap((k) => cluster.ingressOf(k)).flatMap((ip) => {
      const p = parseAddress(ip)
      return Result.isSuccess(p) ? [p.success] : []
    })
  for (let i = 0; i < scenario.clients; i++) {
    const client = new SimClient(ctx, { name: `client-${i + 1}`, mac: macOf(1, i), address: clientAddress(i), address6: clientAddress6(i), probeIntervalMs: 100, reresolveAfterMs: 5_000 })
    client.transmit = (frame) => segment.transmit(client.name, frame)
    client.liveMac = (mac) => liveMacs().has(mac)
    client.targets = serviceAddresses
    clients.push(client)
  }

  // --- invariants ---------------------------------------------------------------------------------
  const violations: Array<Violation> = []
  const checks: Record<string, number> = { sharing: 0, statusMatchesAllocator: 0, singleL2Owner: 0, routesMatchAdvertisements: 0, servicesAssigned: 0 }
  const violated = (invariant: string, detail: string) => {
    if (violations.length < 50) violations.push({ atMs: scheduler.nowMs, invariant, detail })
    ctx.trace("checker", `VIOLATION ${invariant}: ${detail}`)
  }
  let lastFaultMs = 0
  // A speaker handing over answers requests until it stops, but announces nothing: a gratuitous frame
  // of its own would pull the neighbours back from the new owner just before it goes away.
  onSegmentFrame = (from, bytes) => {
    if (speakers.get(from)?.terminating !== true) return
    checks["leaverSilent"] = (checks["leaverSilent"] ?? 0) + 1
    const decoded = decodeFrame(bytes)
    if (Result.isFailure(decoded)) return
    const f = decoded.success
    const gratuitous = f._tag === "ArpFrame"
      ? formatAddress(f.arp.senderIp) === formatAddress(f.arp.targetIp)
      : f.ndp._tag === "NeighborAdvertisement" && !f.ndp.solicited
    if (gratuitous) violated("leaverSilent", `${from} announced ${formatAddress(f._tag === "ArpFrame" ? f.arp.senderIp : f.ndp.target)} while handing over`)
  }
  let config: Config | undefined
  const currentConfig = () => {
    const r = resolve(cluster.configDocuments().map((value) => ({ value })))
    return r._tag === "Valid" ? r.config : config
  }

  const checkSharing = () => {
    checks["sharing"]! += 1
    const holders = new Map<string, Array<{ key: string; sharing: string; ports: string[] }>>()
    for (const view of cluster.serviceViews()) {
      for (const ip of view.ingressIPs) {
        holders.set(ip, [...(holders.get(ip) ?? []), {
          key: `${view.namespace}/${view.name}`,
          sharing: view.annotations["metallb.io/allow-shared-ip"] ?? "",
          ports: view.ports.map((p) => `${p.protocol ?? "TCP"}/${p.port}`),
        }])
      }
    }
    for (const [ip, hs] of holders) {
      if (hs.length < 2) continue
      const key = hs[0]!.sharing
      const ports = hs.flatMap((h) => h.ports)
      if (key === "" || hs.some((h) => h.sharing !== key) || new Set(ports).size !== ports.length) {
        violated("sharing", `${ip} held by ${hs.map((h) => h.key).join(", ")}`)
      }
    }
  }

  const checkStatusMatchesAllocator = () => {
    // A controller that restarted into an invalid configuration has nothing in force: it leaves every
    // status alone (services keep their addresses) until a valid configuration arrives.
    if (!controller.alive || controller.busy || controller.controllerState.config === undefined) return
    checks["statusMatchesAllocator"]! += 1
    const allocations = controller.controllerState.allocator.allocations
    for (const key of cluster.serviceKeys()) {
      const status = [...cluster.ingressOf(key)].sort()
      const held = HashMap.get(allocations, key)
      const allocated = held._tag === "Some" ? held.value.addresses.map(formatAddress).sort() : []
      if (JSON.stringify(status) !== JSON.stringify(allocated)) violated("statusMatchesAllocator", `${key}: status [${status}] allocator [${allocated}]`)
    }
  }

  const running = () => [...speakers.values()].filter((s) => s.running && s.up)
  const membershipConverged = () => {
    const live = new Set(running().map((s) => s.name))
    return running().every((s) => s.members.size === live.size && [...live].every((n) => s.members.has(n)))
  }

  let overlapMs = 0
  let gapMs = 0
  let handOverMs = 0
  const sampleOwners = () => {
    const counts = new Map<string, number>()
    const leaving = new Map<string, number>()
    for (const s of running()) {
      for (const c of s.claimed) {
        const ip = formatAddress(c.address)
        if (s.terminating) leaving.set(ip, (leaving.get(ip) ?? 0) + 1)
        else counts.set(ip, (counts.get(ip) ?? 0) + 1)
      }
    }
    const l2Addresses = config === undefined ? [] : serviceAddresses().filter((a) => {
      const pool = [...config!.pools.values()].find((p) => p.ranges.some((r) => r.family === a.family && a.value >= r.first && a.value <= r.last))
      return pool !== undefined && config!.l2Advertisements.some((ad) => ad.pools.includes(pool.name))
    })
    for (const a of l2Addresses) {
      const n = counts.get(formatAddress(a)) ?? 0
      const old = leaving.get(formatAddress(a)) ?? 0
      if (n > 1) overlapMs += sampleMs
      // A graceful hand-over overlaps on purpose: the leaving speaker answers until the new one has announced.
      if (n >= 1 && old > 0) handOverMs += sampleMs
      if (n + old === 0 && running().length > 0) gapMs += sampleMs
    }
    if (membershipConverged() && scheduler.nowMs - lastFaultMs > 2_000) {
      checks["singleL2Owner"]! += 1
      for (const [ip, n] of counts) if (n > 1) violated("singleL2Owner", `${ip} claimed by ${n} live speakers after membership converged`)
    }
  }

  const desiredRib = (): Map<string, Array<string>> => {
    const desired = new Map<string, Array<string>>()
    if (config === undefined || router === undefined) return desired
    const snapshot = cluster.snapshot()
    for (const s of running()) {
      const node = snapshot.nodes.find((n) => n.name === s.name)
      if (node === undefined || !network.reachable(s.name, router.name)) continue
      for (const route of bgpAnnouncements(config, snapshot, node).get("router") ?? []) {
        const p = formatPrefix(route.prefix)
        desired.set(p, [...(desired.get(p) ?? []), s.name])
      }
    }
    return desired
  }
  const ribText = (rib: ReadonlyMap<string, ReadonlyArray<string>>) =>
    JSON.stringify([...rib.entries()].map(([p, ns]) => [p, [...ns].sort()]).sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1)))
  const bgpConvergenceMs: Array<number> = []
  let ribConvergedSince: number | undefined

  const checkSettled = () => {
    config = currentConfig()
    const settled = scheduler.nowMs - lastFaultMs >= settleMs && !controller.busy
    if (router !== undefined && router.up && config !== undefined) {
      const matches = ribText(router.rib()) === ribText(desiredRib())
      if (matches && ribConvergedSince === undefined) {
        ribConvergedSince = scheduler.nowMs
        if (lastFaultMs > 0) bgpConvergenceMs.push(scheduler.nowMs - lastFaultMs)
      }
      if (!matches) ribConvergedSince = undefined
      if (settled) {
        checks["routesMatchAdvertisements"]! += 1
        if (!matches) violated("routesMatchAdvertisements", `router ${ribText(router.rib())} desired ${ribText(desiredRib())}`)
      }
    }
    if (settled && controller.alive && controller.controllerState.config !== undefined) {
      checks["servicesAssigned"]! += 1
      const allocator = controller.controllerState.allocator
      const pools = [...controller.controllerState.config.pools.values()].filter((p) => p.autoAssign && p.serviceAllocation === undefined)
      for (const view of cluster.serviceViews()) {
        const key = `${view.namespace}/${view.name}`
        if (cluster.ingressOf(key).length > 0) continue
        // Satisfiable: some default pool still has a free address of every family the service needs.
        const families = view.clusterIPs.map((ip) => (ip.includes(":") ? "ipv6" : "ipv4") as "ipv4" | "ipv6")
        const satisfiable = pools.some((p) => {
          const stats = poolStats(allocator, p.name)
          return stats !== undefined && families.every((f) => stats.available[f] > 0n)
        })
        if (satisfiable || scenario.expectAllAssigned === true) violated("servicesAssigned", `${key} has no address although a pool has room`)
      }
    }
  }

  // --- timeline -----------------------------------------------------------------------------------
  const failovers: Array<Failover> = []
  /** What a crash or kill leaves to fail over: a speaker handing over has already let its addresses go. */
  const recordFailovers = (s: SimSpeaker, node: string) => {
    if (s.terminating) return
    for (const c of s.claimed) failovers.push({ node, address: formatAddress(c.address), crashAtMs: scheduler.nowMs })
  }
  const ownerOf = (service: string): string | undefined => {
    const [first] = cluster.ingressOf(service.includes("/") ? service : `default/${service}`)
    return [...speakers.values()].find((s) => s.running && s.claimed.some((c) => formatAddress(c.address) === first))?.name
  }
  const act = (action: Action) => {
    ctx.trace("scenario", describeAction(action))
    if (isFault(action)) lastFaultMs = scheduler.nowMs
    switch (action._tag) {
      case "CrashOwner": {
        const owner = ownerOf(action.service)
        if (owner === undefined) return ctx.trace("scenario", `no owner of ${action.service} to crash`)
        return act({ _tag: "CrashNode", node: owner })
      }
      case "CrashNode": {
        const s = speakers.get(action.node)
        if (s === undefined) return
        recordFailovers(s, action.node)
        s.crash()
        return
      }
      case "RestartNode":
        speakers.get(action.node)?.restart()
        return
      case "KillSpeaker": {
        const s = speakers.get(action.node)
        if (s === undefined) return
        recordFailovers(s, action.node)
        s.kill()
        return
      }
      case "RestartSpeaker":
        speakers.get(action.node)?.start()
        return
      case "StopSpeaker":
        speakers.get(action.node)?.stopGracefully(action.handOverMs ?? 1_000)
        return
      case "CreateService":
        cluster.upsertService(action.service)
        return
      case "DeleteService":
        cluster.deleteService(action.namespace ?? "default", action.name)
        return
      case "ApplyConfig":
        cluster.applyDocuments(action.documents)
        return
      case "DeleteConfig":
        cluster.deleteDocument(action.kind, action.name)
        return
      case "CutLink":
        network.cut(action.a, action.b)
        return
      case "HealLinks":
        network.healAll()
        return
      case "Partition":
        for (const a of action.sides[0]) for (const b of action.sides[1]) network.cut(a, b)
        return
      case "SetLoss":
        network.setLoss(action.rate)
        return
      case "RestartRouter":
        router?.restart(action.downMs)
        return
      case "FlapBfd":
        router?.flapBfd(action.node, action.downMs)
        return
      case "CrashController":
        controller.crash()
        return
      case "RestartController":
        controller.restart()
        return
    }
  }

  cluster.applyDocuments(scenario.config)
  for (const service of scenario.services) cluster.upsertService(service)
  for (const s of speakers.values()) s.start()
  for (const c of clients) c.start()
  for (const { atMs, action } of scenario.timeline) scheduler.at(atMs, () => act(action))
  const sample = () => {
    sampleOwners()
    scheduler.after(sampleMs, sample)
  }
  scheduler.after(sampleMs, sample)
  const settleCheck = () => {
    checkSettled()
    scheduler.after(250, settleCheck)
  }
  scheduler.after(250, settleCheck)

  let events = 0
  // A bound on the work of one run: a protocol stuck in a zero-delay loop is a finding, not a hang.
  const maxEvents = 20 * scenario.durationMs
  for (let task = scheduler.next(scenario.durationMs); task !== undefined; task = scheduler.next(scenario.durationMs)) {
    task()
    events += 1
    if (events > maxEvents) {
      violated("boundedWork", `more than ${maxEvents} events by ${(scheduler.nowMs / 1000).toFixed(3)}s: a runaway loop`)
      break
    }
    checkSharing()
    checkStatusMatchesAllocator()
  }
  // Whatever happened, the running speakers are one membership again once the faults are over: a
  // partition whose sides each kept live members used to stay split for good (Layer 2 split brain).
  const membershipSettleMs = 10_000
  if (scenario.durationMs - lastFaultMs >= membershipSettleMs && running().length > 0) {
    checks["membershipConverges"] = (checks["membershipConverges"] ?? 0) + 1
    if (!membershipConverged()) {
      violated("membershipConverges", `${(membershipSettleMs / 1000).toFixed(0)} s after the last fault: ${running().map((sp) => `${sp.name} sees ${[...sp.members].sort().join(",")}`).join("; ")}`)
    }
  }
  for (const c of clients) c.finish(scenario.durationMs)

  const measured = failovers.map((f) => {
    // The first claim announced after the crash by another node (the crashed node claiming again after
    // its restart is a recovery, not a failover; a later claim, after a restart, is not this failover).
    const next = [...speakers.values()].filter((s) => s.name !== f.node).flatMap((s) => s.announcementsMs.get(`ipv4/${(parseAddressOrZero(f.address)).toString(16)}`) ?? s.announcementsMs.get(`ipv6/${(parseAddressOrZero(f.address)).toString(16)}`) ?? [])
      .filter((t) => t >= f.crashAtMs)
    const announceAt = next.length > 0 ? Math.min(...next) : undefined
    const outage = clients.flatMap((c) => c.outages).filter((o) => o.address === f.address && (o.toMs ?? 0) >= f.crashAtMs)
      .map((o) => (o.toMs ?? scenario.durationMs) - Math.max(o.fromMs, f.crashAtMs))
    return {
      ...f,
      ...(announceAt === undefined ? {} : { announceMs: announceAt - f.crashAtMs }),
      ...(outage.length === 0 ? {} : { outageMs: Math.max(...outage) }),
    }
  })
  const expect = scenario.expect ?? {}
  const expectation = (what: string, value: number | undefined, limit: number | undefined) => {
    if (limit === undefined) return
    checks["expectations"] = (checks["expectations"] ?? 0) + 1
    if (value === undefined || value > limit) violated("expectation", `${what}: ${value === undefined ? "never" : `${Math.round(value)} ms`} (limit ${limit} ms)`)
  }
  for (const f of measured) {
    expectation(`announcement of ${f.address} after ${f.node} failed`, f.announceMs, expect.maxAnnounceMs)
    expectation(`client outage of ${f.address} after ${f.node} failed`, f.outageMs ?? 0, expect.maxOutageMs)
  }
  for (const ms of bgpConvergenceMs) expectation("BGP convergence after a fault", ms, expect.maxBgpConvergenceMs)
  const traceHash = createHash("sha256").update(trace.join("\n")).digest("hex")
  return { scenario: scenario.name, seed, trace, traceHash, violations, checks, failovers: measured, overlapMs, gapMs, handOverMs, bgpConvergenceMs, events }
}

const parseAddressOrZero = (text: string): bigint => {
  const p = parseAddress(text)
  return Result.isSuccess(p) ? p.success.value : 0n
}
