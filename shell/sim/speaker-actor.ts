// A simulated node and its speaker: an adapter that drives the production node machine
// (core/speaker/node, with the production settings of core/speaker/settings.ts) in virtual time, and
// executes its outputs with the production protocol cores and drivers over the simulated network:
// the SWIM membership core, the L2 responder and announcer, BgpPeer and BfdDriver. Only transports,
// timers and link state are simulation-specific; every decision is the real speaker's.
import { Result } from "effect"
import type { BfdState } from "../../core/bfd/packet.ts"
import { isPathFailure } from "../../core/bfd/session.ts"
import type { SessionStateName } from "../../core/bgp/session/outputs.ts"
import type { BGPSessionStateStatus } from "../../core/config/kinds/bgp-session-state.ts"
import { decodeMessage, encodeMessage } from "../../core/election/membership/codec.ts"
import type { Message as MembershipMessage } from "../../core/election/membership/messages.ts"
import {
  downInterfacesOf,
  initialMembership,
  liveMembers,
  type MembershipOutput,
  type MembershipState,
  step as membershipStep,
} from "../../core/election/membership/node.ts"
import { type AnnouncerInput, type AnnouncerOutput, type AnnouncerState, defaultAnnouncer, step as announce } from "../../core/l2/announcer.ts"
import type { L2DecodeError } from "../../core/l2/errors.ts"
import { encodeFrame, type Frame } from "../../core/l2/frame.ts"
import type { Mac } from "../../core/l2/mac.ts"
import { addressKey, type L2Interface } from "../../core/l2/ownership.ts"
import { applyOwnership, emptyResponder, respond, respondToBytes, type ResponderState } from "../../core/l2/responder.ts"
import { type Address, formatAddress } from "../../core/net/address.ts"
import type { InterfaceInfo } from "../../core/speaker/interfaces.ts"
import { initialNode, type LostMember, type NodeInput, type NodeOutput, type NodeState, type OwnedAddress, step as nodeStep, type TimerName } from "../../core/speaker/node.ts"
import { linkPollMs, nodeSettings } from "../../core/speaker/settings.ts"
import { changesBetween, type ClusterSnapshot } from "../../core/speaker/view.ts"
import { BfdDriver } from "../speaker/bfd-driver.ts"
import { BgpPeer, type Connection } from "../speaker/bgp-peer.ts"
import { SimCluster } from "./cluster.ts"
import type { SimContext } from "./context.ts"

export interface SegmentPort {
  /** Puts a frame on the shared segment (every host receives it and filters by destination MAC). */
  readonly transmit: (from: string, frame: Uint8Array) => void
}

export interface RouterPort {
  readonly name: string
  /** Opens a simulated TCP connection from `node` to the router's BGP port. */
  readonly connect: (node: string, connected: (connection: Connection) => void, failed: (reason: string) => void) => void
  /** Delivers a BFD control packet from `node` to the router. */
  readonly bfdToRouter: (node: string, bytes: Uint8Array) => void
}

/** The informers' delay: a cluster change reaches the speaker this much later. */
const informerDelayMs = 20

type Untimed = NodeInput extends infer I ? (I extends { readonly nowMs: number } ? Omit<I, "nowMs"> : never) : never

/** answersFor's last address and its key. */
let lastKey: { readonly address: Address | undefined; readonly key: string } = { address: undefined, key: "" }

