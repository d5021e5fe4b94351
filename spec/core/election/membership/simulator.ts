// A deterministic network for membership tests: a virtual clock, a seeded generator for message loss,
// delay and the random values Ticks carry, and N nodes each driven by the pure step function. Every
// datagram goes through encodeMessage/decodeMessage, so the codec is exercised on real traffic. Nodes can
// crash (silent from then on), be cut off (all datagrams to and from them dropped) or leave gracefully.
import { Result } from "effect"
import { decodeMessage, encodeMessage } from "../../../../core/election/membership/codec.ts"
import type { MembershipConfig } from "../../../../core/election/membership/config.ts"
import type { Message } from "../../../../core/election/membership/messages.ts"
import {
  initialMembership,
  type MembershipInput,
  type MembershipOutput,
  type MembershipState,
  step,
} from "../../../../core/election/membership/node.ts"

export interface SimOptions {
  readonly size: number
  readonly seed: number
  readonly lossRate: number
  readonly minDelayMs: number
  readonly maxDelayMs: number
  readonly config?: MembershipConfig
}

export interface LoggedEvent {
  readonly atMs: number
  readonly node: string
  readonly event: Exclude<MembershipOutput, { _tag: "Send" | "StartTimer" | "StopTimer" }>
}

export interface SentRecord {
  readonly atMs: number
  readonly from: string
  readonly tag: Message["_tag"]
  /** Sent on the node's own initiative rather than in answer to a message. */
  readonly initiated: boolean
}

interface SimNode {
  state: MembershipState
  up: boolean
  timerToken: number
}

type Action = { readonly atMs: number; readonly order: number; readonly run: () => void }

const mulberry = (seed: number) => {
  let s = seed >>> 0
  return (): number => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000
  }
}

export const nodeName = (i: number): string => `node-${i}`
export const addressOf = (name: string): string => `${name}:7946`
const nameOf = (address: string): string => address.slice(0, address.lastIndexOf(":"))

export class Sim {
  nowMs = 0
  readonly names: ReadonlyArray<string>
  readonly nodes = new Map<string, SimNode>()
  readonly events: Array<LoggedEvent> = []
  readonly sent: Array<SentRecord> = []
  readonly cutOff = new Set<string>()
  /** A network partition: node -> its side; datagrams between sides are dropped. Empty: none. */
  readonly sides = new Map<string, number>()
  private readonly queue: Array<Action> = []
  private order = 0
  private readonly random: () => number
  private readonly options: SimOptions

  constructor(options: SimOptions) {
    this.options = options
    this.random = mulberry(options.seed)
    this.names = Array.from({ length: options.size }, (_, i) => nodeName(i))
    for (const name of this.names) {
      const state = Result.getOrThrow(initialMembership({ name, address: addressOf(name) }, options.config))
      this.nodes.set(name, { state, up: true, timerToken: 0 })
    }
  }

  state(name: string): MembershipState {
    return this.nodes.get(name)!.state
  }

  at(atMs: number, run: () => void): void {
    this.push({ atMs, order: this.order++, run })
  }

  /** Node 0 starts alone; the others join through it at random moments within `spreadMs`. */
  bootstrap(spreadMs: number): void {
    this.names.forEach((name, i) => {
      const atMs = i === 0 ? 0 : 1 + Math.floor(this.random() * spreadMs)
      this.at(atMs, () => this.input(name, { _tag: "Join", nowMs: this.nowMs, seeds: i === 0 ? [] : [addressOf(this.names[0]!)] }))
    })
  }

  /** Splits the network into the given groups (datagrams between groups are lost) until heal(). */
  split(groups: ReadonlyArray<ReadonlyArray<string>>): void {
    this.sides.clear()
    groups.forEach((group, side) => group.forEach((name) => this.sides.set(name, side)))
  }

  heal(): void {
    this.sides.clear()
  }

  crash(name: string): void {
    this.nodes.get(name)!.up = false
  }

  leave(name: string): void {
    this.input(name, { _tag: "Leave", nowMs: this.nowMs })
  }

  /** Runs until `untilMs`, or until `done` holds (checked after every action); returns whether it held. */
  run(untilMs: number, done: () => boolean = () => false): boolean {
    while (this.queue.length > 0 && this.queue[0]!.atMs <= untilMs) {
      const action = this.pop()
      this.nowMs = action.atMs
      action.run()
      if (done()) return true
    }
    this.nowMs = untilMs
    return done()
  }

  input(name: string, input: MembershipInput, reply = false): void {
    const node = this.nodes.get(name)!
    if (!node.up) return
    const { state, outputs } = step(node.state, input)
    node.state = state
    for (const out of outputs) this.handle(name, node, out, reply)
  }

  /** Every running node sees every other running node as a member (alive, or suspect and not yet refuted). */
  converged(): boolean {
    const running = this.names.filter((n) => this.nodes.get(n)!.up && this.state(n).phase === "running")
    const live = (n: string, m: string) => ["alive", "suspect"].includes(this.state(n).members.get(m)?.status ?? "")
    return running.every((n) => running.every((m) => m === n || live(n, m)))
  }

  private handle(name: string, node: SimNode, out: MembershipOutput, reply: boolean): void {
    switch (out._tag) {
      case "Send": {
        this.sent.push({ atMs: this.nowMs, from: name, tag: out.message._tag, initiated: !reply })
        if (this.cutOff.has(name) || this.random() < this.options.lossRate) return
        if (this.sides.size > 0 && this.sides.get(name) !== this.sides.get(nameOf(out.to))) return
        const bytes = encodeMessage(out.message)
        const delay = this.options.minDelayMs + this.random() * (this.options.maxDelayMs - this.options.minDelayMs)
        const from = addressOf(name)
        const to = nameOf(out.to)
        this.at(this.nowMs + delay, () => {
          if (this.cutOff.has(to) || !this.nodes.has(to)) return
          const decoded = decodeMessage(bytes)
          if (Result.isFailure(decoded)) throw new Error(`undecodable datagram from ${name}: ${decoded.failure.message}`)
          this.input(to, { _tag: "Received", nowMs: this.nowMs, from, message: decoded.success }, true)
        })
        return
      }
      case "StartTimer": {
        const token = ++node.timerToken
        this.at(this.nowMs + out.delayMs, () => {
          if (node.timerToken !== token) return
          this.input(name, { _tag: "Tick", nowMs: this.nowMs, random: Math.floor(this.random() * 0x1_0000_0000) })
        })
        return
      }
      case "StopTimer":
        node.timerToken++
        return
      default:
        this.events.push({ atMs: this.nowMs, node: name, event: out })
    }
  }

  private push(a: Action): void {
    const q = this.queue
    q.push(a)
    let i = q.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(q[i]!, q[p]!)) break
      ;[q[i], q[p]] = [q[p]!, q[i]!]
      i = p
    }
  }

  private pop(): Action {
    const q = this.queue
    const top = q[0]!
    const last = q.pop()!
    if (q.length > 0) {
      q[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < q.length && before(q[l]!, q[m]!)) m = l
        if (r < q.length && before(q[r]!, q[m]!)) m = r
        if (m === i) break
        ;[q[i], q[m]] = [q[m]!, q[i]!]
        i = m
      }
    }
    return top
  }
}

const before = (a: Action, b: Action): boolean => a.atMs < b.atMs || (a.atMs === b.atMs && a.order < b.order)
