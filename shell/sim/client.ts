// A simulated client on the Layer 2 segment: a neighbour cache for IPv4 (ARP) and IPv6 (NDP) that
// behaves like Linux's (an answer to our request or solicitation creates an entry; a gratuitous ARP, or
// an unsolicited Neighbor Advertisement with the Override flag, updates an existing one; an entry that
// keeps failing is re-resolved after the neighbour-unreachability timeout), and steady traffic to every
// service address. Traffic succeeds when the cached MAC belongs to a live node (kube-proxy on any node
// accepts a load-balancer address). The gaps in success are the client-visible outages.
import { Result } from "effect"
import type { L2DecodeError } from "../../core/l2/errors.ts"
import { encodeFrame, type Frame } from "../../core/l2/frame.ts"
import { broadcastMac, type Mac, zeroMac } from "../../core/l2/mac.ts"
import { multicastMacOf, solicitedNodeAddress } from "../../core/l2/ipv6.ts"
import type { NdpFrame } from "../../core/l2/frame.ts"
import { type Address, formatAddress } from "../../core/net/address.ts"
import type { SimContext } from "./context.ts"

export interface ClientOptions {
  readonly name: string
  readonly mac: Mac
  readonly address: Address
  /** Its IPv6 address on the segment: IPv6 service addresses are resolved from it. */
  readonly address6: Address
  readonly probeIntervalMs: number
  /** Linux's delay_first_probe + ucast probes: how long a failing entry is trusted before re-resolving. */
  readonly reresolveAfterMs: number
}

interface Entry {
  mac: Mac
  failingSinceMs?: number
}

export interface Outage {
  readonly address: string
  readonly fromMs: number
  readonly toMs?: number
}

export class SimClient {
  readonly name: string
  readonly mac: Mac
  private readonly options: ClientOptions
  private readonly ctx: SimContext
  private readonly cache = new Map<string, Entry>()
  private readonly pending = new Map<string, number>()
  readonly outages: Array<Outage> = []
  private readonly open = new Map<string, number>()
  successes = 0
  failures = 0

  constructor(ctx: SimContext, options: ClientOptions) {
    this.ctx = ctx
    this.options = options
    this.name = options.name
    this.mac = options.mac
  }

  /** Set by the world: the segment transmit function and who owns which MAC. */
  transmit: (frame: Uint8Array) => void = () => undefined
  liveMac: (mac: Mac) => boolean = () => false
  targets: () => ReadonlyArray<Address> = () => []

  start(): void {
    const loop = () => {
      this.probe()
      this.ctx.scheduler.after(this.options.probeIntervalMs, loop)
    }
    this.ctx.scheduler.after(this.options.probeIntervalMs, loop)
  }

  macFor(address: string): Mac | undefined {
    return this.cache.get(address)?.mac
  }

  /** The targets' texts, made again only when the target list is a new array (a probe runs every 100 ms). */
  private keysOf: { readonly targets: ReadonlyArray<Address>; readonly keys: ReadonlyArray<string> } | undefined