export class SimSpeaker {
  readonly name: string
  readonly mac: Mac
  readonly iface: L2Interface
  /** The machine is up (network reachable). */
  up = true
  /** The speaker process runs. */
  running = false
  /** Left the membership and hands over; still answering until it stops. */
  terminating = false
  /** The link of its interface (a cable pulled, a switch port down): the node reaches nobody without it. */
  private linkUp = true
  private linkPollTimer: number | undefined
  /** Counts starts, so that a timer of an earlier speaker process cannot act on a later one. */
  private generation = 0
  private node: NodeState | undefined
  private readonly nodeTimers = new Map<TimerName, number>()
  private membership: MembershipState | undefined
  private membershipTimer: number | undefined
  private liveMembers: ReadonlySet<string> = new Set()
  private downInterfaces: ReadonlyMap<string, ReadonlyArray<string>> = new Map()
  private lost: Array<LostMember> = []
  private readonly heardAtMs = new Map<string, number>()
  /** As the real membership driver reports it: when a member's full table last arrived. */
  private syncedAtMs: number | undefined
  /** Inputs that arrive while the machine's outputs are executed wait their turn (the real driver's queue). */
  private readonly pending: Array<Untimed> = []
  private feeding = false
  private responder: ResponderState = emptyResponder
  private announcer: AnnouncerState = defaultAnnouncer
  private announcerTimer: number | undefined
  private readonly bgpPeers = new Map<string, BgpPeer>()
  private readonly bfd = new Map<string, BfdDriver>()
  /** This node's BGPSessionState objects as the machine wrote them (the API's: they outlive the speaker). */
  private readonly sessionStateObjects = new Map<string, { readonly status: Required<BGPSessionStateStatus>; readonly sinceMs: number }>()
  private readonly bfdListeners = new Map<string, (bytes: Uint8Array, ttl: number | undefined) => void>()
  private syncPending = false
  /** The configuration documents this speaker process was last given. */
  private fedDocuments: ReadonlyArray<unknown> | undefined
  private readonly ctx: SimContext
  private readonly cluster: SimCluster
  private readonly segment: SegmentPort
  private readonly router: RouterPort | undefined
  private readonly peersOf: () => ReadonlyArray<string>
  /** Per address, the first gratuitous frame sent after each claim, in order (for failover figures). */
  readonly announcementsMs = new Map<string, Array<number>>()
  /** Addresses claimed whose first gratuitous frame has not gone out yet. */
  private readonly unannounced = new Set<string>()

  constructor(ctx: SimContext, cluster: SimCluster, options: {
    readonly name: string
    readonly mac: Mac
    readonly segment: SegmentPort
    readonly router?: RouterPort
    readonly allNodes: () => ReadonlyArray<string>
  }) {
    this.ctx = ctx
    this.cluster = cluster
    this.name = options.name
    this.mac = options.mac
    this.iface = { name: "eth0", mac: options.mac }
    this.segment = options.segment
    this.router = options.router
    this.peersOf = options.allNodes
    cluster.onChange(() => this.scheduleSync())
  }

  /** The last `claimed`: the same array while what it lists is the same (the checkers compare by identity). */
  private lastClaimed: { readonly owned: ReadonlyMap<string, OwnedAddress> | undefined; readonly claimed: ReadonlyArray<OwnedAddress> } = { owned: undefined, claimed: [] }

  /** What this speaker answers for now (on at least one interface). */
  get claimed(): ReadonlyArray<OwnedAddress> {
    const owned = this.node?.owned
    if (owned === this.lastClaimed.owned) return this.lastClaimed.claimed
    const claimed = [...(owned?.values() ?? [])].filter((o) => o.interfaces.length > 0)
    const before = this.lastClaimed.claimed
    const same = claimed.length === before.length && claimed.every((o, i) => sameClaim(o, before[i]!))
    this.lastClaimed = { owned, claimed: same ? before : claimed }
    return this.lastClaimed.claimed
  }

  get members(): ReadonlySet<string> {
    return this.liveMembers
  }

  get bgpSessions(): ReadonlyMap<string, BgpPeer> {
    return this.bgpPeers
  }

  /** This node's BGPSessionState objects, per BGPPeer. */
  get sessionStates(): ReadonlyMap<string, { readonly status: Required<BGPSessionStateStatus>; readonly sinceMs: number }> {
    return this.sessionStateObjects
  }

  /** The simulated node's interfaces, as the rescan reads them. */
  private interfaces(): ReadonlyArray<InterfaceInfo> {
    return [{ name: this.iface.name, index: 2, mac: this.mac, up: true, noArp: false, loopback: false, enslaved: false }]
  }

