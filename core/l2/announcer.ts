// When to send gratuitous ARP (RFC 5227 §2.3 announcement as a request, RFC 5944 §4.6 as a reply) and
// unsolicited Neighbor Advertisements (RFC 4861 §7.2.6: to all-nodes, S=0, O=1, Target-LLA) for the
// addresses this node owns. MetalLB announces at once and then every 1.1 s until 5 s after the last
// time it was told to announce. We keep its spine and add two quick retries, so the default schedule
// after taking ownership at t is t, t+100, t+300, t+1100, t+2200, t+3300, t+4400 ms:
//  - the first frame goes out in the same step that takes ownership (no timer round trip);
//  - +100 and +300 ms repair a lost first frame in milliseconds rather than MetalLB's 1.1 s;
//  - the 1.1 s grid stays because Linux ignores an ARP update within locktime (1 s) of the entry's
//    last change (metallb#172): if the old owner answered just before the hand-over, only a frame more
//    than a second later wins, whatever our quick retries did;
//  - announcing stops once quietPeriodMs passes with no request seen for the address (neighbours still
//    resolving it extend the window, MetalLB's "5 s after the last request"), and never runs past
//    maxDurationMs, so a busy address does not broadcast forever.
// Losing ownership stops announcements in that very step. Reannounce restarts the schedule at once:
// the hook for a graceful hand-over (the speaker learns it takes over).
// ConflictSeen (the responder saw another station claim an address we own) restarts the schedule
// conflictDelayMs later if we still own the address then. A node that wrongly took the address for a
// moment (a false suspicion) pulled the neighbours to itself; it stops announcing when it lets go, and
// without an answer they would stay with it until their entries expire. The delay lets a legitimate
// move finish first: when ownership passes to another node, the views converge within tens of ms and
// the old owner lets go before answering, instead of pulling the neighbours back. Answers are at least
// conflictHoldOffMs apart per address, so two nodes that both believe they own it (a split view)
// re-announce at a bounded rate instead of answering each other's frames.
// Silence is the other side of a hand-over: a leaving node keeps answering requests until it stops,
// but announces nothing more, since one more frame from it would pull neighbours back from the new
// owners just before it goes away.
import { Data, Result } from "effect"
import { LayeredMap } from "../collections/layered-map.ts"
import { LeftistHeap } from "../collections/leftist-heap.ts"
import type { Address } from "../net/address.ts"
import type { Frame } from "./frame.ts"
import { allNodesAddress, multicastMacOf } from "./ipv6.ts"
import { broadcastMac, zeroMac } from "./mac.ts"
import { addressKey, type L2Interface, type OwnershipChanged } from "./ownership.ts"

export interface AnnouncerConfig {
  /** Retries after the immediate announcement, in ms after taking ownership, strictly increasing. */
  readonly retryOffsetsMs: ReadonlyArray<number>
  /** Announce on every multiple of this after taking ownership (once the retries are past). */
  readonly repeatIntervalMs: number
  /** Stop after this long without taking ownership or seeing a request for the address. */
  readonly quietPeriodMs: number
  /** Never announce later than this after taking ownership. */
  readonly maxDurationMs: number
  /** After another station claimed an owned address, restart the schedule this much later if still owned. */
  readonly conflictDelayMs: number
  /** No conflict answer sooner than this after the schedule's last (re)start. */
  readonly conflictHoldOffMs: number
}

export const defaultAnnouncerConfig: AnnouncerConfig = {
  retryOffsetsMs: [100, 300],
  repeatIntervalMs: 1100,
  quietPeriodMs: 5000,
  maxDurationMs: 30_000,
  conflictDelayMs: 250,
  conflictHoldOffMs: 2_200,
}

export class InvalidAnnouncerConfig extends Data.TaggedError("InvalidAnnouncerConfig")<{
  readonly field: keyof AnnouncerConfig
  readonly reason: string
}> {
  override get message(): string {
    return `announcer ${this.field}: ${this.reason}`
  }
}

export const validateAnnouncerConfig = (config: AnnouncerConfig): Result.Result<AnnouncerConfig, InvalidAnnouncerConfig> => {
  const bad = (field: keyof AnnouncerConfig, reason: string) => Result.fail(new InvalidAnnouncerConfig({ field, reason }))
  const offsets = config.retryOffsetsMs
  if (offsets.some((o, i) => !Number.isFinite(o) || o <= 0 || (i > 0 && o <= (offsets[i - 1] ?? 0)))) {
    return bad("retryOffsetsMs", "must be positive and strictly increasing")
  }
  if (!Number.isFinite(config.repeatIntervalMs) || config.repeatIntervalMs <= 0) return bad("repeatIntervalMs", "must be positive")
  if (!Number.isFinite(config.quietPeriodMs) || config.quietPeriodMs < 0) return bad("quietPeriodMs", "must be >= 0")
  if (!Number.isFinite(config.maxDurationMs) || config.maxDurationMs < 0) return bad("maxDurationMs", "must be >= 0")
  if (!Number.isFinite(config.conflictDelayMs) || config.conflictDelayMs < 0) return bad("conflictDelayMs", "must be >= 0")
  if (!Number.isFinite(config.conflictHoldOffMs) || config.conflictHoldOffMs < 0) return bad("conflictHoldOffMs", "must be >= 0")
  return Result.succeed(config)
}

