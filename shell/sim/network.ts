// The simulated network: datagrams and frames between named hosts, delivered through the scheduler
// after a latency, and lost, delayed or cut off as the scenario's faults say. One broadcast segment
// joins the nodes and clients (Layer 2); the router sits on the same segment for BGP and BFD.
import type { Random } from "./random.ts"
import type { Scheduler } from "./scheduler.ts"

export type Task = () => void

export interface NetworkOptions {
  readonly latencyMs: number
  readonly jitterMs: number
}

export class Network {
  private readonly scheduler: Scheduler<Task>
  private readonly random: Random
  private readonly options: NetworkOptions
  private readonly down = new Set<string>()
  private readonly cuts = new Set<string>()
  private lossRate = 0
  private readonly epochs = new Map<string, number>()
  delivered = 0
  dropped = 0
  /** Frame copies not sent because the receiving host would drop them unread. */
  skipped = 0

  constructor(scheduler: Scheduler<Task>, random: Random, options: NetworkOptions) {
    this.scheduler = scheduler
    this.random = random
    this.options = options
  }

  private static pair(a: string, b: string) {
    return a < b ? `${a}|${b}` : `${b}|${a}`
  }

  isDown(host: string): boolean {
    return this.down.has(host)
  }

  setDown(host: string, isDown: boolean): void {
    if (isDown) this.down.add(host)
    else if (this.down.delete(host)) this.epochs.set(host, this.epoch(host) + 1)
  }

  /** Increases each time the host comes back up: state from before (TCP connections) is gone. */
  epoch(host: string): number {
    return this.epochs.get(host) ?? 0
  }

  cut(a: string, b: string): void {
    this.cuts.add(Network.pair(a, b))
  }

  heal(a: string, b: string): void {
    this.cuts.delete(Network.pair(a, b))
  }

  healAll(): void {
    this.cuts.clear()
  }

  setLoss(rate: number): void {
    this.lossRate = Math.max(0, Math.min(1, rate))
  }

  reachable(from: string, to: string): boolean {
    // Most runs have nothing down or cut: no pair key is built for every datagram then.
    if (this.down.size > 0 && (this.down.has(from) || this.down.has(to))) return false
    return this.cuts.size === 0 || !this.cuts.has(Network.pair(from, to))
  }

  /**
   * The fate of one datagram from `from` to `to`: its delay, or undefined when the path is cut, a host
   * is down or the packet is lost. Draws the loss and the jitter from the network's stream.
   */
  private route(from: string, to: string): number | undefined {
    if (!this.reachable(from, to) || (this.lossRate > 0 && this.random.chance(this.lossRate))) {
      this.dropped += 1
      return undefined
    }
    return this.options.latencyMs + (this.options.jitterMs > 0 ? this.random.float() * this.options.jitterMs : 0)
  }

  /** Delivers `receive` at `to` after the link latency, unless the path is cut, a host is down or the packet is lost. */
  send(from: string, to: string, receive: Task): void {
    const delayMs = this.route(from, to)
    if (delayMs === undefined) return
    this.scheduler.after(delayMs, () => {
      // Checked again on arrival: a host that died in flight receives nothing.
      if (this.down.has(to)) {
        this.dropped += 1
        return
      }
      this.delivered += 1
      receive()
    })
  }

  /**
   * Puts a frame on the segment: every host but the sender gets its copy, but only the hosts for which
   * `cares(host)` holds are sent it; the others would drop it unread (a speaker's responder ignores a
   * gratuitous ARP, a client ignores a request), so their copies cost no event. Each copy's fate is
   * drawn all the same, so that what a host filters never shifts the delays and losses of the others.
   */
  broadcast(from: string, hosts: ReadonlyArray<string>, cares: (host: string) => boolean, receive: (host: string) => void): void {
    for (const host of hosts) {
      if (host === from) continue
      if (cares(host)) this.send(from, host, () => receive(host))
      else if (this.route(from, host) !== undefined) this.skipped += 1
    }
  }
}