  start(): void {
    this.generation += 1
    this.running = true
    const made = initialMembership({ name: this.name, address: this.name })
    if (Result.isFailure(made)) throw made.failure
    this.membership = made.success
    const seeds = this.peersOf().filter((n) => n !== this.name)
    this.node = initialNode(nodeSettings({ nodeName: this.name, membership: true, seeds }))
    this.ctx.trace(this.name, "speaker started")
    this.runMembership({ _tag: "Join", nowMs: this.ctx.scheduler.nowMs, seeds })
    this.feed({ _tag: "InterfacesScanned", interfaces: this.interfaces() })
    // The first link poll: a link that is down already is seen at once.
    if (!this.linkUp) this.feed({ _tag: "LinksPolled", up: new Set() })
    this.feed({ _tag: "Started" })
    // What a previous speaker of this node left, as the real one lists it at its start.
    if (this.sessionStateObjects.size > 0) this.feed({ _tag: "SessionStatesFound", peers: [...this.sessionStateObjects.keys()] })
    this.scheduleSync()
  }

  /** The machine dies: no FIN, no NOTIFICATION, no Leave; everything just stops. */
  crash(): void {
    this.ctx.trace(this.name, "node crashed")
    this.up = false
    this.ctx.network.setDown(this.name, true)
    this.halt()
  }

  /** The machine comes back and the speaker starts again, knowing nothing. */
  restart(): void {
    // A reboot ends whatever the old speaker was doing, a graceful stop in progress included.
    if (this.running) this.halt()
    this.up = true
    this.ctx.network.setDown(this.name, !this.linkUp)
    this.ctx.trace(this.name, "node restarted")
    this.start()
  }

  /** SIGKILL of the speaker process: the node stays up, its kernel closes the BGP connections. */
  kill(): void {
    if (!this.running) return
    this.ctx.trace(this.name, "speaker killed")
    for (const peer of this.bgpPeers.values()) peer.abort()
    this.bgpPeers.clear()
    for (const driver of this.bfd.values()) driver.halt()
    this.bfd.clear()
    this.halt()
  }

  /** SIGTERM: the node machine leaves, goes silent, keeps answering for the hand-over, then stops. */
  stopGracefully(handOverMs: number): void {
    if (!this.running) return
    this.ctx.trace(this.name, "speaker terminating: leaving membership")
    this.terminating = true
    this.feed({ _tag: "Terminate", handOverMs })
  }

  /**
   * The link goes down or comes back: the node's traffic stops or flows again at once; the speaker
   * notices at its next link poll (every linkPollMs, as the real speaker polls operstate).
   */
  setLink(up: boolean): void {
    if (this.linkUp === up) return
    this.linkUp = up
    this.ctx.trace(this.name, `link ${this.iface.name} ${up ? "up" : "down"}`)
    this.ctx.network.setDown(this.name, !this.up || !up)
    if (!this.running || this.linkPollTimer !== undefined) return
    const generation = this.generation
    // Polls run on the production period; only those that can see a change are simulated.
    this.linkPollTimer = this.ctx.scheduler.after(linkPollMs - (this.ctx.scheduler.nowMs % linkPollMs), () => {
      this.linkPollTimer = undefined
      if (generation === this.generation) this.feed({ _tag: "LinksPolled", up: this.linkUp ? new Set([this.iface.name]) : new Set() })
    })
  }

