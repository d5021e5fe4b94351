// A simulated node and its speaker: the production cores (membership, election, L2 responder and
// announcer, BGP session and RIB planner, BFD) driven in virtual time over the simulated network. Only
// the plumbing is simulation-specific; every decision is the same code the real speaker runs.
import { Result } from "effect"
import type { Config } from "../../core/config/config.ts"
import { resolve } from "../../core/config/resolve.ts"
import { decodeMessage, encodeMessage } from "../../core/election/membership/codec.ts"
import { initialMembership, type MembershipOutput, type MembershipState, step as membershipStep } from "../../core/election/membership/node.ts"
import type { Message as MembershipMessage } from "../../core/election/membership/messages.ts"
import { type AnnouncerOutput, type AnnouncerState, defaultAnnouncer, step as announce, type AnnouncerInput } from "../../core/l2/announcer.ts"
import { encodeFrame } from "../../core/l2/frame.ts"
import type { Mac } from "../../core/l2/mac.ts"
import { addressKey, type L2Interface, type OwnershipChanged } from "../../core/l2/ownership.ts"
import { applyOwnership, emptyResponder, respondToBytes, type ResponderState } from "../../core/l2/responder.ts"
import { type Address, formatAddress } from "../../core/net/address.ts"
import { bgpAnnouncements, peersForNode } from "../../core/speaker/bgp.ts"
import { type L2Claim, l2Announcements } from "../../core/speaker/l2.ts"
import type { ClusterSnapshot } from "../../core/speaker/view.ts"
import { BfdDriver } from "../speaker/bfd-session.ts"
import { BgpPeer, type Connection } from "../speaker/bgp-peer.ts"
import type { SimCluster } from "./cluster.ts"
import type { SimContext } from "./context.ts"
import { isPathFailure } from "../../core/bfd/session.ts"

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

