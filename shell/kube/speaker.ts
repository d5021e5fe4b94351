// The speaker process's loop: watch Services, EndpointSlices, Nodes, the metallb.io configuration and
// its Secrets; keep the membership; on every change decide through core/speaker what this node
// announces, and make it so: the Layer 2 data plane (ARP/NDP answers and gratuitous announcements) and
// one BGP session (with BFD) per selected peer. It reports nodeAssigned events and keeps one
// ServiceL2Status / ServiceBGPStatus object per service it announces. On SIGTERM it leaves
// the membership first and keeps answering for a hand-over period, so the new owners announce before
// it goes quiet.
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  EventsV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1EndpointSlice,
  type V1Node,
  type V1Secret,
  type V1Service,
  V1MicroTime,
} from "@kubernetes/client-node"
import { Deferred, Effect, Option, Queue, type Scope, Stream } from "effect"
import type { Config } from "../../core/config/config.ts"
import type { Located, Secret } from "../../core/config/decode.ts"
import { formatConfigError } from "../../core/config/errors.ts"
import { resolve } from "../../core/config/resolve.ts"
import { allocatedFromPoolAnnotation } from "../../core/controller/service.ts"
import type { Mac } from "../../core/l2/mac.ts"
import { type Address, formatAddress, parseAddress } from "../../core/net/address.ts"
import { bgpAnnouncements, peersForNode } from "../../core/speaker/bgp.ts"
import { l2Announcements } from "../../core/speaker/l2.ts"
import { namedInterfaces } from "../../core/speaker/links.ts"
import { takeoversOf } from "../../core/speaker/takeover.ts"
import type { ClusterSnapshot, EndpointView, NodeView, SpeakerService } from "../../core/speaker/view.ts"
import { PacketAddon } from "../native/packet.ts"
import { type BfdEndpoint, loadUdpAddon, openBfdEndpoint } from "../speaker/bfd-transport.ts"
import { loadTcpAddon } from "../speaker/bgp-transport.ts"
import { PeerSession } from "../speaker/bgp-speaker.ts"
import { readInterfaces } from "../speaker/interfaces.ts"
import { defaultExcludePatterns } from "../../core/speaker/settings.ts"
import { usableForL2 } from "../../core/speaker/interfaces.ts"
import { makeLinkWatch } from "../speaker/link-watch.ts"
import { makeL2Plane, type OwnedAddress } from "../speaker/l2-plane.ts"
import type { MembershipConfig } from "../../core/election/membership/config.ts"
import { MembershipDriver } from "../speaker/membership.ts"
import { apiErrorText, configKinds } from "./controller.ts"
import { watch, type Watched } from "./informer.ts"
import { type PodOwner, ServiceStatusWriter } from "./service-status.ts"
import type { Registry, Sample } from "../metrics/registry.ts"
import { registerSpeakerMetrics } from "./speaker-metrics.ts"
import { Result } from "effect"

export interface SpeakerOptions {
  readonly kubeConfig: KubeConfig
  readonly namespace: string
  readonly nodeName: string
  readonly loadBalancerClass?: string
  readonly ignoreExcludeLb?: boolean
  /**
   * The node's address (the DaemonSet's METALLB_HOST, status.hostIP): the BGP router ID for peers that
   * set none, as MetalLB does. Without it, the Node object's first IPv4 InternalIP.
   */
  readonly hostAddress?: string
  /** Membership: bind address and port, the key, and the other speakers' addresses. Off when absent. */
  readonly membership?: {
    readonly bindAddress: string
    readonly port: number
    readonly key?: Buffer
    readonly seeds: ReadonlyArray<string>
    /** Protocol timings (default: core's sub-second defaults). */
    readonly config?: MembershipConfig
  }
  /** Interface name patterns never used for Layer 2 (metallb-excludel2). */
  readonly excludePatterns?: ReadonlyArray<string>
  /** How long a leaving speaker keeps answering after telling the others (SIGTERM). */
  readonly handOverMs?: number
  readonly debounceMs?: number
  /** How long a joining speaker waits for a seed to answer before deciding alone (default 3000). */
  readonly joinTimeoutMs?: number
  /** Where the speaker's metrics (MetalLB's names) are registered. */
  readonly registry?: Registry
  /** The speaker's pod: owner of its ServiceL2Status / ServiceBGPStatus objects (none outside a pod). */
  readonly pod?: PodOwner
}