  private halt(): void {
    this.running = false
    if (this.linkPollTimer !== undefined) this.ctx.scheduler.cancel(this.linkPollTimer)
    this.linkPollTimer = undefined
    this.terminating = false
    this.node = undefined
    for (const timer of this.nodeTimers.values()) this.ctx.scheduler.cancel(timer)
    this.nodeTimers.clear()
    if (this.membershipTimer !== undefined) this.ctx.scheduler.cancel(this.membershipTimer)
    if (this.announcerTimer !== undefined) this.ctx.scheduler.cancel(this.announcerTimer)
    this.membershipTimer = undefined
    this.announcerTimer = undefined
    for (const driver of this.bfd.values()) driver.stop()
    for (const peer of this.bgpPeers.values()) peer.stop()
    this.bfd.clear()
    this.bgpPeers.clear()
    this.responder = emptyResponder
    this.announcer = defaultAnnouncer
    this.liveMembers = new Set()
    this.downInterfaces = new Map()
    this.viewSeen = undefined
    this.lost = []
    this.syncedAtMs = undefined
    this.pending.length = 0
    this.fedDocuments = undefined
    this.fedSnapshot = undefined
  }

  // --- the node machine ---------------------------------------------------------------------------

  private feed(input: Untimed): void {
    this.pending.push(input)
    if (this.feeding) return
    this.feeding = true
    try {
      for (let next = this.pending.shift(); next !== undefined; next = this.pending.shift()) {
        if (this.node === undefined) continue
        const t = nodeStep(this.node, { ...next, nowMs: this.ctx.scheduler.nowMs } as NodeInput)
        this.node = t.state
        for (const output of t.outputs) this.execute(output)
      }
    } finally {
      this.feeding = false
    }
  }

  private execute(output: NodeOutput): void {
    const nowMs = this.ctx.scheduler.nowMs
    switch (output._tag) {
      case "Claim":
      case "Release": {
        const owned = output._tag === "Claim"
        const key = addressKey(output.address)
        if (output.interfaces.includes(this.iface.name)) {
          this.ctx.trace(this.name, owned ? `claims ${formatAddress(output.address)} for ${output.service}` : `releases ${formatAddress(output.address)}`)
          if (owned) this.unannounced.add(key)
          const change = { _tag: "OwnershipChanged", address: output.address, iface: this.iface, owned, nowMs } as const
          this.responder = applyOwnership(this.responder, change)
          this.runAnnouncer(change)
        }
        return
      }
      case "Silence":
        return this.runAnnouncer({ _tag: "Silence", nowMs })
      case "SetDownInterfaces":
        return this.runMembership({ _tag: "SetDownInterfaces", nowMs, names: output.names })
      case "LeaveMembership":
        return this.runMembership({ _tag: "Leave", nowMs })
      case "JoinMembership":
        return this.runMembership({ _tag: "Join", nowMs, seeds: output.seeds })
      case "CloseMembership":
        if (this.membershipTimer !== undefined) this.ctx.scheduler.cancel(this.membershipTimer)
        this.membershipTimer = undefined
        this.membership = undefined
        return
      case "OpenSession":
        return this.openSession(output)
      case "CloseSession":
        this.bgpPeers.get(output.name)?.stop()
        this.bgpPeers.delete(output.name)
        this.bfd.get(output.name)?.stop()
        this.bfd.delete(output.name)
        return
      case "UpdateRoutes":
        return this.bgpPeers.get(output.name)?.setRoutes(output.routes)
      case "StartTimer": {
        const previous = this.nodeTimers.get(output.name)
        if (previous !== undefined) this.ctx.scheduler.cancel(previous)
        const generation = this.generation
        const name = output.name
        this.nodeTimers.set(name, this.ctx.scheduler.after(output.delayMs, () => {
          // A speaker started since (a restart) is not the one that set the timer.
          if (generation !== this.generation) return
          this.nodeTimers.delete(name)
          this.feed({ _tag: "TimerFired", name })
        }))
        return
      }
      case "WriteSessionState":
        this.sessionStateObjects.set(output.peer, { status: output.status, sinceMs: output.sinceMs })
        return
      case "DeleteSessionState":
        this.sessionStateObjects.delete(output.peer)
        return
      case "Stopped":
        this.ctx.trace(this.name, "speaker stopped")
        return this.halt()
      // The API writes, logs and metrics of the real speaker have no reader in the simulation.
      case "UseInterfaces":
      case "WriteStatus":
      case "DeleteStatus":
      case "Emit":
      case "Log":
      case "ObserveTakeover":
      case "ObserveDetection":
      case "ConfigState":
      case "Announced":
        return
    }
  }

