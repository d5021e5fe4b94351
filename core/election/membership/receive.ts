// What a node does when told something: joining through seeds, leaving, a change of its own metadata (a
// new incarnation and Alive, gossiped as a refutation is), and each incoming message. Every
// message's piggybacked updates are merged first (SWIM §4.1); then a Ping is acked, a PingReq becomes a
// Ping of our own whose Ack is relayed back (SWIM §3.1), an Ack completes our probe or a relay, and a Sync
// opening is answered with our table. Beyond the paper, stale views are repaired where they show: a sender
// that accuses us or spreads news older than ours is answered with the newer statement, and a prober we do
// not hold as a member gets a table exchange. A full table may be stale, so a Dead in it only raises a
// suspicion (as memberlist's push-pull does): the member gets the suspicion timeout to refute.
import { emptyQueue, enqueue } from "./broadcasts.ts"
import { clearMembers, clearRelays, deleteRelay, type Draft, learn, liveOthers, nextSeq, selfUpdate, send, setRelay, table } from "./draft.ts"
import { isLive, updateOf } from "./members.ts"
import type { Message, Update } from "./messages.ts"
import { canonicalDownInterfaces, sameDownInterfaces } from "./metadata.ts"

export const join = (d: Draft, nowMs: number, seeds: ReadonlyArray<string>): void => {
  let known: ReadonlyArray<string> = []
  if (d.phase !== "running") {
    if (d.phase === "left") {
      // A node that left said Left(i); only Alive(i + 1) supersedes that.
      d.incarnation += 1
      known = forgetTheOthers(d)
    }
    d.phase = "running"
    d.nextProbeAtMs = nowMs + d.config.probeIntervalMs
    d.nextGossipAtMs = nowMs
    d.nextPushPullAtMs = nowMs + d.config.pushPullIntervalMs
    d.nextReconnectAtMs = nowMs + d.config.reconnectIntervalMs
    d.timerAtMs = undefined
  }
  // Our own Alive rides on our first pings and gossip, so members the seed's gossip misses still hear of us.
  d.broadcasts = enqueue(d.broadcasts, selfUpdate(d))
  d.seeds = [...new Set([...seeds, ...known])].filter((seed) => seed !== d.address)
  syncWithSeeds(d)
}

/**
 * Back after a leave, this node starts over as a new one: what it held about the others dates from before
 * it left. Its suspicions could not be refuted while it heard nothing, and usually came from its own
 * failing link (it leaves when every link is down, after its probes failed); their deadlines passed while
 * it was away, so the first tick would declare live members dead and gossip it, and every other node would
 * drop the owner of some address for a moment and claim it. Its verdicts and queued news are as stale. The
 * seeds' tables bring the cluster's view; the members it knew become seeds too (returned), so that a node
 * started without seeds still finds the others.
 */
const forgetTheOthers = (d: Draft): ReadonlyArray<string> => {
  const known = [...d.members.values()].flatMap((m) => (m.address === "" ? [] : [m.address]))
  clearMembers(d)
  d.broadcasts = emptyQueue
  d.probeOrder = []
  d.probeIndex = 0
  clearRelays(d)
  return known
}

/** Opens a table exchange with every seed (on Join, and from tick while the Sync or its reply is lost). */
export const syncWithSeeds = (d: Draft): void => {
  for (const seed of d.seeds) {
    d.outputs.push({ _tag: "Send", to: seed, message: { _tag: "Sync", from: d.name, reply: false, members: table(d) } })
  }
}

/**
 * Graceful leave: Left with a raised incarnation, sent to every live member at once rather than gossiped,
 * and twice, because this node stays silent afterwards: were every copy lost, the others would only notice
 * through failure detection. Receivers gossip it on, so one copy reaching anyone reaches everyone.
 */
export const leave = (d: Draft): void => {
  if (d.phase !== "running") return
  d.incarnation += 1
  const left: Update = { _tag: "Left", name: d.name, incarnation: d.incarnation }
  const notices = liveOthers(d).map((m) => ({ _tag: "Send" as const, to: m.address, message: { _tag: "Gossip" as const, from: d.name, gossip: [left] } }))
  d.outputs.push(...notices, ...notices)
  d.phase = "left"
  d.probe = undefined
  clearRelays(d)
  d.timerAtMs = undefined
  d.outputs.push({ _tag: "StopTimer", name: "membership" })
}

