// What a node does as time passes (SWIM §3-4): suspicions that ran out become Dead; a probe whose direct
// Ack is overdue goes indirect through k random helpers; at each protocol period's end an unacknowledged
// target is suspected (and told so directly, so a live one refutes at once) and the next target is pinged,
// round-robin over a list reshuffled on every pass (SWIM §4.3, which bounds the time until any given
// member is probed), new members entering it at random positions; a node that knows no member yet retries
// its seeds; queued updates go to a few random members (and recently dead ones) every gossip interval; now
// and then the whole table is exchanged with one member, and with one member declared dead (reconnect).
import type { MembershipConfig } from "./config.ts"
import { deleteRelay, type Draft, learn, liveOthers, nextSeq, send, table } from "./draft.ts"
import { isLive, type Member } from "./members.ts"
import { below, type Draw, drawFrom, sample, shuffle } from "./random.ts"
import { syncWithSeeds } from "./receive.ts"

/**
 * A wake-up later than asked by more than this: the node's process was held up (a long pass, a starved
 * CPU), so what arrived meanwhile has not been read yet.
 */
export const lateWakeUpMs = (config: MembershipConfig): number => config.probeTimeoutMs / 3

export const tick = (d: Draft, nowMs: number, random: number): void => {
  // The pending wake-up just fired; finish() asks for the next one.
  const dueAtMs = d.timerAtMs
  d.timerAtMs = undefined
  if (d.phase !== "running") return
  // Woken late with a verdict due: the Acks and refutations that came while this node was held up still
  // wait behind this wake-up (Node runs expired timers before it reads sockets). Judged now, its probe
  // would fail and its suspicions expire into deaths of live members; finish() asks for a wake-up at once
  // (a deadline has passed), which comes after they are read. Measured (bench/membership.bench.ts, fast
  // profile, 10 nodes, each held up 100 ms at a time for a fifth of the time): 5.3 false deaths per 30 s
  // without this, none with it (at 200 ms: 142 and 0.8).
  if (dueAtMs !== undefined && nowMs - dueAtMs > lateWakeUpMs(d.config) && verdictDue(d, nowMs)) return
  const draw = drawFrom(random)
  expireRelays(d, nowMs)
  expireSuspicions(d, nowMs)
  goIndirect(d, nowMs, draw)
  if (nowMs >= d.nextProbeAtMs) {
    endProbe(d, nowMs)
    startProbe(d, nowMs, draw)
    if (liveOthers(d).length === 0) syncWithSeeds(d)
    const next = d.nextProbeAtMs + d.config.probeIntervalMs
    d.nextProbeAtMs = next > nowMs ? next : nowMs + d.config.probeIntervalMs
  }
  if (d.broadcasts.items.length > 0 && nowMs >= d.nextGossipAtMs) {
    gossipRound(d, nowMs, draw)
    d.nextGossipAtMs = nowMs + d.config.gossipIntervalMs
  }
  if (nowMs >= d.nextPushPullAtMs) {
    const [peer] = sample(draw, liveOthers(d), 1)
    if (peer !== undefined) {
      d.outputs.push({ _tag: "Send", to: peer.address, message: { _tag: "Sync", from: d.name, reply: false, members: table(d) } })
    }
    d.nextPushPullAtMs = nowMs + d.config.pushPullIntervalMs
  }
  // Checked at every probe period (no wake-up of its own: probes keep the timer running).
  if (nowMs >= d.nextReconnectAtMs) {
    const dead = [...d.members.values()].filter((m) => m.status === "dead" && m.address !== "")
    const [peer] = sample(draw, dead, 1)
    if (peer !== undefined) {
      d.outputs.push({ _tag: "Send", to: peer.address, message: { _tag: "Sync", from: d.name, reply: false, members: table(d) } })
    }
    d.nextReconnectAtMs = nowMs + d.config.reconnectIntervalMs
  }
}

/** A probe to fail (go indirect, or suspect its target) or a suspicion to expire now. */
const verdictDue = (d: Draft, nowMs: number): boolean => {
  const p = d.probe
  if (p !== undefined && !p.acked && (nowMs >= d.nextProbeAtMs || (!p.indirectSent && nowMs >= p.indirectAtMs))) return true
  for (const m of d.members.values()) {
    if (m.status === "suspect" && m.suspicionDeadlineMs !== undefined && m.suspicionDeadlineMs <= nowMs) return true
  }
  return false
}

