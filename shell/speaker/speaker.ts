// The speaker process: a thin driver of core/speaker/node. Informers (Services, EndpointSlices, Nodes,
// the metallb.io configuration and its Secrets), the membership, the link poll and the interface
// rescan feed inputs into the node driver's one queue (shell/speaker/node-driver.ts); its outputs are
// executed here: the Layer 2 plane, one BGP session (with BFD) per selected peer, the status objects,
// nodeAssigned events, logs and metrics. Every decision is the node machine's; this module only
// reads the world and does what it is told. On SIGTERM (the scope closes) the machine leaves the
// membership, goes silent, keeps answering for the hand-over, then releases everything.
import { readFileSync } from "node:fs"
import type { KubernetesObject, V1EndpointSlice, V1Node, V1Secret, V1Service } from "@kubernetes/client-node"
import { Data, Deferred, Effect, Option, Queue, Result, Schedule, Scope, Stream } from "effect"
import type { MembershipConfig } from "../../core/election/membership/config.ts"
import type { Mac } from "../../core/l2/mac.ts"
import { formatAddress, parseAddress } from "../../core/net/address.ts"
import type { BfdState } from "../../core/bfd/packet.ts"
import type { SessionStateName } from "../../core/bgp/session/outputs.ts"
import type { LostMember, NodeOutput, StatusKind } from "../../core/speaker/node.ts"
import { handOverMs as defaultHandOverMs, debounceMs, linkPollMs, nodeSettings, rescanMs } from "../../core/speaker/settings.ts"
import { type NativeAddonLoadFailed, type NativeAddonMissing } from "../native/addon.ts"
import { PacketAddon, type PacketSocketError } from "../native/packet.ts"
import { apiErrorText } from "../kube/api-error.ts"
import { configKinds, configSourcesOf } from "../kube/config-objects.ts"
import { watchResource, watchSource, type Watched } from "../kube/informer.ts"
import { KubeApi, microTime, type ResourceType, resources } from "../kube/kube-api.ts"
import { keyedWorkers } from "../kube/keyed-workers.ts"
import { type PodOwner, ServiceStatusWriter } from "../kube/service-status.ts"
import { SessionStateWriter } from "../kube/session-states.ts"
import { registerSpeakerMetrics } from "./speaker-metrics.ts"
import type { Registry, Sample } from "../metrics/registry.ts"
import { PeerSession } from "./peer-session.ts"
import { type BfdEndpoint, openBfdEndpoint, udpAddon } from "./bfd-transport.ts"
import { openBgpListeners } from "./bgp-listeners.ts"
import { tcpAddon } from "./bgp-transport.ts"
import { callbackLog } from "./callback-log.ts"
import { makeFibers } from "./fibers.ts"
import { projectService } from "../kube/views.ts"
import { ClusterSnapshots, type ObjectEvent, projectEndpointSlice } from "./cluster-snapshot.ts"
import { readInterfaces } from "./interfaces.ts"
import { makeL2Plane } from "./l2-plane.ts"
import type { ReleaseSteps } from "./hand-over.ts"
import { MembershipDriver } from "./membership.ts"
import { runNodeDriver } from "./node-driver.ts"

export interface SpeakerOptions {
  readonly namespace: string
  readonly nodeName: string
  readonly loadBalancerClass?: string
  readonly ignoreExcludeLb?: boolean
  /** The node's address (the DaemonSet's METALLB_HOST, status.hostIP): the BGP router ID for peers that set none. */
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
  /** Where the speaker's metrics (MetalLB's names) are registered. */
  readonly registry?: Registry
  /** The speaker's pod: owner of its ServiceL2Status / ServiceBGPStatus / BGPSessionState objects (none outside a pod). */
  readonly pod?: PodOwner
  /**
   * The same-node hand-over of a rolling update (shell/speaker/hand-over.ts): `takeOver` runs once
   * the membership is bound and joined (the previous speaker of this node releases its sockets; it
   * must not fail); what a successor's request releases here is added to `steps`.
   */
  readonly handOver?: { readonly takeOver: () => Promise<void>; readonly steps: ReleaseSteps }
}