  // --- membership -------------------------------------------------------------------------------

  receiveMembership(from: string, bytes: Uint8Array): void {
    if (!this.running) return
    const decoded = decodeMessage(bytes)
    if (Result.isFailure(decoded)) return
    this.heardAtMs.set(decoded.success.from, this.ctx.scheduler.nowMs)
    const synced = decoded.success._tag === "Sync"
    if (synced) this.syncedAtMs = this.ctx.scheduler.nowMs
    this.runMembership({ _tag: "Received", nowMs: this.ctx.scheduler.nowMs, from, message: decoded.success }, synced)
  }

  private runMembership(input: Parameters<typeof membershipStep>[1], synced = false): void {
    if (this.membership === undefined) return
    const { state, outputs } = membershipStep(this.membership, input)
    this.membership = state
    for (const output of outputs) this.executeMembership(output)
    // As the real driver reports it (shell/speaker/membership.ts): the live set and their down links.
    if (!synced && !this.membershipViewChanged(state)) return
    this.liveMembers = liveMembers(state)
    this.downInterfaces = downInterfacesOf(state)
    // Before the feed: a membership step it causes (a Leave, new down interfaces) reports its own view.
    this.viewSeen = { members: state.members, phase: state.phase, down: state.downInterfaces }
    const lost = this.lost
    this.lost = []
    this.feed({ _tag: "MembersChanged", live: this.liveMembers, down: this.downInterfaces, lost, ...(this.syncedAtMs === undefined ? {} : { syncedAtMs: this.syncedAtMs }) })
  }

  /**
   * Whether liveMembers(state) or downInterfacesOf(state) differ from what was last reported, checked
   * in place: most datagrams change neither, and building both to compare cost more than the step.
   */
  private membershipViewChanged(state: MembershipState): boolean {
    // The step keeps its member table (the same object) unless it changed a member: then nothing did.
    const seen = this.viewSeen
    if (seen !== undefined && seen.members === state.members && seen.phase === state.phase && seen.down === state.downInterfaces) return false
    const changed = this.viewDiffers(state)
    if (!changed) this.viewSeen = { members: state.members, phase: state.phase, down: state.downInterfaces }
    return changed
  }

  /** A state whose view was last reported, or found equal to it; reset with the reported view. */
  private viewSeen: { readonly members: MembershipState["members"]; readonly phase: MembershipState["phase"]; readonly down: ReadonlyArray<string> } | undefined

  private viewDiffers(state: MembershipState): boolean {
    const running = state.phase === "running"
    let live = running ? 1 : 0
    let down = running && state.downInterfaces.length > 0 ? 1 : 0
    if (running && (!this.liveMembers.has(state.name) || !sameNames(state.downInterfaces, this.downInterfaces.get(state.name)))) return true
    for (const m of state.members.values()) {
      if (m.status !== "alive" && m.status !== "suspect") continue
      live += 1
      if (m.downInterfaces !== undefined) down += 1
      if (!this.liveMembers.has(m.name) || !sameNames(m.downInterfaces ?? [], this.downInterfaces.get(m.name))) return true
    }
    return live !== this.liveMembers.size || down !== this.downInterfaces.size
  }

