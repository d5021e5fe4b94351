// The working copy of a node's membership state during one step, and the two primitives every handler
// shares: learning an update (SWIM's merge, with refutation when the update is about this node) and
// sending a message with piggybacked gossip. A step opens a draft, mutates it locally and freezes it back;
// nothing outside the step ever sees it, so the transition stays pure. The member and relay tables are
// copied only when the step first changes them (setMember, setRelay, deleteRelay): most datagrams change
// neither, and copying a 100-member table per datagram was most of a large cluster's membership cost.
import { type BroadcastQueue, enqueue, take } from "./broadcasts.ts"
import { type MembershipConfig, retransmitLimit, suspicionTimeoutMs } from "./config.ts"
import { applyUpdate, isLive, type Member, supersedes, tableUpdatesOf, updateOf } from "./members.ts"
import type { Message, Update } from "./messages.ts"
import { type MembershipOutput, type MembershipState, membershipTimer, type Probe, type Relay, type Transition } from "./node.ts"

export interface Draft {
  readonly config: MembershipConfig
  readonly name: string
  readonly address: string
  incarnation: number
  downInterfaces: ReadonlyArray<string>
  phase: MembershipState["phase"]
  seeds: ReadonlyArray<string>
  /** The state's table until the step changes it (setMember), then the step's own copy. */
  members: ReadonlyMap<string, Member>
  membersOwned: boolean
  probeOrder: ReadonlyArray<string>
  probeIndex: number
  seq: number
  probe: Probe | undefined
  relays: ReadonlyMap<number, Relay>
  relaysOwned: boolean
  broadcasts: BroadcastQueue
  nextProbeAtMs: number
  nextGossipAtMs: number
  nextPushPullAtMs: number
  nextReconnectAtMs: number
  timerAtMs: number | undefined
  readonly outputs: Array<MembershipOutput>
}

export const open = (s: MembershipState): Draft => ({
  config: s.config,
  name: s.name,
  address: s.address,
  incarnation: s.incarnation,
  downInterfaces: s.downInterfaces,
  phase: s.phase,
  seeds: s.seeds,
  members: s.members,
  membersOwned: false,
  probeOrder: s.probeOrder,
  probeIndex: s.probeIndex,
  seq: s.seq,
  probe: s.probe,
  relays: s.relays,
  relaysOwned: false,
  broadcasts: s.broadcasts,
  nextProbeAtMs: s.nextProbeAtMs,
  nextGossipAtMs: s.nextGossipAtMs,
  nextPushPullAtMs: s.nextPushPullAtMs,
  nextReconnectAtMs: s.nextReconnectAtMs,
  timerAtMs: s.timerAtMs,
  outputs: [],
})

export const finish = (d: Draft, nowMs: number): Transition => {
  if (d.phase === "running") {
    const wakeAtMs = Math.max(nowMs, nextDeadline(d))
    if (wakeAtMs !== d.timerAtMs) {
      d.outputs.push({ _tag: "StartTimer", name: membershipTimer, delayMs: wakeAtMs - nowMs })
      d.timerAtMs = wakeAtMs
    }
  }
  // Built field by field (a rest/spread copy of the draft made every state a slow dictionary object).
  const state: { -readonly [K in keyof MembershipState]: MembershipState[K] } = {
    config: d.config,
    name: d.name,
    address: d.address,
    incarnation: d.incarnation,
    downInterfaces: d.downInterfaces,
    phase: d.phase,
    seeds: d.seeds,
    members: d.members,
    probeOrder: d.probeOrder,
    probeIndex: d.probeIndex,
    seq: d.seq,
    relays: d.relays,
    broadcasts: d.broadcasts,
    nextProbeAtMs: d.nextProbeAtMs,
    nextGossipAtMs: d.nextGossipAtMs,
    nextPushPullAtMs: d.nextPushPullAtMs,
    nextReconnectAtMs: d.nextReconnectAtMs,
  }
  if (d.probe !== undefined) state.probe = d.probe
  if (d.timerAtMs !== undefined) state.timerAtMs = d.timerAtMs
  return { state, outputs: d.outputs }
}

/** Records `m`, copying the state's table first if this step has not changed it yet. */
export const setMember = (d: Draft, m: Member): void => {
  if (!d.membersOwned) {
    d.members = new Map(d.members)
    d.membersOwned = true
  }
  ;(d.members as Map<string, Member>).set(m.name, m)
}

/** Starts the step's table over (a rejoin forgets the others). */
export const clearMembers = (d: Draft): void => {
  d.members = new Map()
  d.membersOwned = true
}

const ownRelays = (d: Draft): Map<number, Relay> => {
  if (!d.relaysOwned) {
    d.relays = new Map(d.relays)
    d.relaysOwned = true
  }
  return d.relays as Map<number, Relay>
}

