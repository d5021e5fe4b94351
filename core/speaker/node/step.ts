// A node's decision machine: one input at a time, the new state and what the drivers must do. It
// absorbs what the speaker's loop decided in the shell: the join wait (never decide before the join
// settled), the configuration in force (core/config/in-force.ts), the link watch (a down link is
// reported to the others and never announced on; every link down leaves the membership, and after the
// rejoin the node holds back until another member answers), the rescan of the interfaces, the decision
// pass (node/pass.ts) and the SIGTERM hand-over (leave, silence, keep answering, then release all).
import { formatConfigError } from "../../config/errors.ts"
import { updateConfig } from "../../config/in-force.ts"
import { type InterfaceInfo, usableForL2 } from "../interfaces.ts"
import { linkReport, namedInterfaces } from "../links.ts"
import type { NodeInput } from "./inputs.ts"
import type { NodeOutput } from "./outputs.ts"
import { deltaPass } from "./delta-pass.ts"
import { pass } from "./pass.ts"
import { publishSessionStates, sessionStateInput } from "./session-state.ts"
import type { NodeState } from "./state.ts"

export interface NodeTransition {
  readonly state: NodeState
  readonly outputs: ReadonlyArray<NodeOutput>
}

const names = (list: ReadonlyArray<{ readonly name: string }>) => list.map((i) => i.name).join(", ") || "no interface"
const sameList = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => a.join(" ") === b.join(" ")

/** The link poll: report down links to the others, leave when all are down, rejoin when one is back. */
const linksPolled = (s: NodeState, polledUp: ReadonlySet<string>, polled: ReadonlySet<string> | undefined, nowMs: number, out: Array<NodeOutput>): NodeState => {
  const inUse = s.interfaces.map((i) => i.name)
  const up = polled === undefined ? polledUp : new Set([...polledUp, ...inUse.filter((n) => !polled.has(n) && !s.linksDown.includes(n))])
  const report = linkReport(inUse, up, namedInterfaces(s.config.config))
  const linksChanged = !sameList(report.down, s.linksDown)
  if (!linksChanged && sameList(report.missing, s.missingNamed)) return s
  const warn = (message: string) => out.push({ _tag: "Log", level: "warning", message: `speaker ${s.settings.nodeName}: ${message}` })
  for (const name of report.missing.filter((n) => !s.missingNamed.includes(n))) {
    warn(`an L2Advertisement names interface ${name}, which this node does not have or may not use: no candidate for the addresses announced only there`)
  }
  for (const name of report.down.filter((n) => !s.linksDown.includes(n))) warn(`Layer 2 interface ${name} down: not announcing on it`)
  for (const name of s.linksDown.filter((n) => !report.down.includes(n))) warn(`Layer 2 interface ${name} back up`)
  let next: NodeState = { ...s, linksDown: report.down, missingNamed: report.missing }
  if (!s.settings.membership) return linksChanged ? pass(next, nowMs, out) : next
  // Before a leave, so that the Alive of the next join carries it.
  if (!sameList(report.reported, s.reportedDown)) {
    out.push({ _tag: "SetDownInterfaces", names: report.reported })
    next = { ...next, reportedDown: report.reported }
  }
  if (!linksChanged) return next
  if (report.allDown !== s.dataPathDown) {
    if (report.allDown) {
      out.push({ _tag: "LeaveMembership" })
      next = { ...next, dataPathDown: true }
    } else {
      out.push({ _tag: "JoinMembership", seeds: s.settings.seeds })
      // Decide again once the hold can have expired, even if nothing else happens.
      out.push({ _tag: "StartTimer", name: "rejoinHold", delayMs: s.settings.rejoinHoldMs + 100 })
      next = { ...next, dataPathDown: false, rejoinedAtMs: nowMs }
    }
    warn(`Layer 2 links ${report.allDown ? "all down: leaving the membership" : "back: rejoining"}`)
  }
  return pass(next, nowMs, out)
}

/**
 * The rescan: one that appeared gets a socket and the addresses meant for it; one that went away (or
 * changed its MAC) loses what was owned on it. One only taken down stays watched as a down link.
 */