  private executeMembership(output: MembershipOutput): void {
    switch (output._tag) {
      case "Send": {
        const bytes = encodeMessage(output.message as MembershipMessage)
        const to = output.to
        this.ctx.network.send(this.name, to, () => this.deliverMembership(to, bytes))
        return
      }
      case "StartTimer":
        if (this.membershipTimer !== undefined) this.ctx.scheduler.cancel(this.membershipTimer)
        this.membershipTimer = this.ctx.scheduler.after(output.delayMs, () => {
          this.membershipTimer = undefined
          if (this.running) this.runMembership({ _tag: "Tick", nowMs: this.ctx.scheduler.nowMs, random: this.ctx.random.nextUint32() })
        })
        return
      case "StopTimer":
        if (this.membershipTimer !== undefined) this.ctx.scheduler.cancel(this.membershipTimer)
        this.membershipTimer = undefined
        return
      case "MemberAlive":
      case "MemberSuspect":
        if (!this.liveMembers.has(output.name)) this.ctx.trace(this.name, `membership: ${output.name} alive`)
        return
      case "MemberDead":
      case "MemberLeft": {
        if (this.liveMembers.has(output.name)) this.ctx.trace(this.name, `membership: ${output.name} ${output._tag === "MemberDead" ? "dead" : "left"}`)
        const lastHeardAtMs = this.heardAtMs.get(output.name)
        this.lost.push({ name: output.name, how: output._tag === "MemberDead" ? "dead" : "left", ...(lastHeardAtMs === undefined ? {} : { lastHeardAtMs }) })
        return
      }
    }
  }

  /** Set by the world: how membership datagrams reach another speaker. */
  deliverMembership: (to: string, bytes: Uint8Array) => void = () => undefined

  // --- cluster view: the informers --------------------------------------------------------------

  /** The snapshot last fed to the machine (a restarted machine holds none, and decides everything again). */
  private fedSnapshot: ClusterSnapshot | undefined

  private scheduleSync(): void {
    if (this.syncPending || !this.running) return
    this.syncPending = true
    this.ctx.scheduler.after(informerDelayMs, () => {
      this.syncPending = false
      if (!this.running) return
      // The same documents again would only be fingerprinted and found Unchanged by the machine.
      const documents = this.cluster.configDocuments()
      if (documents !== this.fedDocuments) this.feed({ _tag: "ConfigChanged", sources: this.cluster.configSources() })
      this.fedDocuments = documents
      // With what changed since the snapshot fed before, as the real speaker's informers say it.
      const snapshot = this.cluster.snapshot()
      const since = this.fedSnapshot
      this.fedSnapshot = snapshot
      this.feed({ _tag: "ClusterChanged", snapshot, ...(since === undefined ? {} : { changes: changesBetween(since, snapshot) }) })
    })
  }

  // --- Layer 2 ------------------------------------------------------------------------------------

  private runAnnouncer(input: AnnouncerInput): void {
    const t = announce(this.announcer, input)
    this.announcer = t.state
    this.executeAnnouncements(t.outputs)
  }

  private executeAnnouncements(outputs: ReadonlyArray<AnnouncerOutput>): void {
    for (const output of outputs) {
      if (output._tag === "Send") {
        const key = addressKey(output.address)
        if (this.unannounced.delete(key)) this.announcementsMs.set(key, [...(this.announcementsMs.get(key) ?? []), this.ctx.scheduler.nowMs])
        this.segment.transmit(this.name, encodeFrame(output.frame))
      } else {
        if (this.announcerTimer !== undefined) this.ctx.scheduler.cancel(this.announcerTimer)
        this.announcerTimer = this.ctx.scheduler.at(output.atMs, () => {
          this.announcerTimer = undefined
          if (this.running) this.runAnnouncer({ _tag: "Tick", nowMs: this.ctx.scheduler.nowMs })
        })
      }
    }
  }

  /** A frame from the segment; `decoded` is decodeFrame(bytes), done once for every receiver. */
  receiveFrame(bytes: Uint8Array, decoded: Result.Result<Frame, L2DecodeError>): void {
    if (!this.running) return
    const response = Result.isSuccess(decoded) ? respond(this.responder, decoded.success, this.iface) : respondToBytes(this.responder, bytes, this.iface)
    for (const reply of response.replies) this.segment.transmit(this.name, encodeFrame(reply))
    if (response.reason._tag === "Answered") this.runAnnouncer({ _tag: "RequestSeen", address: response.reason.address, nowMs: this.ctx.scheduler.nowMs })
    if (response.reason._tag === "Conflict") this.runAnnouncer({ _tag: "ConflictSeen", address: response.reason.address, nowMs: this.ctx.scheduler.nowMs })
  }