/**
 * New metadata needs a new incarnation: members drop an Alive that is not newer than what they hold. While
 * not running it is only kept, and the next Join's Alive carries it.
 *
 * The new Alive goes to every live member at once, as a leave does, besides being gossiped. Gossip alone
 * picks its receivers at random and stops after lambda * log n copies, so in a small cluster at a few percent
 * loss a member can miss every copy (seen: one of 6 nodes at 5% loss), and only the 30 s table exchange
 * would then repair its view while it keeps electing a node whose interface is down. Changes are rare (a
 * link going down or up), so n - 1 datagrams each cost nothing in the steady state; a member must now miss
 * the direct copy and all of the gossip.
 */
export const setDownInterfaces = (d: Draft, names: ReadonlyArray<string>): void => {
  const down = canonicalDownInterfaces(names)
  if (sameDownInterfaces(down, d.downInterfaces)) return
  d.downInterfaces = down
  if (d.phase !== "running") return
  d.incarnation += 1
  const alive = selfUpdate(d)
  d.broadcasts = enqueue(d.broadcasts, alive)
  for (const m of liveOthers(d)) d.outputs.push({ _tag: "Send", to: m.address, message: { _tag: "Gossip", from: d.name, gossip: [alive] } })
}

const isLiveMember = (d: Draft, name: string): boolean => {
  const m = d.members.get(name)
  return m !== undefined && isLive(m)
}

/** Our statement about another member when the update is older news about it. */
const newerThan = (d: Draft, u: Update): Array<Update> => {
  const current = u.name === d.name ? undefined : d.members.get(u.name)
  return current !== undefined && current.incarnation > u.incarnation ? [updateOf(current)] : []
}

const fromTable = (u: Update): Update => (u._tag === "Dead" ? { _tag: "Suspect", name: u.name, incarnation: u.incarnation } : u)

export const receive = (d: Draft, nowMs: number, from: string, message: Message): void => {
  if (d.phase !== "running") return
  const updates = message._tag === "Sync" ? message.members.map(fromTable) : message.gossip
  const incarnation = d.incarnation
  for (const u of updates) learn(d, u, nowMs)
  // A sender that accuses us, or spreads news older than ours (a suspicion its subject already refuted),
  // hears the newer statement at once: it is usually a suspecting node, whose timer runs out first, and the
  // refutation may have left every broadcast queue before reaching it. A Ping's Ack and a Sync's reply
  // carry the correction; other messages get a direct answer.
  const accused = d.incarnation !== incarnation || updates.some((u) => u.name === d.name && u._tag !== "Alive")
  const answer = [...(accused ? [selfUpdate(d)] : []), ...updates.flatMap((u) => newerThan(d, u))]
  if (answer.length > 0 && message._tag !== "Ping" && !(message._tag === "Sync" && !message.reply)) {
    send(d, from, message.from, (gossip) => ({ _tag: "Gossip", from: d.name, gossip }), answer)
  }
  switch (message._tag) {
    case "Ping":
      if (message.target !== d.name) return
      send(d, from, message.from, (gossip) => ({ _tag: "Ack", seq: message.seq, from: d.name, gossip }), answer)
      // A prober we do not hold as a member means one of the two views is stale (we missed its Alive, or it
      // missed our news): exchange tables. Every member probes every other within a round-robin pass, so
      // this repairs any such gap within one pass instead of waiting for the periodic exchange.
      if (!isLiveMember(d, message.from)) {
        d.outputs.push({ _tag: "Send", to: from, message: { _tag: "Sync", from: d.name, reply: false, members: table(d) } })
      }
      return
    case "Ack": {
      if (d.probe !== undefined && d.probe.seq === message.seq) {
        d.probe = { ...d.probe, acked: true }
        return
      }
      const relay = d.relays.get(message.seq)
      if (relay === undefined) return
      deleteRelay(d, message.seq)
      send(d, relay.requesterAddress, relay.requesterName, (gossip) => ({ _tag: "Ack", seq: relay.requesterSeq, from: d.name, gossip }))
      return
    }
    case "PingReq": {
      const seq = nextSeq(d)
      setRelay(d, seq, {
        requesterName: message.from,
        requesterAddress: from,
        requesterSeq: message.seq,
        expiresAtMs: nowMs + d.config.probeIntervalMs,
      })
      send(d, message.targetAddress, message.target, (gossip) => ({ _tag: "Ping", seq, from: d.name, target: message.target, gossip }))
      return
    }
    case "Gossip":
      return
    case "Sync":
      if (!message.reply) {
        d.outputs.push({ _tag: "Send", to: from, message: { _tag: "Sync", from: d.name, reply: true, members: table(d) } })
      }
      return
  }
}