const informerDelayMs = 20

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
  /** Counts starts, so that a timer of an earlier speaker process cannot act on a later one. */
  private generation = 0
  private membership: MembershipState | undefined
  private membershipTimer: number | undefined
  private liveMembers = new Set<string>()
  private snapshot: ClusterSnapshot | undefined
  private config: Config | undefined
  private configFingerprint = ""
  private responder: ResponderState = emptyResponder
  private announcer: AnnouncerState = defaultAnnouncer
  private announcerTimer: number | undefined
  private claims = new Map<string, L2Claim>()
  private readonly bgpPeers = new Map<string, BgpPeer>()
  private readonly bfd = new Map<string, BfdDriver>()
  private syncPending = false
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

  get claimed(): ReadonlyArray<L2Claim> {
    return [...this.claims.values()]
  }

  get members(): ReadonlySet<string> {
    return this.liveMembers
  }

  get bgpSessions(): ReadonlyMap<string, BgpPeer> {
    return this.bgpPeers
  }

  start(): void {
    this.generation += 1
    this.running = true
    const made = initialMembership({ name: this.name, address: this.name })
    if (Result.isFailure(made)) throw made.failure
    this.membership = made.success
    this.liveMembers = new Set([this.name])
    this.ctx.trace(this.name, "speaker started")
    this.runMembership({ _tag: "Join", nowMs: this.ctx.scheduler.nowMs, seeds: this.peersOf().filter((n) => n !== this.name) })
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
    this.ctx.network.setDown(this.name, false)
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

  /**
   * SIGTERM: leave the membership first so the new owners take over and announce, keep answering for a
   * hand-over period, then stop.
   */
  stopGracefully(handOverMs: number): void {
    if (!this.running) return
    this.ctx.trace(this.name, "speaker terminating: leaving membership")
    this.terminating = true
    this.runMembership({ _tag: "Leave", nowMs: this.ctx.scheduler.nowMs })
    // Our successors announce now; a gratuitous frame of ours would pull the neighbours back.
    this.runAnnouncer({ _tag: "Silence", nowMs: this.ctx.scheduler.nowMs })
    const generation = this.generation
    this.ctx.scheduler.after(handOverMs, () => {
      // A speaker started since (a restart) is not the one that was told to stop.
      if (generation !== this.generation || !this.running) return
      this.ctx.trace(this.name, "speaker stopped")
      for (const peer of this.bgpPeers.values()) peer.stop()
      this.halt()
    })
  }

  private halt(): void {
    this.running = false
    this.terminating = false
    if (this.membershipTimer !== undefined) this.ctx.scheduler.cancel(this.membershipTimer)
    if (this.announcerTimer !== undefined) this.ctx.scheduler.cancel(this.announcerTimer)
    this.membershipTimer = undefined
    this.announcerTimer = undefined
    for (const driver of this.bfd.values()) driver.stop()
    for (const peer of this.bgpPeers.values()) peer.stop()
    this.bfd.clear()
    this.bgpPeers.clear()
    this.claims.clear()
    this.responder = emptyResponder
    this.announcer = defaultAnnouncer
    this.liveMembers = new Set()
  }

  // --- membership -------------------------------------------------------------------------------

  receiveMembership(from: string, bytes: Uint8Array): void {
    if (!this.running) return
    const decoded = decodeMessage(bytes)
    if (Result.isFailure(decoded)) return
    this.runMembership({ _tag: "Received", nowMs: this.ctx.scheduler.nowMs, from, message: decoded.success })
  }

  private runMembership(input: Parameters<typeof membershipStep>[1]): void {
    if (this.membership === undefined) return
    const { state, outputs } = membershipStep(this.membership, input)
    this.membership = state
    let changed = false
    for (const output of outputs) changed = this.executeMembership(output) || changed
    if (changed) this.recompute()
  }

  private executeMembership(output: MembershipOutput): boolean {
    switch (output._tag) {
      case "Send": {
        const bytes = encodeMessage(output.message as MembershipMessage)
        const to = output.to
        this.ctx.network.send(this.name, to, () => this.deliverMembership(to, bytes))
        return false
      }
      case "StartTimer":
        if (this.membershipTimer !== undefined) this.ctx.scheduler.cancel(this.membershipTimer)
        this.membershipTimer = this.ctx.scheduler.after(output.delayMs, () => {
          this.membershipTimer = undefined
          if (this.running) this.runMembership({ _tag: "Tick", nowMs: this.ctx.scheduler.nowMs, random: this.ctx.random.nextUint32() })
        })
        return false
      case "StopTimer":
        if (this.membershipTimer !== undefined) this.ctx.scheduler.cancel(this.membershipTimer)
        this.membershipTimer = undefined
        return false
      case "MemberAlive":
      case "MemberSuspect":
        if (this.liveMembers.has(output.name)) return false
        this.liveMembers.add(output.name)
        this.ctx.trace(this.name, `membership: ${output.name} alive`)
        return true
      case "MemberDead":
      case "MemberLeft":
        if (!this.liveMembers.delete(output.name)) return false
        this.ctx.trace(this.name, `membership: ${output.name} ${output._tag === "MemberDead" ? "dead" : "left"}`)
        return true
    }
  }

  /** Set by the world: how membership datagrams reach another speaker. */
  deliverMembership: (to: string, bytes: Uint8Array) => void = () => undefined

  // --- cluster view -----------------------------------------------------------------------------

  private scheduleSync(): void {
    if (this.syncPending || !this.running) return
    this.syncPending = true
    this.ctx.scheduler.after(informerDelayMs, () => {
      this.syncPending = false
      if (!this.running) return
      this.snapshot = this.cluster.snapshot()
      const documents = this.cluster.configDocuments()
      const fingerprint = JSON.stringify(documents)
      if (fingerprint !== this.configFingerprint) {
        const resolution = resolve(documents.map((value) => ({ value })))
        if (resolution._tag === "Valid") {
          this.config = resolution.config
          this.configFingerprint = fingerprint
        }
      }
      this.recompute()
    })
  }

  // --- decisions ----------------------------------------------------------------------------------

  private recompute(): void {
    if (!this.running || this.config === undefined || this.snapshot === undefined) return
    const decision = l2Announcements(this.config, this.snapshot, this.name, this.liveMembers)
    const next = new Map(decision.claims.map((c) => [addressKey(c.address), c]))
    const changes: Array<OwnershipChanged> = []
    const nowMs = this.ctx.scheduler.nowMs
    for (const [key, claim] of this.claims) {
      if (next.has(key)) continue
      changes.push({ _tag: "OwnershipChanged", address: claim.address, iface: this.iface, owned: false, nowMs })
      this.ctx.trace(this.name, `releases ${formatAddress(claim.address)}`)
    }
    for (const [key, claim] of next) {
      if (this.claims.has(key)) continue
      changes.push({ _tag: "OwnershipChanged", address: claim.address, iface: this.iface, owned: true, nowMs })
      this.ctx.trace(this.name, `claims ${formatAddress(claim.address)} for ${claim.service}`)
      this.unannounced.add(key)
    }
    this.claims = next
    for (const change of changes) {
      this.responder = applyOwnership(this.responder, change)
      this.runAnnouncer(change)
    }
    this.reconcileBgp()
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

  receiveFrame(bytes: Uint8Array): void {
    if (!this.running) return
    const response = respondToBytes(this.responder, bytes, this.iface)
    for (const reply of response.replies) this.segment.transmit(this.name, encodeFrame(reply))
    if (response.reason._tag === "Answered") this.runAnnouncer({ _tag: "RequestSeen", address: response.reason.address, nowMs: this.ctx.scheduler.nowMs })
  }

  /** Whether this speaker answers for the address right now. */
  answersFor(address: Address): boolean {
    return this.running && this.claims.has(addressKey(address))
  }

  // --- BGP and BFD --------------------------------------------------------------------------------

  private reconcileBgp(): void {
    const router = this.router
    const config = this.config
    const snapshot = this.snapshot
    if (router === undefined || config === undefined || snapshot === undefined) return
    const node = snapshot.nodes.find((n) => n.name === this.name)
    if (node === undefined) return
    const wanted = new Set(peersForNode(config, node))
    for (const [name, peer] of this.bgpPeers) {
      if (wanted.has(name)) continue
      peer.stop()
      this.bgpPeers.delete(name)
      this.bfd.get(name)?.stop()
      this.bfd.delete(name)
    }
    const routes = bgpAnnouncements(config, snapshot, node)
    for (const name of wanted) {
      const peerConfig = config.peers.get(name)
      if (peerConfig === undefined || peerConfig.peerAsn === undefined) continue
      let peer = this.bgpPeers.get(name)
      if (peer === undefined) {
        const bfdProfile = peerConfig.bfdProfile === undefined ? undefined : config.bfdProfiles.get(peerConfig.bfdProfile)
        peer = new BgpPeer({
          name: `${this.name}->${name}`,
          session: {
            localAsn: peerConfig.myAsn,
            peerAsn: peerConfig.peerAsn,
            localBgpIdentifier: 0xc0000200 + this.index(),
            holdTimeSeconds: peerConfig.holdTimeSeconds,
            keepaliveTimeSeconds: peerConfig.keepaliveTimeSeconds,
            connectRetryTimeSeconds: 2,
            families: ["ipv4", "ipv6"],
            gracefulRestart: { enabled: false, restartTimeSeconds: 120, restarting: false, forwardingPreserved: false },
            passive: false,
            backoff: { initialDelayMs: 500, maxDelayMs: 5_000 },
          },
          transport: { connect: (connected, failed) => router.connect(this.name, connected, failed) },
          // Simulated hosts have names, not addresses: the node's own addresses are the next hops.
          nextHops: {
            ipv4: { family: "ipv4", value: 0xc0000200n + BigInt(10 + this.index()) },
            ipv6: [{ family: "ipv6", value: 0x20010db8000000000000000000000000n + BigInt(10 + this.index()) }],
          },
          timers: this.ctx.timers,
          events: {
            onStateChanged: (from, to) => { if (to === "Established" || from === "Established") this.ctx.trace(this.name, `bgp ${name}: ${from} -> ${to}`) },
          },
        })
        this.bgpPeers.set(name, peer)
        peer.start()
        if (bfdProfile !== undefined) {
          const bgp = peer
          const driver = new BfdDriver({
            profile: bfdProfile,
            localDiscriminator: 1000 + this.index(),
            link: {
              send: (bytes) => router.bfdToRouter(this.name, bytes),
              onReceive: (listener) => { this.bfdListeners.set(name, listener) },
            },
            timers: this.ctx.timers,
            random: () => this.ctx.random.float(),
            events: { onStateChanged: (from, to, diagnostic, remoteState) => {
              this.ctx.trace(this.name, `bfd ${name}: ${from} -> ${to} (diagnostic ${diagnostic})`)
              if (isPathFailure(from, to, remoteState)) bgp.bfdDown()
            } },
          })
          this.bfd.set(name, driver)
          driver.start()
        }
      }
      peer.setRoutes(routes.get(name) ?? [])
    }
  }

  private readonly bfdListeners = new Map<string, (bytes: Uint8Array, ttl: number | undefined) => void>()

  /** A BFD packet from the router for the session with peer `peer`. */
  receiveBfd(peer: string, bytes: Uint8Array): void {
    if (!this.running) return
    this.bfdListeners.get(peer)?.(bytes, 255)
  }

  private index(): number {
    return Math.max(0, this.peersOf().indexOf(this.name)) + 1
  }
}
