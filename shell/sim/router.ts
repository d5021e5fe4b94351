// The simulated upstream router: one passive BGP session per node, run by our own core/bgp, with a RIB
// built from the UPDATEs it receives (the invariant checker compares it with what the speakers should
// be advertising), and one BFD session per node that takes the BGP session down when it fails.
import type { Update } from "../../core/bgp/messages.ts"
import { formatPrefix, type Prefix } from "../../core/net/prefix.ts"
import type { BfdProfile } from "../../core/config/config.ts"
import { BfdDriver } from "../speaker/bfd-driver.ts"
import { BgpPeer, type Connection } from "../speaker/bgp-peer.ts"
import type { SimContext } from "./context.ts"
import { connectionPair } from "./tcp.ts"
import { isPathFailure } from "../../core/bfd/session.ts"

export interface RouterOptions {
  readonly name: string
  readonly asn: number
  /** The speakers' ASN (MetalLB's myASN). */
  readonly nodeAsn: number
  readonly holdTimeSeconds: number
  readonly bfd?: BfdProfile
  readonly latencyMs: number
}

interface NodeSession {
  readonly index: number
  bgp: BgpPeer
  bfd?: BfdDriver
  readonly bfdListeners: Array<(bytes: Uint8Array, ttl: number | undefined) => void>
  readonly routes: Map<string, Prefix>
}

export class SimRouter {
  readonly name: string
  up = true
  private readonly sessions = new Map<string, NodeSession>()
  private readonly ctx: SimContext
  private readonly options: RouterOptions
  /** How the router reaches a node's BFD session (set by the world). */
  bfdToNode: (node: string, bytes: Uint8Array) => void = () => undefined

  constructor(ctx: SimContext, options: RouterOptions) {
    this.ctx = ctx
    this.options = options
    this.name = options.name
  }

  private generation = 0

  addNode(node: string, index: number): void {
    const routes = new Map<string, Prefix>()
    const listeners: Array<(bytes: Uint8Array, ttl: number | undefined) => void> = []
    const session: NodeSession = { index, bgp: this.makeBgp(node, index, routes), bfdListeners: listeners, routes }
    const bfd = this.makeBfd(node, session)
    if (bfd !== undefined) session.bfd = bfd
    this.sessions.set(node, session)
    session.bgp.start()
    session.bfd?.start()
  }

  private makeBgp(node: string, index: number, routes: Map<string, Prefix>): BgpPeer {
    const apply = (update: Update) => {
      for (const p of [...update.withdrawn, ...(update.attributes.mpUnreach?.withdrawn ?? [])]) routes.delete(formatPrefix(p))
      for (const p of [...update.nlri, ...(update.attributes.mpReach?.nlri ?? [])]) routes.set(formatPrefix(p), p)
    }
    return new BgpPeer({
      name: `${this.name}->${node}`,
      session: {
        localAsn: this.options.asn,
        peerAsn: this.options.nodeAsn,
        localBgpIdentifier: 0xc6336401 + index,
        holdTimeSeconds: this.options.holdTimeSeconds,
        keepaliveTimeSeconds: 0,
        connectRetryTimeSeconds: 5,
        families: ["ipv4", "ipv6"],
        gracefulRestart: { enabled: false, restartTimeSeconds: 120, restarting: false, forwardingPreserved: false },
        passive: true,
        backoff: { initialDelayMs: 100, maxDelayMs: 1_000 },
      },
      transport: { connect: (_connected, failed) => void this.ctx.scheduler.after(0, () => failed("passive")) },
      timers: this.ctx.timers,
      events: {
        onUpdateReceived: apply,
        onSessionDown: () => routes.clear(),
        onStateChanged: (from, to) => { if (to === "Established" || from === "Established") this.ctx.trace(this.name, `bgp ${node}: ${from} -> ${to}`) },
      },
    })
  }