/** One address announced on one interface. */
export interface Schedule {
  readonly address: Address
  readonly iface: L2Interface
  readonly startedAtMs: number
  /**
   * Offset from startedAtMs of the last announcement. Kept as an offset rather than an instant: with
   * fractional clocks, (start + offset) - start can land a hair below offset and make the same slot due
   * again forever (the simulator found this).
   */
  readonly lastOffsetMs: number
  /** No announcement after this instant unless a request extends it. */
  readonly windowEndMs: number
  /** A conflict was seen: restart at this instant if the address is still owned then. */
  readonly conflictAnswerAtMs?: number
  /**
   * Its place among the schedules, kept while the address stays owned on the interface (a new ownership
   * comes after every older one): what one step sends for several schedules goes out in this order.
   */
  readonly seq: number
}

/** A schedule's next announcement in the queue; stale (skipped) once the schedule is replaced or removed. */
interface Due {
  readonly atMs: number
  readonly key: string
  readonly schedule: Schedule
}

const noneDue: LeftistHeap<Due> = LeftistHeap.empty((a, b) => a.atMs < b.atMs || (a.atMs === b.atMs && a.schedule.seq < b.schedule.seq))

/**
 * A step costs O(log n) plus what it sends, not a walk over every owned address (issue 17: with a walk
 * and a copy of every schedule per step, a speaker taking over 2,500 addresses spent ~11 CPU s on its
 * announcements, its event loop too busy to answer the membership's probes).
 */
export interface AnnouncerState {
  readonly config: AnnouncerConfig
  readonly schedules: LayeredMap<string, Schedule>
  /** Set by Silence: no announcement from now on, whatever happens. */
  readonly silent?: boolean
  /** addressKey -> the keys of its schedules (one per interface), in `seq` order. */
  readonly byAddress: LayeredMap<string, ReadonlyArray<string>>
  /** The schedules' next announcements by time (a replaced schedule's entry stays, skipped; the least is never stale). */
  readonly due: LeftistHeap<Due>
  readonly nextSeq: number
}

const emptyAnnouncer = (config: AnnouncerConfig): AnnouncerState =>
  ({ config, schedules: LayeredMap.of([]), byAddress: LayeredMap.of([]), due: noneDue, nextSeq: 0 })

/** An announcer with no address owned; the configuration is validated first. */
export const makeAnnouncer = (config: AnnouncerConfig): Result.Result<AnnouncerState, InvalidAnnouncerConfig> =>
  Result.map(validateAnnouncerConfig(config), emptyAnnouncer)

export const defaultAnnouncer: AnnouncerState = emptyAnnouncer(defaultAnnouncerConfig)

export interface Tick {
  readonly _tag: "Tick"
  readonly nowMs: number
}

/** The responder answered a request for the address: neighbours are still resolving it. */
export interface RequestSeen {
  readonly _tag: "RequestSeen"
  readonly address: Address
  readonly nowMs: number
}

/** Announce now and restart the schedule on every interface the address is owned on. */
export interface Reannounce {
  readonly _tag: "Reannounce"
  readonly address: Address
  readonly nowMs: number
}

/** The responder saw another station claim the address (a gratuitous ARP, an ARP reply, an NA). */
export interface ConflictSeen {
  readonly _tag: "ConflictSeen"
  readonly address: Address
  readonly nowMs: number
}

/** This node is leaving (graceful hand-over): announce nothing from now on. */
export interface Silence {
  readonly _tag: "Silence"
  readonly nowMs: number
}

export type AnnouncerInput = OwnershipChanged | Tick | RequestSeen | Reannounce | ConflictSeen | Silence

export type AnnouncerOutput =
  /** One frame, counted once in metallb_layer2_gratuitous_sent{ip} as MetalLB does per packet. */
  | { readonly _tag: "Send"; readonly iface: string; readonly address: Address; readonly frame: Frame }
  /** Deliver a Tick at atMs; replaces any earlier request. A Tick with nothing due does nothing. */
  | { readonly _tag: "WakeAt"; readonly atMs: number }