export const setRelay = (d: Draft, seq: number, relay: Relay): void => {
  ownRelays(d).set(seq, relay)
}

export const deleteRelay = (d: Draft, seq: number): void => {
  if (d.relays.has(seq)) ownRelays(d).delete(seq)
}

export const clearRelays = (d: Draft): void => {
  if (d.relays.size === 0) return
  d.relays = new Map()
  d.relaysOwned = true
}

const nextDeadline = (d: Draft): number => {
  let at = Math.min(d.nextProbeAtMs, d.nextPushPullAtMs)
  if (d.probe !== undefined && !d.probe.acked && !d.probe.indirectSent) at = Math.min(at, d.probe.indirectAtMs)
  if (d.broadcasts.items.length > 0) at = Math.min(at, d.nextGossipAtMs)
  for (const m of d.members.values()) {
    if (m.suspicionDeadlineMs !== undefined) at = Math.min(at, m.suspicionDeadlineMs)
  }
  return at
}

/** Members other than this node that are alive or suspect. */
export const liveOthers = (d: Draft): Array<Member> => {
  const live: Array<Member> = []
  for (const m of d.members.values()) if (isLive(m)) live.push(m)
  return live
}

export const clusterSize = (d: Draft): number => {
  let n = 1
  for (const m of d.members.values()) if (isLive(m)) n += 1
  return n
}

export const nextSeq = (d: Draft): number => {
  d.seq = (d.seq + 1) >>> 0
  return d.seq
}

export const selfUpdate = (d: Draft): Update => ({
  _tag: "Alive",
  name: d.name,
  incarnation: d.incarnation,
  address: d.address,
  ...(d.downInterfaces.length === 0 ? {} : { downInterfaces: d.downInterfaces }),
})

/** This node's full table, itself first (a suspect member as tableUpdatesOf gives it). */
export const table = (d: Draft): Array<Update> => [selfUpdate(d), ...[...d.members.values()].flatMap(tableUpdatesOf)]

/** Merges one update; returns whether this node's view changed. */
export const learn = (d: Draft, update: Update, nowMs: number): boolean => {
  if (update.name === d.name) return refute(d, update)
  const current = d.members.get(update.name)
  if (!supersedes(current, update)) return false
  const next = applyUpdate(current, update, nowMs, suspicionTimeoutMs(d.config, clusterSize(d)))
  setMember(d, next)
  d.broadcasts = enqueue(d.broadcasts, update)
  const was = current?.status
  switch (next.status) {
    case "alive":
      if (was !== "alive") d.outputs.push({ _tag: "MemberAlive", name: next.name })
      break
    case "suspect":
      if (was !== "suspect") d.outputs.push({ _tag: "MemberSuspect", name: next.name })
      break
    case "dead":
      if (was === "alive" || was === "suspect") d.outputs.push({ _tag: "MemberDead", name: next.name })
      break
    case "left":
      if (was === "alive" || was === "suspect") d.outputs.push({ _tag: "MemberLeft", name: next.name })
      break
  }
  return true
}

/** SWIM §4.2: only the member itself can clear a suspicion, by announcing a higher incarnation. */
const refute = (d: Draft, update: Update): boolean => {
  const stale = update._tag === "Alive" ? update.incarnation <= d.incarnation : update.incarnation < d.incarnation
  if (stale || d.phase !== "running") return false
  d.incarnation = update.incarnation + 1
  d.broadcasts = enqueue(d.broadcasts, selfUpdate(d))
  return true
}

/**
 * Sends `make(gossip)` to `address`. When the receiver is one this node suspects or holds dead, the
 * statement about it goes first, so that a live node learns at once that it must refute; `first` puts
 * more ahead of the queue (our own Alive for a sender that still accuses us).
 */
export const send = (
  d: Draft,
  address: string,
  toName: string | undefined,
  make: (gossip: ReadonlyArray<Update>) => Message,
  first: ReadonlyArray<Update> = [],
): void => {
  const m = toName === undefined ? undefined : d.members.get(toName)
  const aboutReceiver = m !== undefined && (m.status === "suspect" || m.status === "dead")
  const ahead = aboutReceiver ? [...first, updateOf(m)] : first
  // The limit only matters for queued updates (counting the cluster walks the table).
  const limit = d.broadcasts.items.length === 0 ? 0 : retransmitLimit(d.config, clusterSize(d))
  const taken = take(d.broadcasts, limit, d.config.maxGossipBytes, ahead)
  d.broadcasts = taken.queue
  d.outputs.push({ _tag: "Send", to: address, message: make(taken.updates) })
}