const interfacesScanned = (s: NodeState, all: ReadonlyArray<InterfaceInfo>, nowMs: number, out: Array<NodeOutput>): NodeState => {
  const watched = new Set(s.interfaces.map((i) => i.name))
  const next = usableForL2(all.map((i) => (watched.has(i.name) ? { ...i, up: true } : i)), s.settings.excludePatterns)
  const key = (list: ReadonlyArray<InterfaceInfo>) => list.map((i) => `${i.name}/${i.mac}`).join(" ")
  if (key(next) === key(s.interfaces)) return s
  const gone = new Set(s.interfaces.filter((i) => !next.some((n) => n.name === i.name && n.mac === i.mac)).map((i) => i.name))
  const owned = new Map(s.owned)
  for (const [k, o] of s.owned) {
    const lost = o.interfaces.filter((n) => gone.has(n))
    if (lost.length === 0) continue
    out.push({ _tag: "Release", address: o.address, interfaces: lost })
    owned.set(k, { ...o, interfaces: o.interfaces.filter((n) => !gone.has(n)) })
  }
  out.push({ _tag: "Log", level: "info", message: `speaker ${s.settings.nodeName}: Layer 2 on ${names(next)}${s.interfaces.length === 0 ? "" : ` (was ${names(s.interfaces)})`}` })
  out.push({ _tag: "UseInterfaces", interfaces: next.map((i) => ({ name: i.name, mac: i.mac })) })
  const kept = new Set(next.map((i) => i.name))
  return pass({ ...s, interfaces: next, owned, linksDown: s.linksDown.filter((n) => kept.has(n)) }, nowMs, out)
}

/** The end of the hand-over (or a stop without membership): everything released. */
const finish = (s: NodeState, out: Array<NodeOutput>): NodeState => {
  if (s.settings.membership) out.push({ _tag: "CloseMembership" })
  for (const name of s.sessions.keys()) out.push({ _tag: "CloseSession", name })
  for (const o of s.owned.values()) if (o.interfaces.length > 0) out.push({ _tag: "Release", address: o.address, interfaces: o.interfaces })
  // This node announces nothing any more: its status objects go (MetalLB relies on owner references).
  for (const [kind, written] of s.statuses) for (const service of written.keys()) out.push({ _tag: "DeleteStatus", kind, service })
  if (s.announcedSamples !== "[]") out.push({ _tag: "Announced", samples: [] })
  out.push({ _tag: "Stopped" })
  return {
    ...s,
    phase: "Stopped",
    owned: new Map(),
    sessions: new Map(),
    statuses: new Map([["ServiceL2Status", new Map()], ["ServiceBGPStatus", new Map()]]),
    announcedSamples: "[]",
  }
}

const configChanged = (s: NodeState, input: Extract<NodeInput, { _tag: "ConfigChanged" }>, out: Array<NodeOutput>): NodeState => {
  const { state, change } = updateConfig(s.config, input.sources)
  if (change._tag === "Unchanged") return s
  const warnings = change.warnings.map(formatConfigError)
  if (change._tag === "Applied") {
    out.push({ _tag: "Log", level: "info", message: `speaker: configuration applied${warnings.length === 0 ? "" : ` with warnings:\n${warnings.join("\n")}`}` })
  } else {
    const keeping = change.keeping ? "keeping the last valid one" : "no valid configuration yet: announcing nothing"
    out.push({ _tag: "Log", level: "warning", message: `speaker: configuration invalid, ${keeping}:\n${change.errors.map(formatConfigError).join("\n")}` })
  }
  out.push({ _tag: "ConfigState", loaded: state.config !== undefined, stale: state.stale && state.config !== undefined })
  return pass({ ...s, config: state }, input.nowMs, out)
}

const membersChanged = (s: NodeState, input: Extract<NodeInput, { _tag: "MembersChanged" }>, out: Array<NodeOutput>): NodeState => {
  if (!s.settings.membership) return s
  const lostMembers = new Map(s.lostMembers)
  for (const lost of input.lost) {
    if (lost.lastHeardAtMs === undefined) continue
    lostMembers.set(lost.name, lost.lastHeardAtMs)
    if (lost.how === "dead") out.push({ _tag: "ObserveDetection", member: lost.name, seconds: (input.nowMs - lost.lastHeardAtMs) / 1000 })
  }
  let next: NodeState = { ...s, members: input.live, membersDown: input.down, lostMembers, syncedAtMs: input.syncedAtMs ?? s.syncedAtMs }
  // The join's table exchange brings every member at once: decide from that, never from a first partial view.
  if (s.phase === "Joining" && input.syncedAtMs !== undefined) {
    out.push({ _tag: "Log", level: "info", message: `speaker ${s.settings.nodeName}: joined the membership (${[...input.live].sort().join(", ")})` })
    next = { ...next, phase: "Running" }
  }
  return pass(next, input.nowMs, out)
}

