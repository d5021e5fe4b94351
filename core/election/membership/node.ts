// One speaker's membership protocol as a pure transition: SWIM failure detection and infection-style
// dissemination (Das, Gupta, Motivala, DSN 2002) with memberlist's basics (no Lifeguard): ping, ping-req
// through k helpers, suspicion with a timeout, refutation by incarnation, piggybacked gossip, a full-table
// exchange to join, and a graceful leave that others act on at once. Time arrives with every input (nowMs);
// randomness arrives with each Tick as a 32-bit value (random.ts). The shell keeps one timer: a StartTimer
// output replaces the pending one and, when it fires, the shell feeds a Tick with the current time and a
// fresh random value. Addresses are opaque to this module; Send.to is the address to deliver to. Each node
// also carries metadata about itself (metadata.ts: its down Layer 2 interfaces), set by the shell and
// spread with its Alive; downInterfacesOf gives every live member's, for the election.
import { Data, Result } from "effect"
import { type BroadcastQueue, emptyQueue } from "./broadcasts.ts"
import { type MembershipConfig, defaultMembershipConfig } from "./config.ts"
import { maxStringBytes } from "./codec.ts"
import type { Member } from "./members.ts"
import type { Message } from "./messages.ts"
import { type Draft, finish, open } from "./draft.ts"
import { join, leave, receive, setDownInterfaces } from "./receive.ts"
import { tick } from "./tick.ts"

export interface Probe {
  readonly seq: number
  readonly target: string
  readonly address: string
  /** The target's incarnation when probed: a failed probe suspects that incarnation, not a refuted later one. */
  readonly incarnation: number
  /** When the direct Ack is overdue and helpers are asked. */
  readonly indirectAtMs: number
  readonly indirectSent: boolean
  readonly acked: boolean
}

/** A ping sent for another node's PingReq, whose Ack is forwarded under the requester's sequence number. */
export interface Relay {
  readonly requesterName: string
  readonly requesterAddress: string
  readonly requesterSeq: number
  readonly expiresAtMs: number
}

export interface MembershipState {
  readonly config: MembershipConfig
  readonly name: string
  readonly address: string
  readonly incarnation: number
  /** This node's metadata: its down Layer 2 interfaces, canonical (metadata.ts). */
  readonly downInterfaces: ReadonlyArray<string>
  readonly phase: "idle" | "running" | "left"
  /** Seed addresses from the last Join, retried every probe period while no member is known. */
  readonly seeds: ReadonlyArray<string>
  /** Every member but this node, tombstones included. */
  readonly members: ReadonlyMap<string, Member>
  readonly probeOrder: ReadonlyArray<string>
  readonly probeIndex: number
  readonly seq: number
  readonly probe?: Probe
  readonly relays: ReadonlyMap<number, Relay>
  readonly broadcasts: BroadcastQueue
  readonly nextProbeAtMs: number
  readonly nextGossipAtMs: number
  readonly nextPushPullAtMs: number
  readonly nextReconnectAtMs: number
  /** The wake-up last requested from the shell; unset once it fired. */
  readonly timerAtMs?: number
}

export type MembershipInput =
  /** Starts (or re-announces) membership through the given seed addresses; none for the first node. */
  | { readonly _tag: "Join"; readonly nowMs: number; readonly seeds: ReadonlyArray<string> }
  /** The timer fired; `random` is a fresh uniformly random 32-bit value. */
  | { readonly _tag: "Tick"; readonly nowMs: number; readonly random: number }
  /** A decoded datagram from address `from`. */
  | { readonly _tag: "Received"; readonly nowMs: number; readonly from: string; readonly message: Message }
  /** Graceful shutdown: tell everyone now, then stay silent. */
  | { readonly _tag: "Leave"; readonly nowMs: number }
  /** This node's Layer 2 interfaces that are down now (any order; made canonical, see metadata.ts). */
  | { readonly _tag: "SetDownInterfaces"; readonly nowMs: number; readonly names: ReadonlyArray<string> }

export const membershipTimer = "membership"