export interface AnnouncerTransition {
  readonly state: AnnouncerState
  readonly outputs: ReadonlyArray<AnnouncerOutput>
}

/** The frames of one announcement: two gratuitous ARPs for IPv4, one unsolicited NA for IPv6. */
export const gratuitousFrames = (address: Address, iface: L2Interface): ReadonlyArray<Frame> => {
  if (address.family === "ipv4") {
    const ethernet = { dst: broadcastMac, src: iface.mac }
    const claim = { senderMac: iface.mac, senderIp: address, targetIp: address }
    return [
      { _tag: "ArpFrame", ethernet, arp: { ...claim, operation: "request", targetMac: zeroMac } },
      { _tag: "ArpFrame", ethernet, arp: { ...claim, operation: "reply", targetMac: iface.mac } },
    ]
  }
  return [
    {
      _tag: "NdpFrame",
      ethernet: { dst: multicastMacOf(allNodesAddress), src: iface.mac },
      ip: { source: address, destination: allNodesAddress, trafficClass: 0, flowLabel: 0 },
      ndp: {
        _tag: "NeighborAdvertisement",
        router: false,
        solicited: false,
        override: true,
        target: address,
        options: [{ _tag: "TargetLinkLayerAddress", mac: iface.mac }],
      },
    },
  ]
}

const scheduleKey = (address: Address, ifaceName: string): string => `${addressKey(address)}@${ifaceName}`

/** The first offset of the schedule strictly after lastOffsetMs. */
export const nextOffsetMs = (config: AnnouncerConfig, lastOffsetMs: number): number => {
  const onGrid = (Math.floor(lastOffsetMs / config.repeatIntervalMs) + 1) * config.repeatIntervalMs
  const retry = config.retryOffsetsMs.find((o) => o > lastOffsetMs)
  return retry === undefined ? onGrid : Math.min(retry, onGrid)
}

/** When a schedule's next announcement is due (undefined: none, its window is over). */
export const dueAtMs = (config: AnnouncerConfig, s: Omit<Schedule, "seq">): number | undefined => {
  const due = s.startedAtMs + nextOffsetMs(config, s.lastOffsetMs)
  const scheduled = due <= s.windowEndMs ? due : undefined
  if (s.conflictAnswerAtMs === undefined) return scheduled
  return scheduled === undefined ? s.conflictAnswerAtMs : Math.min(scheduled, s.conflictAnswerAtMs)
}

/** When the next announcement is due, if any is. */
export const nextWakeMs = (state: AnnouncerState): number | undefined => (state.silent === true ? undefined : state.due.min?.atMs)

const start = (config: AnnouncerConfig, address: Address, iface: L2Interface, nowMs: number, seq: number): Schedule => ({
  address,
  iface,
  startedAtMs: nowMs,
  lastOffsetMs: 0,
  windowEndMs: nowMs + Math.min(config.quietPeriodMs, config.maxDurationMs),
  seq,
})

const sends = (s: Schedule): ReadonlyArray<AnnouncerOutput> =>
  gratuitousFrames(s.address, s.iface).map((frame) => ({ _tag: "Send", iface: s.iface.name, address: s.address, frame }))

/** The state with these schedules set (each key once) or removed (undefined), and its indexes with them. */
const withSchedules = (state: AnnouncerState, changes: ReadonlyArray<readonly [string, Schedule | undefined]>): AnnouncerState => {
  let due = state.due
  const addresses = new Map<string, ReadonlyArray<string> | undefined>()
  let changed = false
  for (const [key, s] of changes) {
    const before = state.schedules.get(key)
    if (s === before) continue
    changed = true
    if (s !== undefined) {
      const atMs = dueAtMs(state.config, s)
      if (atMs !== undefined) due = due.insert({ atMs, key, schedule: s })
    }
    if ((before === undefined) === (s === undefined)) continue
    const address = addressKey((s ?? before)!.address)
    const keys = addresses.has(address) ? addresses.get(address) ?? [] : state.byAddress.get(address) ?? []
    const next = s === undefined ? keys.filter((k) => k !== key) : [...keys, key]
    addresses.set(address, next.length === 0 ? undefined : next)
  }
  if (!changed) return state
  const schedules = state.schedules.with(changes)
  for (let top = due.min; top !== undefined && schedules.get(top.key) !== top.schedule; top = due.min) due = due.removeMin()
  return { ...state, schedules, byAddress: addresses.size === 0 ? state.byAddress : state.byAddress.with(addresses), due }
}

const finish = (state: AnnouncerState, outputs: ReadonlyArray<AnnouncerOutput>): AnnouncerTransition => {
  const wake = nextWakeMs(state)
  return { state, outputs: wake === undefined ? outputs : [...outputs, { _tag: "WakeAt", atMs: wake }] }
}