const expireRelays = (d: Draft, nowMs: number): void => {
  for (const [seq, relay] of d.relays) if (relay.expiresAtMs <= nowMs) deleteRelay(d, seq)
}

const expireSuspicions = (d: Draft, nowMs: number): void => {
  for (const m of [...d.members.values()]) {
    if (m.status === "suspect" && m.suspicionDeadlineMs !== undefined && m.suspicionDeadlineMs <= nowMs) {
      learn(d, { _tag: "Dead", name: m.name, incarnation: m.incarnation }, nowMs)
    }
  }
}

const goIndirect = (d: Draft, nowMs: number, draw: Draw): void => {
  const p = d.probe
  if (p === undefined || p.acked || p.indirectSent || nowMs < p.indirectAtMs) return
  d.probe = { ...p, indirectSent: true }
  const helpers = sample(draw, liveOthers(d).filter((m) => m.name !== p.target), d.config.indirectChecks)
  for (const helper of helpers) {
    send(d, helper.address, helper.name, (gossip) => ({
      _tag: "PingReq",
      seq: p.seq,
      from: d.name,
      target: p.target,
      targetAddress: p.address,
      gossip,
    }))
  }
}

const endProbe = (d: Draft, nowMs: number): void => {
  const p = d.probe
  d.probe = undefined
  if (p === undefined || p.acked) return
  const suspected = learn(d, { _tag: "Suspect", name: p.target, incarnation: p.incarnation }, nowMs)
  if (suspected) send(d, p.address, p.target, (gossip) => ({ _tag: "Gossip", from: d.name, gossip }))
}

const startProbe = (d: Draft, nowMs: number, draw: Draw): void => {
  const target = nextTarget(d, draw)
  if (target === undefined) return
  const seq = nextSeq(d)
  d.probe = {
    seq,
    target: target.name,
    address: target.address,
    incarnation: target.incarnation,
    indirectAtMs: nowMs + d.config.probeTimeoutMs,
    indirectSent: false,
    acked: false,
  }
  send(d, target.address, target.name, (gossip) => ({ _tag: "Ping", seq, from: d.name, target: target.name, gossip }))
}

const nextTarget = (d: Draft, draw: Draw): Member | undefined => {
  const live = liveOthers(d)
  if (live.length === 0) return undefined
  admitNewcomers(d, live, draw)
  for (let pass = 0; pass < 2; pass++) {
    while (d.probeIndex < d.probeOrder.length) {
      const m = d.members.get(d.probeOrder[d.probeIndex++]!)
      if (m !== undefined && (m.status === "alive" || m.status === "suspect")) return m
    }
    d.probeOrder = shuffle(draw, live.map((m) => m.name))
    d.probeIndex = 0
  }
  return undefined
}

/** A member missing from the probe order goes to a random place among those not yet probed this pass. */
const admitNewcomers = (d: Draft, live: ReadonlyArray<Member>, draw: Draw): void => {
  // A small cluster's order is scanned (no set per probe); a large one's is looked up.
  const listed = d.probeOrder.length > 16 ? new Set(d.probeOrder) : undefined
  const newcomers = live.filter((m) => !(listed === undefined ? d.probeOrder.includes(m.name) : listed.has(m.name)))
  if (newcomers.length === 0) return
  const order = [...d.probeOrder]
  for (const m of newcomers) order.splice(d.probeIndex + below(draw, order.length - d.probeIndex + 1), 0, m.name)
  d.probeOrder = order
}

/**
 * Gossip also goes to members declared dead only recently (memberlist's gossip-to-the-dead): a node that
 * was wrongly declared dead is probed by no one, and this is how it hears that it must refute.
 */
const gossipRound = (d: Draft, nowMs: number, draw: Draw): void => {
  const targets = [...d.members.values()].filter((m) =>
    isLive(m) || (m.status === "dead" && m.address !== "" && nowMs - m.sinceMs < d.config.gossipToTheDeadMs)
  )
  for (const m of sample(draw, targets, d.config.gossipFanout)) {
    if (d.broadcasts.items.length === 0) return
    send(d, m.address, m.name, (gossip) => ({ _tag: "Gossip", from: d.name, gossip }))
  }
}