const group = "metallb.io"
const reportingController = "metallb.io/speaker"

const parseAll = (ips: ReadonlyArray<string>): ReadonlyArray<Address> =>
  ips.flatMap((ip) => {
    const p = parseAddress(ip)
    return Result.isSuccess(p) ? [p.success] : []
  })

const secretOf = (secret: V1Secret): Located<Secret> => ({
  object: {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: secret.metadata?.name ?? "" },
    ...(secret.type === undefined ? {} : { type: secret.type }),
    ...(secret.data === undefined ? {} : { data: secret.data }),
  },
  ref: { kind: "Secret", name: secret.metadata?.name ?? "" },
})

/** The speaker's view of the cluster, from the informers' caches. */
export const snapshotOf = (
  services: ReadonlyArray<V1Service>,
  slices: ReadonlyArray<V1EndpointSlice>,
  nodes: ReadonlyArray<V1Node>,
  loadBalancerClass: string | undefined,
): ClusterSnapshot => {
  const ours = services.filter((s) =>
    s.spec?.type === "LoadBalancer" && (loadBalancerClass === undefined ? s.spec.loadBalancerClass === undefined : s.spec.loadBalancerClass === loadBalancerClass))
  const holders = new Map<string, number>()
  for (const s of ours) for (const i of s.status?.loadBalancer?.ingress ?? []) if (i.ip) holders.set(i.ip, (holders.get(i.ip) ?? 0) + 1)
  const speakerServices: Array<SpeakerService> = ours.map((s) => {
    const ips = (s.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : []))
    const pool = s.metadata?.annotations?.[allocatedFromPoolAnnotation]
    return {
      key: `${s.metadata?.namespace}/${s.metadata?.name}`,
      labels: s.metadata?.labels ?? {},
      addresses: parseAll(ips),
      ...(pool === undefined ? {} : { pool }),
      externalTrafficPolicy: s.spec?.externalTrafficPolicy === "Local" ? "Local" : "Cluster",
      sharedAddress: ips.some((ip) => (holders.get(ip) ?? 0) > 1),
    }
  })
  const endpoints = new Map<string, Array<EndpointView>>()
  for (const slice of slices) {
    const service = slice.metadata?.labels?.["kubernetes.io/service-name"]
    if (service === undefined) continue
    const key = `${slice.metadata?.namespace}/${service}`
    const list = endpoints.get(key) ?? []
    for (const e of slice.endpoints ?? []) {
      if (e.nodeName === undefined) continue
      list.push({ node: e.nodeName, serving: e.conditions?.serving ?? e.conditions?.ready ?? true })
    }
    endpoints.set(key, list)
  }
  const nodeViews: Array<NodeView> = nodes.map((n) => ({
    name: n.metadata?.name ?? "",
    labels: n.metadata?.labels ?? {},
    networkUnavailable: (n.status?.conditions ?? []).some((c) => c.type === "NetworkUnavailable" && c.status === "True"),
  }))
  return { services: speakerServices, endpoints, nodes: nodeViews }
}

/** The BGP identifier for peers without routerID: the host address if IPv4, else the Node's first IPv4 InternalIP. */
export const routerIdFor = (hostAddress: string | undefined, node: V1Node | undefined): Address | undefined => {
  const candidates = [
    ...(hostAddress === undefined ? [] : [hostAddress]),
    ...(node?.status?.addresses ?? []).filter((a) => a.type === "InternalIP").map((a) => a.address),
  ]
  return parseAll(candidates).find((a) => a.family === "ipv4")
}

