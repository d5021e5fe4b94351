// The simulated world: a scenario's nodes, speakers, controller, clients and router on one seeded,
// virtual network. It applies the timeline, runs everything in virtual time, checks the invariants
// after every event (and the convergence ones whenever the cluster has settled), and measures what
// users feel: failover time, client-visible outage, BGP convergence.
import { createHash } from "node:crypto"
import { Result } from "effect"
import type { Config } from "../../core/config/config.ts"
import type { ServiceView } from "../../core/controller/service.ts"
import type { Allocator } from "../../core/ipam/allocator.ts"
import type { ClusterSnapshot } from "../../core/speaker/view.ts"
import { resolutionOf } from "../../core/config/in-force.ts"
import type { Mac } from "../../core/l2/mac.ts"
import { type Address, formatAddress, parseAddress } from "../../core/net/address.ts"
import { SimClient } from "./client.ts"
import { SimCluster } from "./cluster.ts"
import { type SimContext, virtualTimers } from "./context.ts"
import { SimController } from "./controller-actor.ts"
import { controllerCluster, type Injections, leaverRepeater, speakerCluster, toRouterConnection } from "./injections.ts"
import {
  type Check, checkBoundedWork, checkExpectations, checkLeaverSilent, checkMembershipConverges, checkRoutesMatchAdvertisements, checkServicesAssigned,
  checkSharing, checkSingleL2Owner, checkStatusMatchesAllocator, type ControllerObservation, desiredRoutes, eventBound, layer2Addresses, type Rib,
  sameRoutes, sampleOwnership, singleOwnerGraceMs, type SpeakerObservation,
} from "./invariants.ts"
import { type FrameAudience, frameAudience } from "./frame-audience.ts"
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

/** What the checkers see of a speaker: the only place the world reads a SimSpeaker's state for them. */
const observeSpeaker = (s: SimSpeaker): SpeakerObservation => ({
  name: s.name,
  up: s.up,
  running: s.running,
  terminating: s.terminating,
  claimed: s.claimed.map((c) => c.address),
  members: s.members,
})

/**
 * observeSpeaker, returning the very same observation while the speaker shows the same thing (`claimed`
 * and `members` keep their identity while unchanged), and the very same list while every speaker does:
 * the checkers sampled every 10 ms then find their last result (lastResultOf) instead of recounting.
 */
const speakerObserver = (speakers: ReadonlyArray<SimSpeaker>): (() => ReadonlyArray<SpeakerObservation>) => {
  const seen = new Map<SimSpeaker, { readonly claimed: SimSpeaker["claimed"]; readonly observation: SpeakerObservation }>()
  let last: ReadonlyArray<SpeakerObservation> = []
  const observe = (s: SimSpeaker): SpeakerObservation => {
    const known = seen.get(s)
    const o = known?.observation
    if (o !== undefined && known!.claimed === s.claimed && o.up === s.up && o.running === s.running && o.terminating === s.terminating && o.members === s.members) return o
    const observation = observeSpeaker(s)
    seen.set(s, { claimed: s.claimed, observation })
    return observation
  }
  // Asked at every sample (every 10 ms of a run): compared in place, a new list built only on a change.
  return () => {
    let changed = speakers.length !== last.length
    for (let i = 0; !changed && i < speakers.length; i++) changed = observe(speakers[i]!) !== last[i]
    if (changed) last = speakers.map(observe)
    return last
  }
}

/** What the checkers see of the controller: the only place the world reads a SimController's state for them. */
const observeController = (c: SimController): ControllerObservation => ({
  alive: c.alive,
  busy: c.busy,
  config: c.controllerState.config,
  allocator: c.controllerState.allocator,
})

/** Runs a scenario; `injections` (tests only) plant a bug to show that the invariants catch it. */
const sameInputs = (a: ReadonlyArray<unknown>, b: ReadonlyArray<unknown>): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false
  return true
}

/** `f` that returns its last result again while called with the very same inputs (f must be pure). */
const lastResultOf = <I extends ReadonlyArray<unknown>, R>(f: (...inputs: I) => R): ((...inputs: I) => R) => {
  let last: { readonly inputs: I; readonly result: R } | undefined
  return (...inputs) => {
    if (last !== undefined && sameInputs(inputs, last.inputs)) return last.result
    const result = f(...inputs)
    last = { inputs, result }
    return result
  }
}

