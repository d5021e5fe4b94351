// Speaker node machines over the membership simulator (spec/core/election/membership/simulator.ts): the
// production node machine and SWIM core, wired as the membership driver wires them (every change of the
// live members or their down interfaces, and every full table received, becomes MembersChanged; the
// machine's Join/Leave/SetDownInterfaces go back to the membership), with links that can be cut and
// processes that can be killed and started again. Deterministic per seed; it records every Claim, so a
// test can check who ever answered for an address, not only who answers at the end.
import { Result } from "effect"
import { initialMembership, downInterfacesOf, liveMembers, type MembershipInput } from "../../../../core/election/membership/node.ts"
import { formatAddress } from "../../../../core/net/address.ts"
import { type NodeInput, type NodeOutput, step as stepNode, type TimerName } from "../../../../core/speaker/node.ts"
import type { ClusterSnapshot } from "../../../../core/speaker/view.ts"
import { addressOf, Sim } from "../../election/membership/simulator.ts"
import { apply, eth0, type Run, sources, start } from "./fixtures.ts"

export interface ClaimRecord {
  readonly atMs: number
  readonly node: string
  readonly ip: string
}

type Untimed = NodeInput extends infer I ? (I extends { readonly nowMs: number } ? Omit<I, "nowMs"> : never) : never

interface Speaker {
  run: Run
  /** Counts starts, so that a timer of a killed process does not reach the next one. */
  generation: number
  reported: string
  syncedAtMs: number | undefined
  /** The pending timer per name: a StartTimer replaces it, as the node driver's does. */
  timers: Map<TimerName, number>
  pending: Array<Untimed>
  feeding: boolean
}

export class Speakers extends Sim {
  readonly claims: Array<ClaimRecord> = []
  private readonly speakers = new Map<string, Speaker>()
  private readonly documents: ReadonlyArray<{ readonly value: unknown }>
  private readonly snapshot: ClusterSnapshot

  constructor(options: { readonly size: number; readonly seed: number; readonly documents: ReadonlyArray<{ readonly value: unknown }>; readonly snapshot: ClusterSnapshot }) {
    super({ size: options.size, seed: options.seed, lossRate: 0, minDelayMs: 0.1, maxDelayMs: 0.5 })
    this.documents = options.documents
    this.snapshot = options.snapshot
  }

  /** The speaker process starts (again): a fresh membership and node machine, joining through every other node. */
  startSpeaker(name: string): void {
    const node = this.nodes.get(name)!
    node.state = Result.getOrThrow(initialMembership({ name, address: addressOf(name) }))
    node.up = true
    node.timerToken += 1
    const previous = this.speakers.get(name)
    const seeds = this.names.filter((n) => n !== name).map(addressOf)
    this.speakers.set(name, {
      run: start({ nodeName: name, membership: true, seeds }),
      generation: (previous?.generation ?? 0) + 1,
      reported: "",
      syncedAtMs: undefined,
      timers: new Map(),
      pending: [],
      feeding: false,
    })
    this.input(name, { _tag: "Join", nowMs: this.nowMs, seeds })
    this.feed(name, { _tag: "InterfacesScanned", interfaces: [eth0] })
    this.feed(name, { _tag: "ConfigChanged", sources: sources(this.documents) })
    this.feed(name, { _tag: "ClusterChanged", snapshot: this.snapshot })
    this.feed(name, { _tag: "Started" })
  }

  /** SIGKILL: the process and what it announced are gone at once (no Leave). */
  killSpeaker(name: string): void {
    this.crash(name)
    const speaker = this.speakers.get(name)!
    speaker.generation += 1
    speaker.pending.length = 0
    speaker.run.answered.clear()
  }

  /** The node's only link: cut, every datagram to or from it is lost; the speaker sees it at its next poll. */
  setLink(name: string, up: boolean, pollAfterMs: number): void {
    if (up) this.cutOff.delete(name)
    else this.cutOff.add(name)
    const generation = this.speakers.get(name)!.generation
    this.at(this.nowMs + pollAfterMs, () => {
      if (this.speakers.get(name)!.generation === generation) this.feed(name, { _tag: "LinksPolled", up: up ? new Set(["eth0"]) : new Set() })
    })
  }

  /** The node machine's state (phase, members, owned addresses); undefined before its first start. */
  machine(name: string): Run["state"] | undefined {
    return this.speakers.get(name)?.run.state
  }

  /** Addresses a speaker answers for now. */
  answering(name: string): ReadonlyArray<string> {
    return [...(this.speakers.get(name)?.run.answered.values() ?? [])].map((a) => a.ip).sort()
  }

  // As the membership driver (shell/speaker/membership.ts): a full table counts as synced whatever the
  // phase, and the machine hears of every change of the live members or their down interfaces.
  override input(name: string, input: MembershipInput, reply = false): void {
    const speaker = this.speakers.get(name)
    const node = this.nodes.get(name)!
    if (speaker === undefined || !node.up) return super.input(name, input, reply)
    const synced = input._tag === "Received" && input.message._tag === "Sync"
    if (synced) speaker.syncedAtMs = this.nowMs
    super.input(name, input, reply)
    const live = liveMembers(node.state)
    const down = downInterfacesOf(node.state)
    const text = JSON.stringify([[...live].sort(), [...down].sort()])
    if (text === speaker.reported && !synced) return
    speaker.reported = text
    this.feed(name, { _tag: "MembersChanged", live, down, lost: [], ...(speaker.syncedAtMs === undefined ? {} : { syncedAtMs: speaker.syncedAtMs }) })
  }

  /** One queue per machine, as the node driver's: an input offered while outputs run waits its turn. */
  private feed(name: string, input: Untimed): void {
    const speaker = this.speakers.get(name)!
    speaker.pending.push(input)
    if (speaker.feeding) return
    speaker.feeding = true
    try {
      for (let next = speaker.pending.shift(); next !== undefined; next = speaker.pending.shift()) {
        const t = stepNode(speaker.run.state, { ...next, nowMs: this.nowMs } as NodeInput)
        speaker.run.state = t.state
        apply(speaker.run.answered, t.outputs)
        for (const output of t.outputs) this.execute(name, speaker, output)
      }
    } finally {
      speaker.feeding = false
    }
  }

  private execute(name: string, speaker: Speaker, output: NodeOutput): void {
    switch (output._tag) {
      case "Claim":
        this.claims.push({ atMs: this.nowMs, node: name, ip: formatAddress(output.address) })
        return
      case "JoinMembership":
        return this.input(name, { _tag: "Join", nowMs: this.nowMs, seeds: output.seeds })
      case "LeaveMembership":
        return this.input(name, { _tag: "Leave", nowMs: this.nowMs })
      case "SetDownInterfaces":
        return this.input(name, { _tag: "SetDownInterfaces", nowMs: this.nowMs, names: output.names })
      case "StartTimer": {
        const generation = speaker.generation
        const token = (speaker.timers.get(output.name) ?? 0) + 1
        speaker.timers.set(output.name, token)
        this.at(this.nowMs + output.delayMs, () => {
          const current = this.speakers.get(name)!
          if (current.generation === generation && current.timers.get(output.name) === token) this.feed(name, { _tag: "TimerFired", name: output.name })
        })
        return
      }
      default:
        return
    }
  }
}