export const runSpeaker = (options: SpeakerOptions): Effect.Effect<never, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const { kubeConfig, namespace, nodeName } = options
    const core = kubeConfig.makeApiClient(CoreV1Api)
    const discovery = kubeConfig.makeApiClient(DiscoveryV1Api)
    const custom = kubeConfig.makeApiClient(CustomObjectsApi)
    const events = kubeConfig.makeApiClient(EventsV1Api)
    const services = yield* watch<V1Service>("services", kubeConfig, "/api/v1/services", () => core.listServiceForAllNamespaces())
    const slices = yield* watch<V1EndpointSlice>("endpointslices", kubeConfig, "/apis/discovery.k8s.io/v1/endpointslices", () => discovery.listEndpointSliceForAllNamespaces())
    const nodes = yield* watch<V1Node>("nodes", kubeConfig, "/api/v1/nodes", () => core.listNode())
    const secrets = yield* watch<V1Secret>("secrets", kubeConfig, `/api/v1/namespaces/${namespace}/secrets`, () => core.listNamespacedSecret({ namespace }))
    const configWatches: Array<Watched<KubernetesObject>> = []
    for (const k of configKinds) {
      configWatches.push(yield* watch<KubernetesObject>(k.plural, kubeConfig, `/apis/${group}/${k.version}/namespaces/${namespace}/${k.plural}`,
        () => custom.listNamespacedCustomObject({ group, version: k.version, namespace, plural: k.plural }) as Promise<KubernetesListObject<KubernetesObject>>))
    }
    const all: Array<Watched<KubernetesObject>> = [services, slices, nodes, secrets, ...configWatches]
    yield* Effect.forEach(all, (w) => w.synced, { discard: true })
    yield* Effect.logInfo(`speaker ${nodeName}: caches synced`)

    // Layer 2: every usable interface gets a raw socket; claims pick among them (shell/speaker/link-watch.ts).
    const initialUsable = usableForL2(readInterfaces(), options.excludePatterns ?? defaultExcludePatterns)
    yield* Effect.logInfo(`speaker ${nodeName}: Layer 2 on ${initialUsable.map((i) => i.name).join(", ") || "no interface"}`)
    const plane = yield* makeL2Plane({ interfaces: initialUsable.map((i) => ({ name: i.name, mac: i.mac as Mac })) }).pipe(Effect.provide(PacketAddon.layer))

    // Membership changes wake the loop at once: they are the failover path.
    const membershipChanged = yield* Queue.sliding<void>(1)
    const bump = () => {
      Queue.offerUnsafe(membershipChanged, undefined)
    }
    const sessions = new Map<string, { readonly session: PeerSession; readonly fingerprint: string }>()
    /** metallb_speaker_announced, as of the last pass. */
    let announcedSamples: Array<Sample> = []
    const metrics = options.registry === undefined ? undefined : registerSpeakerMetrics(options.registry, {
      l2Counters: () => Effect.runSync(plane.counters),
      sessions: () => [...sessions.values()].map(({ session }) => session),
      announced: () => announcedSamples,
    })
    /** Speakers gone from the membership -> when this node last heard from them (for the takeover timing). */
    const lostMembers = new Map<string, number>()
    let previousOwners: ReadonlyMap<string, string> = new Map()
    let members: ReadonlySet<string> | undefined
    /** The live members' down Layer 2 interfaces (membership metadata), this node's included. */
    let membersDown: ReadonlyMap<string, ReadonlyArray<string>> | undefined
    let membership: MembershipDriver | undefined
    let config: Config | undefined
    const links = makeLinkWatch(initialUsable, {
      nodeName,
      excludePatterns: options.excludePatterns,
      plane,
      membership: () => membership,
      seeds: options.membership?.seeds ?? [],
      namedInterfaces: () => namedInterfaces(config),
      changed: bump,
    })
    if (options.membership !== undefined) {
      const m = options.membership
      const answered = yield* Deferred.make<void>()
      membership = yield* Effect.promise(() => MembershipDriver.start({
        name: nodeName,
        bindAddress: m.bindAddress,
        port: m.port,
        ...(m.key === undefined ? {} : { key: m.key }),
        ...(m.config === undefined ? {} : { config: m.config }),
        onChange: (live, down) => {
          members = live
          membersDown = down
          if (live.size > 1) Deferred.doneUnsafe(answered, Effect.void)
          bump()
        },
        onLog: (message) => Effect.runFork(Effect.logInfo(message)),
        onMemberLost: (name, how, lastHeardAtMs) => {
          if (lastHeardAtMs === undefined) return
          lostMembers.set(name, lastHeardAtMs)
          if (how === "dead") metrics?.memberDetected((Date.now() - lastHeardAtMs) / 1000)
        },
      }, m.seeds))
      members = membership.live
      membersDown = membership.downInterfaces
      // Deciding before the others are known would elect this node for every address it serves, and
      // announce that, until the join completes (a restarted speaker pulled the clients to itself). The
      // join's full-table exchange brings every member with the first answer; without any answer within
      // the bound (no other speaker is up yet) this node decides alone.
      if (m.seeds.length > 0) {
        // Generous: only a node with no other speaker up at all waits it out, once, at its start.
        const joinTimeoutMs = options.joinTimeoutMs ?? 10_000
        const joined = yield* Deferred.await(answered).pipe(Effect.timeoutOption(`${joinTimeoutMs} millis`))
        yield* Option.isSome(joined)
          ? Effect.logInfo(`speaker ${nodeName}: joined the membership (${[...(members ?? [])].sort().join(", ")})`)
          : Effect.logWarning(`speaker ${nodeName}: no other speaker answered within ${joinTimeoutMs} ms; deciding alone`)
      }
    }
    const tcp = yield* Effect.promise(() => loadTcpAddon())
    // One BFD endpoint for every peer with a BFDProfile, opened with the first of them.
    let bfd: Promise<BfdEndpoint> | undefined
    const bfdEndpoint = () => (bfd ??= loadUdpAddon().then((udp) => openBfdEndpoint(udp, {
      onSendError: (peerAddress, error) => Effect.runFork(Effect.logDebug(`bfd ${peerAddress}: send failed: ${error.message}`)),
    })))
    let configFingerprint = ""
    /** The latest configuration failed to resolve (the last valid one, if any, stays in force). */
    let configStale = false
    const announced = new Map<string, string>()
    const l2Statuses = new ServiceStatusWriter(custom, namespace, nodeName, "ServiceL2Status", options.pod)
    const bgpStatuses = new ServiceStatusWriter(custom, namespace, nodeName, "ServiceBGPStatus", options.pod)
    for (const writer of [l2Statuses, bgpStatuses]) writer.onWrite = (ok) => metrics?.apiWrite(ok)

    const emit = (service: V1Service, note: string) =>
      Effect.tryPromise({
        try: () => events.createNamespacedEvent({
          namespace: service.metadata?.namespace ?? "default",
          body: {
            metadata: { generateName: `${service.metadata?.name ?? "service"}-` },
            eventTime: new V1MicroTime(),
            reportingController,
            reportingInstance: nodeName,
            action: "nodeAssigned",
            reason: "nodeAssigned",
            type: "Normal",
            note,
            regarding: { apiVersion: "v1", kind: "Service", name: service.metadata?.name ?? "", namespace: service.metadata?.namespace ?? "default" },
          },
        }),
        catch: (error) => error,
      }).pipe(
        Effect.tap(() => Effect.sync(() => metrics?.apiWrite(true))),
        Effect.catch((error) => Effect.sync(() => metrics?.apiWrite(false)).pipe(Effect.andThen(Effect.logWarning(`nodeAssigned event not written: ${apiErrorText(error)}`)))),
      )

    const reconcileOnce = Effect.gen(function* () {
      const documents = configWatches.flatMap((w) => w.list())
      const fingerprint = JSON.stringify([documents.map((d) => ({ ...d, metadata: { name: d.metadata?.name }, status: undefined })), secrets.list().map((s) => [s.metadata?.name, s.data])])
      if (fingerprint !== configFingerprint) {
        const resolution = resolve(documents.map((value) => ({ value })), { namespace, secrets: secrets.list().map(secretOf) })
        // Resolved once per change of the documents: an invalid one is reported once, not at every pass.
        configFingerprint = fingerprint
        configStale = resolution._tag === "Invalid"
        if (resolution._tag === "Valid") config = resolution.config
        else yield* Effect.logWarning(`speaker: configuration invalid, keeping the last valid one:\n${resolution.errors.map(formatConfigError).join("\n")}`)
        metrics?.config({ loaded: config !== undefined, stale: configStale && config !== undefined })
      }
      if (config === undefined) return
      const snapshot = snapshotOf(services.list(), slices.list(), nodes.list(), options.loadBalancerClass)
      const self = snapshot.nodes.find((n) => n.name === nodeName)
      // Layer 2.
      const decision = l2Announcements(config, snapshot, nodeName, members, {
        ...(options.ignoreExcludeLb === true ? { ignoreExcludeLb: true } : {}),
        ...(membersDown === undefined ? {} : { downInterfaces: membersDown }),
      })
      // Never on a link that is down, even before the membership has told the others (or without membership).
      const upNames = links.upNames()
      const held = links.holding(members?.size ?? 0)
      const owned: Array<OwnedAddress> = held ? [] : decision.claims.map((c) => ({ address: c.address, interfaces: c.interfaces.length > 0 ? c.interfaces.filter((n) => upNames.includes(n)) : upNames }))
      yield* plane.setOwned(owned)
      // setOwned has sent the first gratuitous announcements of what this node just took over.
      // While held back this node announces nothing, so it takes nothing over.
      const step = takeoversOf(previousOwners, held ? new Map() : decision.elections, nodeName, members)
      previousOwners = step.owners
      for (const { from } of step.takeovers) {
        const lastHeardAtMs = lostMembers.get(from)
        if (lastHeardAtMs !== undefined) metrics?.takeover((Date.now() - lastHeardAtMs) / 1000)
      }
      for (const name of lostMembers.keys()) if (members?.has(name) === true) lostMembers.delete(name)
      const byService = new Map<string, Array<string>>()
      for (const c of decision.claims) byService.set(c.service, [...(byService.get(c.service) ?? []), formatAddress(c.address)])
      for (const [key, ips] of byService) {
        const text = ips.join(",")
        if (announced.get(key) === text) continue
        announced.set(key, text)
        const service = services.list().find((s) => `${s.metadata?.namespace}/${s.metadata?.name}` === key)
        if (service !== undefined) yield* emit(service, `announcing from node "${nodeName}" with protocol "layer2"`)
      }
      for (const key of [...announced.keys()]) if (!byService.has(key)) announced.delete(key)
      const l2Desired = new Map<string, Record<string, unknown>>()
      for (const o of owned) {
        const claim = decision.claims.find((c) => formatAddress(c.address) === formatAddress(o.address))
        if (claim === undefined) continue
        const names = new Set([...(((l2Desired.get(claim.service)?.["interfaces"] as Array<{ name: string }> | undefined) ?? []).map((i) => i.name)), ...o.interfaces])
        l2Desired.set(claim.service, { interfaces: [...names].sort().map((name) => ({ name })) })
      }
      announcedSamples = owned.length === 0 ? [] : [...decision.claims].map((c) => ({ labels: { service: c.service, protocol: "layer2", node: nodeName, ip: formatAddress(c.address) }, value: 1 }))
      yield* l2Statuses.sync(l2Desired).pipe(Effect.catch((error) => Effect.logWarning(`ServiceL2Status not written: ${apiErrorText(error)}`)))
      // BGP.
      if (self === undefined) return
      const wanted = new Set(peersForNode(config, self))
      const routes = bgpAnnouncements(config, snapshot, self, options.ignoreExcludeLb === true ? { ignoreExcludeLb: true } : {})
      for (const [name, { session }] of sessions) {
        const peer = config.peers.get(name)
        const fp = JSON.stringify([peer, peer?.bfdProfile === undefined ? undefined : config.bfdProfiles.get(peer.bfdProfile)], (_, v) => (typeof v === "bigint" ? v.toString() : v))
        if (wanted.has(name) && sessions.get(name)?.fingerprint === fp) continue
        session.stop()
        sessions.delete(name)
      }
      for (const name of wanted) {
        const peer = config.peers.get(name)
        if (peer === undefined) continue
        let entry = sessions.get(name)
        if (entry === undefined) {
          const bfdProfile = peer.bfdProfile === undefined ? undefined : config.bfdProfiles.get(peer.bfdProfile)
          const fp = JSON.stringify([peer, bfdProfile], (_, v) => (typeof v === "bigint" ? v.toString() : v))
          const routerId = routerIdFor(options.hostAddress, nodes.list().find((n) => n.metadata?.name === nodeName))
          const session = yield* Effect.tryPromise({
            try: async () => PeerSession.open({
              peer,
              ...(bfdProfile === undefined ? {} : { bfdProfile, bfd: await bfdEndpoint() }),
              ...(routerId === undefined ? {} : { routerId }),
              tcp,
              events: {
                onStateChanged: (from, to) => Effect.runFork(Effect.logInfo(`bgp ${name}: ${from} -> ${to}`)),
                onBfdStateChanged: (from, to) => Effect.runFork(Effect.logInfo(`bfd ${name}: ${from} -> ${to}`)),
              },
            }),
            catch: (error) => error,
          }).pipe(Effect.catch((error) => Effect.logWarning(`bgp ${name}: ${String(error)}`).pipe(Effect.as(undefined))))
          if (session === undefined) continue
          session.start()
          entry = { session, fingerprint: fp }
          sessions.set(name, entry)
        }
        entry.session.setRoutes(routes.get(name) ?? [])
      }
      // Which peers hear each service from this node.
      const bgpDesired = new Map<string, Record<string, unknown>>()
      for (const service of snapshot.services) {
        if (service.addresses.length === 0) continue
        const perPeer = bgpAnnouncements(config, { ...snapshot, services: [service] }, self, options.ignoreExcludeLb === true ? { ignoreExcludeLb: true } : {})
        const peers = [...perPeer].filter(([name, rs]) => rs.length > 0 && sessions.has(name)).map(([name]) => name).sort()
        if (peers.length > 0) bgpDesired.set(service.key, { peers })
      }
      for (const service of snapshot.services) {
        if (!bgpDesired.has(service.key)) continue
        for (const address of service.addresses) announcedSamples.push({ labels: { service: service.key, protocol: "bgp", node: nodeName, ip: formatAddress(address) }, value: 1 })
      }
      yield* bgpStatuses.sync(bgpDesired).pipe(Effect.catch((error) => Effect.logWarning(`ServiceBGPStatus not written: ${apiErrorText(error)}`)))
    })
    const reconcile = Effect.suspend(() => {
      const startMs = performance.now()
      return reconcileOnce.pipe(Effect.ensuring(Effect.sync(() => metrics?.reconciled((performance.now() - startMs) / 1000))))
    })

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        // SIGTERM: leave first, keep answering while the new owners announce, then go quiet.
        if (membership !== undefined) {
          yield* Effect.logInfo(`speaker ${nodeName}: leaving the membership, handing over for ${options.handOverMs ?? 2_000} ms`)
          membership.leave()
          // Our successors announce now; a gratuitous frame of ours would pull the neighbours back.
          yield* plane.silence
          yield* Effect.sleep(`${options.handOverMs ?? 2_000} millis`)
          membership.close()
        }
        yield* Effect.promise(() => Promise.allSettled([...sessions.values()].map(({ session }) => session.stop())))
        // This node announces nothing any more: its status objects go (best effort; MetalLB relies on
        // owner references to the pod for this).
        yield* Effect.all([l2Statuses.sync(new Map()), bgpStatuses.sync(new Map())], { discard: true }).pipe(Effect.ignore)
        if (bfd !== undefined) yield* Effect.promise(() => bfd!.then((endpoint) => endpoint.close()).catch(() => undefined))
      }))

    // Data-path failover and interface rescans (shell/speaker/link-watch.ts).
    yield* links.run

    const changes = Stream.mergeAll([...all.map((w) => w.changes), Stream.fromQueue(membershipChanged), Stream.tick("10 seconds")], { concurrency: "unbounded" })
    yield* reconcile
    return yield* changes.pipe(
      Stream.debounce(`${options.debounceMs ?? 20} millis`),
      Stream.runForEach(() => reconcile),
      Effect.andThen(Effect.never),
    )
  })