export type MembershipOutput =
  | { readonly _tag: "Send"; readonly to: string; readonly message: Message }
  | { readonly _tag: "MemberAlive"; readonly name: string }
  | { readonly _tag: "MemberSuspect"; readonly name: string }
  | { readonly _tag: "MemberDead"; readonly name: string }
  | { readonly _tag: "MemberLeft"; readonly name: string }
  | { readonly _tag: "StartTimer"; readonly name: typeof membershipTimer; readonly delayMs: number }
  | { readonly _tag: "StopTimer"; readonly name: typeof membershipTimer }

export interface Transition {
  readonly state: MembershipState
  readonly outputs: ReadonlyArray<MembershipOutput>
}

export class InvalidMembershipSetup extends Data.TaggedError("InvalidMembershipSetup")<{
  readonly field: string
  readonly reason: string
}> {
  override get message(): string {
    return `membership: ${this.field} ${this.reason}`
  }
}

const utf8Length = (s: string): number => new TextEncoder().encode(s).length

export const initialMembership = (
  identity: { readonly name: string; readonly address: string; readonly incarnation?: number },
  config: MembershipConfig = defaultMembershipConfig,
): Result.Result<MembershipState, InvalidMembershipSetup> => {
  const problem = (field: string, reason: string) => Result.fail(new InvalidMembershipSetup({ field, reason }))
  if (identity.name.length === 0 || utf8Length(identity.name) > maxStringBytes) return problem("name", "must be 1-255 UTF-8 octets")
  if (utf8Length(identity.address) > maxStringBytes) return problem("address", "must be at most 255 UTF-8 octets")
  if (!(config.probeTimeoutMs > 0 && config.probeTimeoutMs < config.probeIntervalMs)) {
    return problem("probeTimeoutMs", "must be positive and shorter than probeIntervalMs")
  }
  if (!(config.gossipIntervalMs > 0 && config.pushPullIntervalMs > 0 && config.reconnectIntervalMs > 0)) return problem("intervals", "must be positive")
  return Result.succeed({
    config,
    name: identity.name,
    address: identity.address,
    incarnation: identity.incarnation ?? 0,
    downInterfaces: [],
    phase: "idle",
    seeds: [],
    members: new Map(),
    probeOrder: [],
    probeIndex: 0,
    seq: 0,
    relays: new Map(),
    broadcasts: emptyQueue,
    nextProbeAtMs: 0,
    nextGossipAtMs: 0,
    nextPushPullAtMs: 0,
    nextReconnectAtMs: 0,
  })
}

export const step = (state: MembershipState, input: MembershipInput): Transition => {
  const d: Draft = open(state)
  switch (input._tag) {
    case "Join":
      join(d, input.nowMs, input.seeds)
      break
    case "Tick":
      tick(d, input.nowMs, input.random)
      break
    case "Received":
      receive(d, input.nowMs, input.from, input.message)
      break
    case "Leave":
      leave(d)
      break
    case "SetDownInterfaces":
      setDownInterfaces(d, input.names)
      break
  }
  return finish(d, input.nowMs)
}

/** The nodes an election may use: this node (while running) and every alive or suspect member. */
export const liveMembers = (state: MembershipState): ReadonlySet<string> => {
  const names = new Set<string>()
  if (state.phase === "running") names.add(state.name)
  for (const m of state.members.values()) if (m.status === "alive" || m.status === "suspect") names.add(m.name)
  return names
}

/** The metadata of the nodes liveMembers names: their down Layer 2 interfaces, only those with any. */
export const downInterfacesOf = (state: MembershipState): ReadonlyMap<string, ReadonlyArray<string>> => {
  const down = new Map<string, ReadonlyArray<string>>()
  if (state.phase === "running" && state.downInterfaces.length > 0) down.set(state.name, state.downInterfaces)
  for (const m of state.members.values()) {
    if ((m.status === "alive" || m.status === "suspect") && m.downInterfaces !== undefined) down.set(m.name, m.downInterfaces)
  }
  return down
}
