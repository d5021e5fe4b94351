// The announcer's behaviour said the plain way, as it was written before issue 17: one Map of schedules
// in the order the ownerships were taken, walked whole at every input (the schedule's timing, nextOffsetMs
// and dueAtMs, is the announcer's own). core/l2/announcer.ts keeps an index and a queue instead (a step
// costs O(log n) plus what it sends); its outputs must be these.
import { type AnnouncerConfig, type AnnouncerInput, type AnnouncerOutput, dueAtMs, gratuitousFrames, nextOffsetMs, type Schedule } from "../../../core/l2/announcer.ts"
import { addressKey, type L2Interface } from "../../../core/l2/ownership.ts"
import type { Address } from "../../../core/net/address.ts"

type ModelSchedule = Omit<Schedule, "seq">

export interface ModelState {
  readonly config: AnnouncerConfig
  readonly schedules: ReadonlyMap<string, ModelSchedule>
  readonly silent: boolean
  /** A deliberately wrong variant (to see the comparison fire): a tick sends in reverse order. */
  readonly reverseTicks?: boolean
}

export const modelAnnouncer = (config: AnnouncerConfig, reverseTicks = false): ModelState => ({ config, schedules: new Map(), silent: false, reverseTicks })

export const modelWakeMs = (state: ModelState): number | undefined => {
  if (state.silent) return undefined
  const dues = [...state.schedules.values()].map((s) => dueAtMs(state.config, s)).filter((d) => d !== undefined)
  return dues.length === 0 ? undefined : Math.min(...dues)
}

const begin = (config: AnnouncerConfig, address: Address, iface: L2Interface, nowMs: number): ModelSchedule =>
  ({ address, iface, startedAtMs: nowMs, lastOffsetMs: 0, windowEndMs: nowMs + Math.min(config.quietPeriodMs, config.maxDurationMs) })

const framesOf = (s: ModelSchedule): Array<AnnouncerOutput> =>
  gratuitousFrames(s.address, s.iface).map((frame) => ({ _tag: "Send", iface: s.iface.name, address: s.address, frame }))

export const modelStep = (state: ModelState, input: AnnouncerInput): { readonly state: ModelState; readonly outputs: ReadonlyArray<AnnouncerOutput> } => {
  const schedules = new Map(state.schedules)
  const outputs: Array<AnnouncerOutput> = []
  const done = (next: ModelState) => {
    const wake = modelWakeMs(next)
    return { state: next, outputs: wake === undefined ? outputs : [...outputs, { _tag: "WakeAt" as const, atMs: wake }] }
  }
  const { config } = state
  const each = (address: Address, f: (s: ModelSchedule) => ModelSchedule, send: boolean) => {
    for (const [key, s] of state.schedules) {
      if (addressKey(s.address) !== addressKey(address)) continue
      const next = f(s)
      schedules.set(key, next)
      if (send) outputs.push(...framesOf(next))
    }
  }
  if (state.silent && input._tag !== "Silence" && input._tag !== "OwnershipChanged") return done(state)
  switch (input._tag) {
    case "Silence": {
      for (const [key, s] of state.schedules) schedules.set(key, { ...s, windowEndMs: Math.min(s.windowEndMs, input.nowMs) })
      return { state: { ...state, schedules, silent: true }, outputs: [] }
    }
    case "OwnershipChanged": {
      const key = `${addressKey(input.address)}@${input.iface.name}`
      const current = state.schedules.get(key)
      if (!input.owned) schedules.delete(key)
      else if (current === undefined || current.iface.mac !== input.iface.mac) {
        const s = begin(config, input.address, input.iface, input.nowMs)
        if (state.silent) schedules.set(key, { ...s, windowEndMs: input.nowMs })
        else {
          schedules.set(key, s)
          outputs.push(...framesOf(s))
        }
      }
      break
    }
    case "Tick": {
      const entries = [...state.schedules]
      for (const [key, s] of state.reverseTicks === true ? entries.reverse() : entries) {
        const due = dueAtMs(config, s)
        if (due === undefined || due > input.nowMs) continue
        if (s.conflictAnswerAtMs !== undefined && s.conflictAnswerAtMs <= input.nowMs) {
          const again = begin(config, s.address, s.iface, input.nowMs)
          schedules.set(key, again)
          outputs.push(...framesOf(again))
          continue
        }
        schedules.set(key, { ...s, lastOffsetMs: Math.max(nextOffsetMs(config, s.lastOffsetMs), input.nowMs - s.startedAtMs) })
        outputs.push(...framesOf(s))
      }
      break
    }
    case "RequestSeen":
      each(input.address, (s) => input.nowMs > s.windowEndMs ? s : {
        ...s,
        windowEndMs: Math.min(Math.max(s.windowEndMs, input.nowMs + config.quietPeriodMs), s.startedAtMs + config.maxDurationMs),
      }, false)
      break
    case "Reannounce":
      each(input.address, (s) => begin(config, s.address, s.iface, input.nowMs), true)
      break
    case "ConflictSeen":
      each(input.address, (s) => s.conflictAnswerAtMs !== undefined || input.nowMs - s.startedAtMs < config.conflictHoldOffMs
        ? s
        : { ...s, conflictAnswerAtMs: input.nowMs + config.conflictDelayMs }, false)
      break
  }
  return done({ ...state, schedules })
}