export const runScenario = (scenario: Scenario, seed: number, injections: Injections = {}): RunResult => {
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
  const controller = new SimController(ctx, controllerCluster(cluster, injections))
  const nodeNames = scenario.nodes.map((n) => n.name)
  const router = scenario.router === undefined ? undefined : new SimRouter(ctx, {
    name: "router",
    ...scenario.router,
    ...(scenario.router.bfd === undefined ? {} : { bfd: scenario.router.bfd }),
    latencyMs: 0.2,
  })
  const speakers = new Map<string, SimSpeaker>()
  const clients: Array<SimClient> = []
  /** The segment's hosts: the nodes, then the clients (added below). */
  const segmentHosts: Array<string> = [...nodeNames]
  const clientsByName = new Map<string, SimClient>()
  const deliverFrame = (host: string, frame: Uint8Array, audience: FrameAudience) => {
    speakers.get(host)?.receiveFrame(frame, audience.decoded)
    clientsByName.get(host)?.receiveFrame(audience.decoded)
  }
  /** A leaving speaker's announcements (checked by the leaverSilent invariant, set up below). */
  let onSegmentFrame: (from: string, frame: Uint8Array) => void = () => undefined
  const segment = {
    transmit: (from: string, frame: Uint8Array) => {
      onSegmentFrame(from, frame)
      const audience = frameAudience(frame)
      const cares = (host: string) => {
        const speaker = speakers.get(host)
        if (speaker === undefined) return audience.clients
        return audience.speakers || (audience.claims !== undefined && speaker.answersFor(audience.claims))
      }
      network.broadcast(from, segmentHosts, cares, (host) => deliverFrame(host, frame, audience))
    },
  }

  scenario.nodes.forEach((n, i) => {
    // Its InternalIP (192.0.2.11, .12, ...): the BGP router ID, as the real speaker takes it.
    cluster.addNode({ name: n.name, labels: { "kubernetes.io/hostname": n.name, ...n.labels }, networkUnavailable: false, addresses: [{ family: "ipv4", value: 0xc0000200n + BigInt(11 + i) }] })
    const speaker = new SimSpeaker(ctx, speakerCluster(cluster, n.name, injections), {
      name: n.name,
      mac: macOf(0, i),
      segment,
      ...(router === undefined ? {} : {
        router: {
          name: router.name,
          connect: (node, connected, failed) => router.connect(node, (c) => connected(toRouterConnection(node, c, injections)), failed),
          bfdToRouter: (node, bytes) => network.send(node, router.name, () => router.receiveBfd(node, bytes)),
        },
      }),
      allNodes: () => nodeNames,
    })
    speaker.deliverMembership = (to, bytes) => {
      if (injections.dropMembership?.(n.name, to) !== true) speakers.get(to)?.receiveMembership(n.name, bytes)
    }
    speakers.set(n.name, speaker)
    router?.addNode(n.name, i)
  })
  if (router !== undefined) {
    router.bfdToNode = (node, bytes) => network.send(router.name, node, () => speakers.get(node)?.receiveBfd("router", bytes))
  }
  const macOwners = new Map([...speakers.values()].map((s) => [s.mac, s]))
  /** Whether a node that is up has this MAC (a client's traffic to it succeeds). */
  const liveMac = (mac: Mac) => macOwners.get(mac)?.up === true
  const addressesAt = lastResultOf((_clusterVersion: number): ReadonlyArray<Address> =>
    cluster.serviceKeys().flatMap((k) => cluster.ingressOf(k)).flatMap((ip) => {
      const p = parseAddress(ip)
      return Result.isSuccess(p) ? [p.success] : []
    }))
  const serviceAddresses = () => addressesAt(cluster.version)
  for (let i = 0; i < scenario.clients; i++) {
    const client = new SimClient(ctx, { name: `client-${i + 1}`, mac: macOf(1, i), address: clientAddress(i), address6: clientAddress6(i), probeIntervalMs: 100, reresolveAfterMs: 5_000 })
    client.transmit = (frame) => segment.transmit(client.name, frame)
    client.liveMac = liveMac
    client.targets = serviceAddresses
    clients.push(client)
    clientsByName.set(client.name, client)
    segmentHosts.push(client.name)
  }

  // --- invariants (the checks themselves are pure, in invariants.ts) ---------------------------------
  const violations: Array<Violation> = []
  const checks: Record<string, number> = { sharing: 0, statusMatchesAllocator: 0, singleL2Owner: 0, routesMatchAdvertisements: 0, servicesAssigned: 0 }
  const violated = (invariant: string, detail: string) => {
    if (violations.length < 50) violations.push({ atMs: scheduler.nowMs, invariant, detail })
    ctx.trace("checker", `VIOLATION ${invariant}: ${detail}`)
  }
  const record = (name: string, check: Check) => {
    if (check.checked > 0) checks[name] = (checks[name] ?? 0) + check.checked
    for (const f of check.findings) violated(f.invariant, f.detail)
  }
  let lastFaultMs = 0
  const observedSpeakers = speakerObserver([...speakers.values()])
  const repeater = injections.leaverRepeatsEveryMs === undefined ? undefined : leaverRepeater(injections.leaverRepeatsEveryMs, {
    after: (delayMs, task) => void scheduler.after(delayMs, task),
    transmit: (from, frame) => segment.transmit(from, frame),
    leaving: (node) => {
      const s = speakers.get(node)
      const observed = s === undefined ? undefined : observeSpeaker(s)
      return observed?.running === true && observed.terminating ? observed.claimed.map(formatAddress) : undefined
    },
  })
  onSegmentFrame = (from, frame) => {
    const s = speakers.get(from)
    record("leaverSilent", checkLeaverSilent({ from, terminating: s !== undefined && observeSpeaker(s).terminating, frame }))
    repeater?.sent(from, frame)
  }
  let config: Config | undefined
  // The resolution the cluster's speakers and controller are handed (the same object until a document changes).
  const currentConfig = () => {
    const r = resolutionOf(cluster.configSources())
    return r._tag === "Valid" ? r.config : config
  }
  // Most events change nothing these read: their last result stands while the inputs are the same objects.
  const sharingOf = lastResultOf(checkSharing)
  const statusOf = lastResultOf((services: ReadonlyArray<ServiceView>, alive: boolean, busy: boolean, inForce: Config | undefined, allocator: Allocator) =>
    checkStatusMatchesAllocator({ controller: { alive, busy, config: inForce, allocator }, services }))
  const layer2AddressesOf = lastResultOf(layer2Addresses)
  const ownershipOf = lastResultOf((observed: ReadonlyArray<SpeakerObservation>, addresses: ReadonlyArray<Address>) => sampleOwnership({ speakers: observed, addresses }))
  // The check depends on the time since the last fault only through the grace period: its last result
  // stands while the observation and that side of the grace period are the same.
  let singleOwner: { readonly observed: ReadonlyArray<SpeakerObservation>; readonly inGrace: boolean; readonly check: Check } | undefined
  const singleOwnerOf = (observed: ReadonlyArray<SpeakerObservation>, msSinceLastFault: number): Check => {
    const inGrace = msSinceLastFault <= singleOwnerGraceMs
    if (singleOwner?.observed !== observed || singleOwner.inGrace !== inGrace) singleOwner = { observed, inGrace, check: checkSingleL2Owner({ speakers: observed, msSinceLastFault }) }
    return singleOwner.check
  }

  let overlapMs = 0
  let gapMs = 0
  let handOverMs = 0
  const sampleOwners = () => {
    const observed = observedSpeakers()
    const sample = ownershipOf(observed, layer2AddressesOf(config, serviceAddresses()))
    overlapMs += sample.overlapping * sampleMs
    handOverMs += sample.handingOver * sampleMs
    gapMs += sample.unowned * sampleMs
    const msSinceLastFault = scheduler.nowMs - lastFaultMs
    record("singleL2Owner", singleOwnerOf(observed, msSinceLastFault))
  }

  /** The routes the router should hold: those of every running node that reaches it. */
  const desiredRib = (): Rib | undefined => {
    if (config === undefined || router === undefined) return undefined
    const announcing = observedSpeakers().filter((s) => s.running && s.up && network.reachable(s.name, router.name)).map((s) => s.name)
    return desiredRoutesOf(config, cluster.snapshot(), announcing.join(" "), router.name)
  }
  const desiredRoutesOf = lastResultOf((inForce: Config, snapshot: ClusterSnapshot, announcing: string, peer: string) =>
    desiredRoutes(inForce, snapshot, announcing === "" ? [] : announcing.split(" "), peer))
  const bgpConvergenceMs: Array<number> = []
  let ribConvergedSince: number | undefined

  const checkSettled = () => {
    config = currentConfig()
    const settled = scheduler.nowMs - lastFaultMs >= settleMs && !observeController(controller).busy
    const desired = desiredRib()
    const rib = router?.rib()
    if (router !== undefined && router.up && desired !== undefined) {
      const matches = sameRoutes(rib!, desired)
      if (matches && ribConvergedSince === undefined) {
        ribConvergedSince = scheduler.nowMs
        if (lastFaultMs > 0) bgpConvergenceMs.push(scheduler.nowMs - lastFaultMs)
      }
      if (!matches) ribConvergedSince = undefined
    }
    record("routesMatchAdvertisements", checkRoutesMatchAdvertisements({ settled, router: router === undefined ? undefined : { up: router.up, rib: rib! }, desired }))
    record("servicesAssigned", checkServicesAssigned({ settled, controller: observeController(controller), services: cluster.serviceViews(), expectAllAssigned: scenario.expectAllAssigned === true }))
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
        repeater?.handingOver(action.node)
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
      case "LinkDown":
      case "LinkUp":
        speakers.get(action.node)?.setLink(action._tag === "LinkUp")
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
  let lastServices: ReadonlyArray<ServiceView> | undefined
  let lastSharing: Check | undefined
  let statusInputs: Partial<ControllerObservation> & { readonly services?: ReadonlyArray<ServiceView> } = {}
  let lastStatus: Check | undefined
  const maxEvents = eventBound({ nodes: scenario.nodes.length, services: scenario.services.length, durationMs: scenario.durationMs })
  for (let task = scheduler.next(scenario.durationMs); task !== undefined; task = scheduler.next(scenario.durationMs)) {
    task()
    events += 1
    // Not counted among the checks (the summary lists what was checked about the cluster); a runaway loop
    // ends the run. Asked only past the bound (within it the check finds nothing), as the checks below
    // are asked only when what they read changed: this loop runs once per event.
    if (events > maxEvents) {
      const work = checkBoundedWork({ events, maxEvents, nowMs: scheduler.nowMs })
      if (work.findings.length > 0) {
        for (const f of work.findings) violated(f.invariant, f.detail)
        break
      }
    }
    const services = cluster.serviceViews()
    if (services !== lastServices || lastSharing === undefined) lastSharing = sharingOf(services)
    lastServices = services
    record("sharing", lastSharing)
    // What observeController reads, without building the observation for every event.
    const alive = controller.alive
    const busy = controller.busy
    const { config: inForce, allocator } = controller.controllerState
    if (lastStatus === undefined || services !== statusInputs.services || alive !== statusInputs.alive || busy !== statusInputs.busy || inForce !== statusInputs.config || allocator !== statusInputs.allocator) {
      statusInputs = { services, alive, busy, config: inForce, allocator }
      lastStatus = statusOf(services, alive, busy, inForce, allocator)
    }
    record("statusMatchesAllocator", lastStatus)
  }
  record("membershipConverges", checkMembershipConverges({ speakers: observedSpeakers(), msSinceLastFault: scenario.durationMs - lastFaultMs }))
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
  record("expectations", checkExpectations({ expect: scenario.expect ?? {}, failovers: measured, bgpConvergenceMs }))
  const traceHash = createHash("sha256").update(trace.join("\n")).digest("hex")
  return { scenario: scenario.name, seed, trace, traceHash, violations, checks, failovers: measured, overlapMs, gapMs, handOverMs, bgpConvergenceMs, events }
}

const parseAddressOrZero = (text: string): bigint => {
  const p = parseAddress(text)
  return Result.isSuccess(p) ? p.success.value : 0n
}