const onOwnership = (state: AnnouncerState, change: OwnershipChanged): AnnouncerTransition => {
  const key = scheduleKey(change.address, change.iface.name)
  const current = state.schedules.get(key)
  if (!change.owned) return finish(current === undefined ? state : withSchedules(state, [[key, undefined]]), [])
  // Repeated reconciles re-assert ownership; only a new owner or a new MAC is news to neighbours.
  if (current !== undefined && current.iface.mac === change.iface.mac) return finish(state, [])
  const next = current === undefined ? { ...state, nextSeq: state.nextSeq + 1 } : state
  const schedule = start(state.config, change.address, change.iface, change.nowMs, current?.seq ?? state.nextSeq)
  if (state.silent === true) return finish(withSchedules(next, [[key, { ...schedule, windowEndMs: change.nowMs }]]), [])
  return finish(withSchedules(next, [[key, schedule]]), sends(schedule))
}

const onTick = (state: AnnouncerState, nowMs: number): AnnouncerTransition => {
  // The schedules due now, in their order; the queue's entries of replaced schedules are dropped on the way.
  let due = state.due
  const ready: Array<Due> = []
  for (let top = due.min; top !== undefined && top.atMs <= nowMs; top = due.min) {
    due = due.removeMin()
    if (state.schedules.get(top.key) === top.schedule) ready.push(top)
  }
  if (ready.length === 0) return finish(state, [])
  ready.sort((a, b) => a.schedule.seq - b.schedule.seq)
  const outputs: Array<AnnouncerOutput> = []
  const changes: Array<readonly [string, Schedule]> = []
  for (const { key, schedule: s } of ready) {
    if (s.conflictAnswerAtMs !== undefined && s.conflictAnswerAtMs <= nowMs) {
      const restarted = start(state.config, s.address, s.iface, nowMs, s.seq)
      changes.push([key, restarted])
      outputs.push(...sends(restarted))
      continue
    }
    // A late tick sends once and rejoins the schedule after now, rather than bursting to catch up.
    const offset = nextOffsetMs(state.config, s.lastOffsetMs)
    changes.push([key, { ...s, lastOffsetMs: Math.max(offset, nowMs - s.startedAtMs) }])
    outputs.push(...sends(s))
  }
  return finish(withSchedules({ ...state, due }, changes), outputs)
}

const forAddress = (
  state: AnnouncerState,
  address: Address,
  update: (s: Schedule) => Schedule,
  emit: boolean,
): AnnouncerTransition => {
  const outputs: Array<AnnouncerOutput> = []
  const changes: Array<readonly [string, Schedule]> = []
  for (const key of state.byAddress.get(addressKey(address)) ?? []) {
    const s = state.schedules.get(key)!
    const next = update(s)
    changes.push([key, next])
    if (emit) outputs.push(...sends(next))
  }
  return finish(withSchedules(state, changes), outputs)
}

/** Every schedule's window closes now (the schedules stay, so ownership is still known). */
const silence = (state: AnnouncerState, nowMs: number): AnnouncerTransition => {
  const changes: Array<readonly [string, Schedule]> = []
  for (const [key, s] of state.schedules) if (s.windowEndMs > nowMs) changes.push([key, { ...s, windowEndMs: nowMs }])
  return { state: { ...withSchedules(state, changes), silent: true }, outputs: [] }
}

export const step = (state: AnnouncerState, input: AnnouncerInput): AnnouncerTransition => {
  if (state.silent === true && (input._tag === "Tick" || input._tag === "RequestSeen" || input._tag === "Reannounce" || input._tag === "ConflictSeen")) return finish(state, [])
  switch (input._tag) {
    case "Silence":
      return silence(state, input.nowMs)
    case "OwnershipChanged":
      return onOwnership(state, input)
    case "Tick":
      return onTick(state, input.nowMs)
    case "RequestSeen":
      // Only a live schedule is extended: a request long after the burst restarts nothing.
      return forAddress(state, input.address, (s) => {
        if (input.nowMs > s.windowEndMs) return s
        const windowEndMs = Math.min(Math.max(s.windowEndMs, input.nowMs + state.config.quietPeriodMs), s.startedAtMs + state.config.maxDurationMs)
        return { ...s, windowEndMs }
      }, false)
    case "Reannounce":
      return forAddress(state, input.address, (s) => start(state.config, s.address, s.iface, input.nowMs, s.seq), true)
    case "ConflictSeen":
      return forAddress(state, input.address, (s) =>
        s.conflictAnswerAtMs !== undefined || input.nowMs - s.startedAtMs < state.config.conflictHoldOffMs
          ? s
          : { ...s, conflictAnswerAtMs: input.nowMs + state.config.conflictDelayMs }, false)
  }
}