  /** A fresh BFD session (a new discriminator each time, as a restarted process picks). */
  private makeBfd(node: string, session: NodeSession): BfdDriver | undefined {
    const profile = this.options.bfd
    if (profile === undefined) return undefined
    this.generation += 1
    session.bfdListeners.length = 0
    const listeners = session.bfdListeners
    return new BfdDriver({
      profile,
      localDiscriminator: 2000 + session.index + 100 * this.generation,
      link: { send: (bytes) => this.bfdToNode(node, bytes), onReceive: (f) => listeners.push(f) },
      timers: this.ctx.timers,
      random: () => this.ctx.random.float(),
      events: { onStateChanged: (from, to, diagnostic, remoteState) => {
        this.ctx.trace(this.name, `bfd ${node}: ${from} -> ${to} (diagnostic ${diagnostic})`)
        // A path failure takes BGP down; an AdminDown, ours or the node's, does not (RFC 5882 §3.2).
        if (isPathFailure(from, to, remoteState)) session.bgp.bfdDown()
      } },
    })
  }

  /** A node dials the router's BGP port. */
  connect(node: string, connected: (connection: Connection) => void, failed: (reason: string) => void): void {
    const session = this.sessions.get(node)
    if (session === undefined || !this.up || !this.ctx.network.reachable(node, this.name)) {
      // Unreachable: the dial times out; a down router refuses at once.
      this.ctx.scheduler.after(this.up ? 1_000 : this.options.latencyMs * 2, () => failed(this.up ? "connect timeout" : "connection refused"))
      return
    }
    const [nodeEnd, routerEnd] = connectionPair(this.ctx, node, this.name, { latencyMs: this.options.latencyMs })
    this.ctx.scheduler.after(this.options.latencyMs * 2, () => {
      if (!this.up) return failed("connection refused")
      session.bgp.accept(routerEnd)
      connected(nodeEnd)
    })
  }

  receiveBfd(node: string, bytes: Uint8Array): void {
    if (!this.up) return
    for (const f of this.sessions.get(node)?.bfdListeners ?? []) f(bytes, 255)
  }

  /** Routes per prefix: the nodes advertising it (the ECMP set). */
  rib(): ReadonlyMap<string, ReadonlyArray<string>> {
    const rib = new Map<string, Array<string>>()
    for (const [node, s] of [...this.sessions.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      for (const prefix of s.routes.keys()) rib.set(prefix, [...(rib.get(prefix) ?? []), node])
    }
    return rib
  }

  established(node: string): boolean {
    return this.sessions.get(node)?.bgp.state === "Established"
  }

  restart(downMs: number): void {
    this.ctx.trace(this.name, "router restarting")
    this.up = false
    this.ctx.network.setDown(this.name, true)
    for (const s of this.sessions.values()) {
      s.bgp.stop()
      s.bfd?.stop()
      s.routes.clear()
    }
    this.ctx.scheduler.after(downMs, () => {
      this.up = true
      this.ctx.network.setDown(this.name, false)
      this.ctx.trace(this.name, "router up")
      // A restarted router process starts with fresh sessions.
      for (const [node, s] of this.sessions) {
        s.bgp = this.makeBgp(node, s.index, s.routes)
        const bfd = this.makeBfd(node, s)
        if (bfd === undefined) delete s.bfd
        else s.bfd = bfd
        s.bgp.start()
        s.bfd?.start()
      }
    })
  }

  /** BFD on the router side stops answering one node for a while (a flap). */
  flapBfd(node: string, downMs: number): void {
    const s = this.sessions.get(node)
    if (s?.bfd === undefined) return
    this.ctx.trace(this.name, `bfd ${node}: flap (the router's BFD goes silent)`)
    s.bfd.halt()
    this.ctx.scheduler.after(downMs, () => {
      const bfd = this.makeBfd(node, s)
      if (bfd === undefined) return
      s.bfd = bfd
      bfd.start()
    })
  }
}