  /** Whether this speaker answers for the address right now. */
  answersFor(address: Address): boolean {
    // The owned map is keyed by addressKey: one lookup, not a scan of every claim per host and frame;
    // the key is made once per frame (every host is asked about the same address object).
    const owned = this.node?.owned
    if (!this.running || owned === undefined || owned.size === 0) return false
    if (lastKey.address !== address) lastKey = { address, key: addressKey(address) }
    return (owned.get(lastKey.key)?.interfaces.length ?? 0) > 0
  }

  // --- BGP and BFD: the production drivers over simulated transports --------------------------------

  private openSession(output: Extract<NodeOutput, { _tag: "OpenSession" }>): void {
    const router = this.router
    if (router === undefined) return
    const { name, spec } = output
    // The machine publishes both states on a change of either, for the session that is the peer's now.
    let bgpState: SessionStateName = "Idle"
    let bfdState: BfdState | undefined = spec.bfdProfile === undefined ? undefined : "Down"
    const report = () => {
      if (this.bgpPeers.get(name) === peer) this.feed({ _tag: "SessionStateChanged", peer: name, bgp: bgpState, bfd: bfdState })
    }
    const peer: BgpPeer = new BgpPeer({
      name: `${this.name}->${name}`,
      session: spec.session,
      transport: { connect: (connected, failed) => router.connect(this.name, connected, failed) },
      // Simulated hosts have names, not addresses: the node's own addresses are the next hops.
      nextHops: {
        ipv4: { family: "ipv4", value: 0xc0000200n + BigInt(10 + this.index()) },
        ipv6: [{ family: "ipv6", value: 0x20010db8000000000000000000000000n + BigInt(10 + this.index()) }],
      },
      timers: this.ctx.timers,
      events: {
        onStateChanged: (from, to) => {
          if (to === "Established" || from === "Established") this.ctx.trace(this.name, `bgp ${name}: ${from} -> ${to}`)
          bgpState = to
          report()
        },
      },
    })
    this.bgpPeers.set(name, peer)
    peer.start()
    if (spec.bfdProfile === undefined) return
    const driver = new BfdDriver({
      profile: spec.bfdProfile,
      localDiscriminator: 1000 + this.index(),
      link: {
        send: (bytes) => router.bfdToRouter(this.name, bytes),
        onReceive: (listener) => { this.bfdListeners.set(name, listener) },
      },
      timers: this.ctx.timers,
      random: () => this.ctx.random.float(),
      events: { onStateChanged: (from, to, diagnostic, remoteState) => {
        this.ctx.trace(this.name, `bfd ${name}: ${from} -> ${to} (diagnostic ${diagnostic})`)
        bfdState = to
        report()
        if (isPathFailure(from, to, remoteState)) peer.bfdDown()
      } },
    })
    this.bfd.set(name, driver)
    driver.start()
  }

  /** A BFD packet from the router for the session with peer `peer`. */
  receiveBfd(peer: string, bytes: Uint8Array): void {
    if (!this.running) return
    this.bfdListeners.get(peer)?.(bytes, 255)
  }

  /** This node's position among the nodes, from 1: its simulated addresses. */
  private index(): number {
    return Math.max(0, this.peersOf().indexOf(this.name)) + 1
  }
}

const sameClaim = (a: OwnedAddress, b: OwnedAddress): boolean =>
  a.service === b.service && a.address.family === b.address.family && a.address.value === b.address.value && a.interfaces.length === b.interfaces.length && a.interfaces.every((n, i) => n === b.interfaces[i])

/** Two down-interface lists are the same (a missing one is empty). */
const sameNames = (a: ReadonlyArray<string>, b: ReadonlyArray<string> | undefined): boolean =>
  a.length === (b?.length ?? 0) && a.every((n, i) => n === b![i])