/** What a speaker that handed over to its successor still does: answer for the addresses it held, until it exits. */
const afterHandOver: ReadonlySet<NodeOutput["_tag"]> = new Set(["UseInterfaces", "Claim", "Release", "Log", "StartTimer", "Stopped"])

export class MembershipStartFailed extends Data.TaggedError("MembershipStartFailed")<{ readonly bindAddress: string; readonly port: number; readonly reason: string }> {
  override get message() {
    return `membership: cannot listen on ${this.bindAddress}:${this.port}: ${this.reason}`
  }
}

export type SpeakerError = NativeAddonMissing | NativeAddonLoadFailed | PacketSocketError | MembershipStartFailed

const reportingController = "metallb.io/speaker"
/** Status objects and events written at once. */
const writeConcurrency = 8

type ApiWrite = Extract<NodeOutput, { _tag: "WriteStatus" | "DeleteStatus" | "WriteSessionState" | "DeleteSessionState" | "Emit" }>

const linkUp = (name: string) => {
  try {
    const state = readFileSync(`/sys/class/net/${name}/operstate`, "utf8").trim()
    return state === "up" || state === "unknown"
  } catch {
    return false
  }
}

export const runSpeaker = (options: SpeakerOptions): Effect.Effect<never, SpeakerError, Scope.Scope | KubeApi> =>
  Effect.gen(function* () {
    const { namespace, nodeName } = options
    const api = yield* KubeApi
    const log = yield* callbackLog
    // The Services and EndpointSlices feed the snapshots event by event: a snapshot costs what changed
    // since the last one, and says so to the node machine (issue 17).
    const snapshots = new ClusterSnapshots(options.loadBalancerClass)
    // Their caches keep only what the snapshots read (the builder holds the same objects).
    const followed = <T extends KubernetesObject>(name: string, type: ResourceType, on: (event: ObjectEvent, object: T) => void, project: (object: T) => void) => {
      const source = api.informer<T>(type)
      for (const event of ["add", "update", "delete"] as const) source.on(event, (object: T) => on(event, object))
      return watchSource(name, source, { project })
    }
    const services = yield* followed<V1Service>("services", resources.services, (event, s) => snapshots.service(event, s), projectService)
    const slices = yield* followed<V1EndpointSlice>("endpointslices", resources.endpointSlices, (event, s) => snapshots.slice(event, s), projectEndpointSlice)
    const nodes = yield* watchResource<V1Node>("nodes", resources.nodes)
    const secrets = yield* watchResource<V1Secret>("secrets", resources.secrets, { namespace })
    const configWatches: Array<Watched<KubernetesObject>> = []
    for (const kind of configKinds) configWatches.push(yield* watchResource<KubernetesObject>(kind.plural, kind, { namespace }))
    const all: ReadonlyArray<Watched<KubernetesObject>> = [services, slices, nodes, secrets, ...configWatches]
    yield* Effect.forEach(all, (w) => w.synced, { discard: true })
    yield* Effect.logInfo(`speaker ${nodeName}: caches synced`)

    // The fibers the sockets' callbacks start, and the sockets' scopes: closed after the hand-over below.
    const fibers = yield* makeFibers
    const plane = yield* makeL2Plane({ interfaces: [] }).pipe(Effect.provide(PacketAddon.layer))
    const tcp = yield* tcpAddon
    const udp = yield* udpAddon
    // The passive side: a peer may connect to us as well (FRR does by default); sessions join these.
    const handedOver = () => options.handOver?.steps.released() === true
    const listeners = yield* Effect.acquireRelease(Effect.promise(() => openBgpListeners(tcp, { log, fibers })), (l) => Effect.promise(() => (handedOver() ? Promise.resolve() : l.close())))
    // One BFD endpoint for every peer with a BFDProfile, opened with the first of them.
    let bfd: BfdEndpoint | undefined
    yield* Effect.addFinalizer(() => (bfd === undefined ? Effect.void : Effect.promise(() => bfd!.close().catch(() => undefined))))
    const sessions = new Map<string, PeerSession>()
    let announcedSamples: ReadonlyArray<Sample> = []
    const metrics = options.registry === undefined ? undefined : registerSpeakerMetrics(options.registry, {
      l2Counters: () => fibers.read(plane.counters),
      sessions: () => sessions.values(),
      announced: () => announcedSamples,
    })
    const writers: Record<StatusKind, ServiceStatusWriter> = {
      ServiceL2Status: new ServiceStatusWriter(api, namespace, nodeName, "ServiceL2Status", options.pod),
      ServiceBGPStatus: new ServiceStatusWriter(api, namespace, nodeName, "ServiceBGPStatus", options.pod),
    }
    const sessionStates = new SessionStateWriter(api, namespace, nodeName, options.pod)
    for (const writer of [...Object.values(writers), sessionStates]) writer.onWrite = (ok) => metrics?.apiWrite(ok)

    let hostAddress = undefined as ReturnType<typeof parseAddress> | undefined
    if (options.hostAddress !== undefined) {
      hostAddress = parseAddress(options.hostAddress)
      if (Result.isFailure(hostAddress)) yield* Effect.logWarning(`speaker ${nodeName}: METALLB_HOST ${JSON.stringify(options.hostAddress)} is not an IP address; the router ID comes from the Node's InternalIP`)
    }
    const settings = nodeSettings({
      nodeName,
      ignoreExcludeLb: options.ignoreExcludeLb ?? false,
      membership: options.membership !== undefined,
      seeds: options.membership?.seeds ?? [],
      ...(options.excludePatterns === undefined ? {} : { excludePatterns: options.excludePatterns }),
      ...(hostAddress !== undefined && Result.isSuccess(hostAddress) ? { hostAddress: hostAddress.success } : {}),
      handOverMs: options.handOverMs ?? defaultHandOverMs,
    })

    let membership: MembershipDriver | undefined
    /** The interfaces the plane holds sockets on (the link poll reads their state). */
    let watched: ReadonlyArray<string> = []
    const stopped = yield* Deferred.make<void>()

    const emit = (service: string, reason: string, note: string) => {
      const [serviceNamespace = "default", name = ""] = service.split("/")
      return api.create(resources.events, serviceNamespace, {
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        metadata: { generateName: `${name}-`, namespace: serviceNamespace },
        eventTime: microTime(Date.now()),
        reportingController,
        reportingInstance: nodeName,
        action: reason,
        reason,
        type: "Normal",
        note,
        regarding: { apiVersion: "v1", kind: "Service", name, namespace: serviceNamespace },
      } as KubernetesObject).pipe(
        Effect.tap(() => Effect.sync(() => metrics?.apiWrite(true))),
        Effect.catch((error) => Effect.sync(() => metrics?.apiWrite(false)).pipe(Effect.andThen(Effect.logWarning(`${reason} event not written: ${apiErrorText(error)}`)))),
      )
    }

    const openSession = (output: Extract<NodeOutput, { _tag: "OpenSession" }>) => {
      // What the node machine publishes (BGPSessionState): both states on every change of either, and
      // only while this session is the peer's (a stopped one's last reports are not the new one's).
      let self: PeerSession | undefined
      let bgpState: SessionStateName = "Idle"
      let bfdState: BfdState | undefined = output.spec.bfdProfile === undefined ? undefined : "Down"
      const report = () => {
        if (self !== undefined && sessions.get(output.name) === self) node.offer({ _tag: "SessionStateChanged", peer: output.name, bgp: bgpState, bfd: bfdState })
      }
      return Effect.tryPromise({
        try: async () => {
          const { spec } = output
          if (spec.bfdProfile !== undefined) {
            bfd ??= openBfdEndpoint(udp, { fibers, onSendError: (peerAddress, error) => log("debug", `bfd ${peerAddress}: send failed: ${error.message}`) })
          }
          const listener = spec.peer.address === undefined ? undefined : await listeners.forPeer(spec.peer.address.family, spec.peer.vrf)
          return PeerSession.fromSpec(spec, {
            tcp,
            fibers,
            ...(listener === undefined ? {} : { listener }),
            ...(spec.bfdProfile === undefined || bfd === undefined ? {} : { bfd }),
            events: {
              onStateChanged: (from, to) => {
                log("info", `bgp ${output.name}: ${from} -> ${to}`)
                bgpState = to
                report()
              },
              onBfdStateChanged: (from, to) => {
                log("info", `bfd ${output.name}: ${from} -> ${to}`)
                bfdState = to
                report()
              },
              // Dials that failed, notifications, the unnumbered neighbour found.
              onLog: (message) => log("info", message),
              // What the profile asks and this node cannot give (BFD echo without ip_forward or accept_local).
              onWarning: (message) => log("warning", message),
            },
          })
        },
        catch: (error) => (error instanceof Error ? error.message : String(error)),
      }).pipe(
        Effect.match({
          onFailure: (reason) => node.offer({ _tag: "SessionFailed", peer: output.name, reason }),
          onSuccess: (session) => {
            self = session
            sessions.set(output.name, session)
            session.start()
          },
        }),
      )
    }

    const execute = (output: NodeOutput): Effect.Effect<void> => {
      // The successor owns the sessions, the membership and the status objects now.
      if (handedOver() && !afterHandOver.has(output._tag)) return Effect.void
      switch (output._tag) {
        case "UseInterfaces":
          watched = output.interfaces.map((i) => i.name)
          return plane.setInterfaces(output.interfaces.map((i) => ({ name: i.name, mac: i.mac as Mac })))
        case "Claim":
          return plane.claim(output.address, output.interfaces)
        case "Release":
          return plane.release(output.address, output.interfaces)
        case "Silence":
          return plane.silence
        case "SetDownInterfaces":
          return Effect.sync(() => membership?.setDownInterfaces(output.names))
        case "LeaveMembership":
          return Effect.sync(() => membership?.leave())
        case "JoinMembership":
          return Effect.sync(() => membership?.join(output.seeds))
        case "CloseMembership":
          return Effect.sync(() => membership?.close())
        case "OpenSession":
          return openSession(output)
        case "CloseSession": {
          const session = sessions.get(output.name)
          sessions.delete(output.name)
          return session === undefined ? Effect.void : Effect.promise(() => session.stop().catch((error: unknown) => log("warning", `bgp ${output.name}: stopping: ${String(error)}`)))
        }
        case "UpdateRoutes":
          return Effect.sync(() => sessions.get(output.name)?.setRoutes(output.routes))
        case "WriteStatus":
        case "DeleteStatus":
          return Effect.sync(() => writes.offer(`${output.kind} ${output.service}`, output))
        case "WriteSessionState":
        case "DeleteSessionState":
          return Effect.sync(() => writes.offer(`BGPSessionState ${output.peer}`, output))
        case "Emit":
          return Effect.sync(() => writes.offer(`event ${output.service}`, output))
        case "StartTimer":
          return Effect.void // the node driver's own
        case "Log":
          return output.level === "debug" ? Effect.logDebug(output.message) : output.level === "info" ? Effect.logInfo(output.message) : Effect.logWarning(output.message)
        case "ObserveTakeover":
          return Effect.sync(() => metrics?.takeover(output.seconds))
        case "ObserveDetection":
          return Effect.sync(() => metrics?.memberDetected(output.seconds))
        case "ConfigState":
          return Effect.sync(() => metrics?.config({ loaded: output.loaded, stale: output.stale }))
        case "Announced":
          return Effect.sync(() => {
            announcedSamples = output.samples.map((s) => ({ labels: { service: s.service, protocol: s.protocol, node: nodeName, ip: s.ip }, value: 1 }))
          })
        case "Stopped":
          // The hand-over's status deletes are with the workers: done before the scope closes them.
          return writesDone.pipe(Effect.andThen(Deferred.succeed(stopped, undefined)), Effect.asVoid)
      }
    }

    // The drivers' fibers live in a scope of their own, closed after the hand-over below has run.
    const scope = yield* Effect.scope
    const drivers = yield* Scope.fork(scope)
    // API writes (status objects, events) by workers, latest per object wins: the node driver hands them
    // over and takes its next input at once, instead of holding a failover behind thousands of calls.
    const runWrite = (_key: string, job: ApiWrite): Effect.Effect<void> => {
      switch (job._tag) {
        case "Emit":
          return emit(job.service, job.reason, job.note)
        case "WriteStatus":
        case "DeleteStatus":
          return (job._tag === "WriteStatus" ? writers[job.kind].write(job.service, job.status) : writers[job.kind].remove(job.service)).pipe(
            Effect.catch((error) => Effect.logWarning(`${job.kind} of ${job.service} not written: ${apiErrorText(error)}`).pipe(
              Effect.andThen(Effect.sync(() => node.offer({ _tag: "StatusWriteFailed", kind: job.kind, service: job.service }))),
            )),
          )
        case "WriteSessionState":
        case "DeleteSessionState":
          return (job._tag === "WriteSessionState" ? sessionStates.write(job.peer, job.status, job.sinceMs) : sessionStates.remove(job.peer)).pipe(
            Effect.catch((error) => Effect.logWarning(`BGPSessionState of ${job.peer} not written: ${apiErrorText(error)}`).pipe(
              Effect.andThen(Effect.sync(() => node.offer({ _tag: "SessionStateWriteFailed", peer: job.peer }))),
            )),
          )
      }
    }
    const writes = yield* keyedWorkers<ApiWrite>(writeConcurrency, runWrite).pipe(Scope.provide(drivers))
    const writesDone: Effect.Effect<void> = Effect.suspend(() => (writes.size() === 0 ? Effect.void : Effect.sleep("10 millis").pipe(Effect.andThen(writesDone))))
    const node = yield* runNodeDriver({ settings, execute, onStepped: (seconds) => metrics?.reconciled(seconds) }).pipe(Scope.provide(drivers))

    if (options.handOver !== undefined) {
      const { steps } = options.handOver
      steps.add("BGP sessions, listeners and BFD", async () => {
        const open = [...sessions.values()]
        sessions.clear()
        await Promise.allSettled(open.map((session) => session.stop()))
        await listeners.close()
        const endpoint = bfd
        bfd = undefined
        await endpoint?.close()
      })
      // First, and silently: the successor is bound beside it and answers as this member; while both
      // are bound each misses some members' acks, which would soon make it declare them dead.
      steps.add("membership", () => membership?.close(), "first")
    }
    if (options.membership !== undefined) {
      const m = options.membership
      let lost: Array<LostMember> = []
      membership = yield* Effect.tryPromise({
        try: () => MembershipDriver.start({
          name: nodeName,
          bindAddress: m.bindAddress,
          port: m.port,
          ...(m.key === undefined ? {} : { key: m.key }),
          ...(m.config === undefined ? {} : { config: m.config }),
          onChange: (live, down, syncedAtMs) => {
            node.offer({ _tag: "MembersChanged", live, down, lost, ...(syncedAtMs === undefined ? {} : { syncedAtMs }) })
            lost = []
          },
          onLog: (message) => log("info", message),
          onMemberLost: (name, how, lastHeardAtMs) => {
            lost.push({ name, how, ...(lastHeardAtMs === undefined ? {} : { lastHeardAtMs }) })
          },
        }, m.seeds),
        catch: (error) => new MembershipStartFailed({ bindAddress: m.bindAddress, port: m.port, reason: error instanceof Error ? error.message : String(error) }),
      })
    }

    // The node's previous speaker (if any) releases now that this one answers as the member too.
    if (options.handOver !== undefined) yield* Effect.promise(options.handOver.takeOver)

    // SIGTERM: the machine hands over and releases everything; the scope waits for it (bounded).
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        // Replaced on this node: no leave (the successor is this member now), no status deleted.
        if (handedOver()) return yield* Effect.logInfo(`speaker ${nodeName}: handed over to the next speaker of this node; stopping`)
        node.offer({ _tag: "Terminate" })
        const done = yield* Deferred.await(stopped).pipe(Effect.timeoutOption(`${settings.handOverMs + 10_000} millis`))
        if (Option.isNone(done)) yield* Effect.logWarning(`speaker ${nodeName}: the hand-over did not finish in time`)
      }))

    const configSources = () => configSourcesOf(configWatches.flatMap((w) => w.list()), secrets.list(), namespace, nodes.list())
    // Each snapshot says what changed since the one before, which the node machine holds: it is built
    // only when the node driver takes the input, so snapshots reach the machine in the order built.
    const clusterChanged = () => ({ _tag: "ClusterChanged", ...snapshots.next(nodes.list()) }) as const
    const foundStatuses = (kind: StatusKind) =>
      writers[kind].found().pipe(
        Effect.match({
          onFailure: (error) => log("warning", `${kind}: listing this node's objects failed: ${apiErrorText(error)}`),
          onSuccess: (found) => node.offer({ _tag: "StatusesFound", kind, services: found }),
        }),
      )
    // The configuration and the cluster view are built when the node driver takes them, and a newer
    // change replaces one still waiting: a pass that takes longer than the changes' pace decides the
    // newest view next, never a backlog of superseded ones.
    const refresh = () => {
      node.offerLatest("config", () => ({ _tag: "ConfigChanged", sources: configSources() }))
      node.offerLatest("cluster", clusterChanged)
    }
    node.offer({ _tag: "InterfacesScanned", interfaces: readInterfaces() })
    refresh()
    node.offer({ _tag: "Started" })
    const foundSessionStates = sessionStates.found().pipe(
      Effect.match({
        // A cluster without the BGPSessionState CRD: the speaker runs, its session writes fail and say so.
        onFailure: (error) => log("warning", `BGPSessionState: listing this node's objects failed: ${apiErrorText(error)}`),
        onSuccess: (found) => node.offer({ _tag: "SessionStatesFound", peers: found }),
      }),
    )
    yield* Effect.all([foundStatuses("ServiceL2Status"), foundStatuses("ServiceBGPStatus"), foundSessionStates], { discard: true, concurrency: 3 }).pipe(Effect.forkIn(drivers))

    // The watched objects: the first change opens a window of debounceMs and everything within it is
    // decided together. A window, not a debounce: a debounce never fires while changes keep coming
    // closer than its delay (100 EndpointSlice changes per second would have starved the speaker).
    const changed = yield* Queue.sliding<void>(1)
    yield* Stream.mergeAll(all.map((w) => w.changes), { concurrency: "unbounded" }).pipe(
      Stream.runForEach(() => Queue.offer(changed, undefined)),
      Effect.forkIn(drivers),
    )
    yield* Queue.take(changed).pipe(
      Effect.andThen(Effect.sleep(`${debounceMs} millis`)),
      Effect.andThen(Effect.sync(refresh)),
      Effect.forever,
      Effect.forkIn(drivers),
    )
    // The link state of the interfaces in use, and MetalLB's rescan of the interfaces.
    yield* Effect.sync(() => node.offer({ _tag: "LinksPolled", up: new Set(watched.filter(linkUp)), polled: new Set(watched) })).pipe(
      Effect.repeat(Schedule.spaced(`${linkPollMs} millis`)),
      Effect.forkIn(drivers),
    )
    yield* Effect.sync(() => node.offer({ _tag: "InterfacesScanned", interfaces: readInterfaces() })).pipe(
      Effect.delay(`${rescanMs} millis`),
      Effect.repeat(Schedule.spaced(`${rescanMs} millis`)),
      Effect.forkIn(drivers),
    )
    yield* Effect.logInfo(`speaker ${nodeName}: running${hostAddress !== undefined && Result.isSuccess(hostAddress) ? ` (host ${formatAddress(hostAddress.success)})` : ""}`)
    return yield* Effect.never
  })