  private probe(): void {
    const now = this.ctx.scheduler.nowMs
    const targets = this.targets()
    if (this.keysOf?.targets !== targets) this.keysOf = { targets, keys: targets.map(formatAddress) }
    const keys = this.keysOf.keys
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i]!
      const key = keys[i]!
      const entry = this.cache.get(key)
      const ok = entry !== undefined && this.liveMac(entry.mac)
      if (ok) {
        this.successes += 1
        delete entry.failingSinceMs
        const started = this.open.get(key)
        if (started !== undefined) {
          this.outages.push({ address: key, fromMs: started, toMs: now })
          this.ctx.trace(this.name, `reaches ${key} again after ${now - started} ms`)
          this.open.delete(key)
        }
        continue
      }
      this.failures += 1
      if (entry !== undefined && !this.open.has(key)) {
        this.open.set(key, now)
        this.ctx.trace(this.name, `cannot reach ${key} (cached ${entry.mac})`)
      }
      if (entry !== undefined && entry.failingSinceMs === undefined) entry.failingSinceMs = now
      const stale = entry === undefined || now - (entry.failingSinceMs ?? now) >= this.options.reresolveAfterMs
      const lastAsk = this.pending.get(key)
      if (stale && (lastAsk === undefined || now - lastAsk >= 1_000)) {
        this.pending.set(key, now)
        this.transmit(target.family === "ipv4" ? this.arpRequest(target) : this.neighborSolicitation(target))
      }
    }
  }

  private arpRequest(target: Address): Uint8Array {
    return encodeFrame({
      _tag: "ArpFrame",
      ethernet: { dst: broadcastMac, src: this.mac },
      arp: { operation: "request", senderMac: this.mac, senderIp: this.options.address, targetMac: zeroMac, targetIp: target },
    })
  }

  /** RFC 4861 §7.2.2: to the target's solicited-node group, with our link-layer address. */
  private neighborSolicitation(target: Address): Uint8Array {
    const group = solicitedNodeAddress(target)
    return encodeFrame({
      _tag: "NdpFrame",
      ethernet: { dst: multicastMacOf(group), src: this.mac },
      ip: { source: this.options.address6, destination: group, trafficClass: 0, flowLabel: 0 },
      ndp: { _tag: "NeighborSolicitation", target, options: [{ _tag: "SourceLinkLayerAddress", mac: this.mac }] },
    })
  }

  /** A frame from the segment, decoded (once for every receiver). */
  receiveFrame(decoded: Result.Result<Frame, L2DecodeError>): void {
    if (Result.isFailure(decoded)) return
    if (decoded.success._tag === "NdpFrame") {
      this.receiveNdp(decoded.success)
      return
    }
    const { ethernet, arp } = decoded.success
    if (ethernet.dst !== this.mac && ethernet.dst !== broadcastMac) return
    const key = formatAddress(arp.senderIp)
    const existing = this.cache.get(key)
    const answersUs = arp.operation === "reply" && ethernet.dst === this.mac && this.pending.has(key)
    const gratuitous = formatAddress(arp.senderIp) === formatAddress(arp.targetIp)
    if (answersUs || (gratuitous && existing !== undefined)) {
      if (existing?.mac !== arp.senderMac) this.ctx.trace(this.name, `${key} is-at ${arp.senderMac}${gratuitous ? " (gratuitous)" : ""}`)
      this.cache.set(key, { mac: arp.senderMac })
      this.pending.delete(key)
    }
  }

  /**
   * RFC 4861 §7.2.5: a solicited advertisement answering us creates the entry; an unsolicited one
   * with the Override flag updates an entry we have (Linux creates none from it).
   */
  private receiveNdp(frame: NdpFrame): void {
    const { ethernet, ndp } = frame
    if (ndp._tag !== "NeighborAdvertisement") return
    if (ethernet.dst !== this.mac && !ethernet.dst.startsWith("33:33:")) return
    const key = formatAddress(ndp.target)
    const option = ndp.options.find((o) => o._tag === "TargetLinkLayerAddress")
    const mac = option?._tag === "TargetLinkLayerAddress" ? option.mac : ethernet.src
    const existing = this.cache.get(key)
    const answersUs = ndp.solicited && ethernet.dst === this.mac && this.pending.has(key)
    if (answersUs || (!ndp.solicited && ndp.override && existing !== undefined)) {
      if (existing?.mac !== mac) this.ctx.trace(this.name, `${key} is-at ${mac}${ndp.solicited ? "" : " (unsolicited NA)"}`)
      this.cache.set(key, { mac })
      this.pending.delete(key)
    }
  }

  /** Outages still open at the end count up to `endMs`. */
  finish(endMs: number): void {
    for (const [address, fromMs] of this.open) this.outages.push({ address, fromMs, toMs: endMs })
    this.open.clear()
  }
}