export const step = (s: NodeState, input: NodeInput): NodeTransition => {
  const out: Array<NodeOutput> = []
  if (s.phase === "Stopped") return { state: s, outputs: out }
  const state = ((): NodeState => {
    switch (input._tag) {
      case "Started":
        if (s.phase === "Joining") out.push({ _tag: "StartTimer", name: "join", delayMs: s.settings.joinTimeoutMs })
        out.push({ _tag: "StartTimer", name: "resync", delayMs: s.settings.resyncMs })
        return pass(s, input.nowMs, out)
      case "ClusterChanged":
        return (input.changes === undefined ? undefined : deltaPass(s, input.snapshot, input.changes)) ?? pass({ ...s, snapshot: input.snapshot }, input.nowMs, out)
      case "ConfigChanged":
        return configChanged(s, input, out)
      case "MembersChanged":
        return membersChanged(s, input, out)
      case "InterfacesScanned":
        return interfacesScanned(s, input.interfaces, input.nowMs, out)
      case "LinksPolled":
        // A leaver neither reports links nor rejoins: it is going away.
        return s.phase === "Leaving" ? s : linksPolled(s, input.up, input.polled, input.nowMs, out)
      case "StatusesFound":
      case "StatusWriteFailed": {
        // Unknown now: the next pass writes it again if wanted, deletes it if not.
        const written = new Map(s.statuses.get(input.kind) ?? [])
        for (const service of input._tag === "StatusesFound" ? input.services : [input.service]) if (input._tag === "StatusWriteFailed" || !written.has(service)) written.set(service, "")
        const next = { ...s, statuses: new Map([...s.statuses, [input.kind, written]]) }
        // A failed write is tried again at the next pass (the resync at the latest), not at once.
        return input._tag === "StatusesFound" ? pass(next, input.nowMs, out) : next
      }
      case "SessionStateChanged":
      case "SessionStatesFound":
      case "SessionStateWriteFailed":
        return sessionStateInput(s, input)
      case "SessionFailed": {
        out.push({ _tag: "Log", level: "warning", message: `bgp ${input.peer}: ${input.reason}` })
        const sessions = new Map(s.sessions)
        sessions.delete(input.peer)
        return { ...s, sessions }
      }
      case "Terminate": {
        if (s.phase === "Leaving") return s
        if (!s.settings.membership) return finish(s, out)
        const handOverMs = input.handOverMs ?? s.settings.handOverMs
        out.push({ _tag: "Log", level: "info", message: `speaker ${s.settings.nodeName}: leaving the membership, handing over for ${handOverMs} ms` })
        out.push({ _tag: "LeaveMembership" })
        // Our successors announce now; a gratuitous frame of ours would pull the neighbours back.
        out.push({ _tag: "Silence" })
        out.push({ _tag: "StartTimer", name: "handOver", delayMs: handOverMs })
        return { ...s, phase: "Leaving" }
      }
      case "TimerFired":
        switch (input.name) {
          case "join":
            if (s.phase !== "Joining") return s
            out.push({ _tag: "Log", level: "warning", message: `speaker ${s.settings.nodeName}: no other speaker answered within ${s.settings.joinTimeoutMs} ms; deciding alone` })
            return pass({ ...s, phase: "Running" }, input.nowMs, out)
          case "rejoinHold":
            return pass(s, input.nowMs, out)
          case "resync":
            out.push({ _tag: "StartTimer", name: "resync", delayMs: s.settings.resyncMs })
            // Nothing changed since the last pass (no failed write, no failed session): nothing to decide.
            return (s.snapshot === undefined ? undefined : deltaPass(s, s.snapshot, { since: s.snapshot, services: new Map() })) ?? pass(s, input.nowMs, out)
          case "handOver":
            return s.phase === "Leaving" ? finish(s, out) : s
        }
    }
  })()
  // The sessions this step opened or closed, and the states reported, as BGPSessionState objects;
  // before Stopped, which the shell takes as "every write handed over". A failed write waits for the
  // next input (the resync at the latest), as status writes do, rather than retrying in a loop.
  const published: Array<NodeOutput> = []
  const next = input._tag === "SessionStateWriteFailed" ? state : publishSessionStates(state, out, input.nowMs, published)
  const stoppedAt = out.findIndex((o) => o._tag === "Stopped")
  out.splice(stoppedAt < 0 ? out.length : stoppedAt, 0, ...published)
  return { state: next, outputs: out }
}
