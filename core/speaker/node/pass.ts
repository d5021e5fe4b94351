// One decision pass of a node: from the configuration in force, the cluster, the membership and the
// links, what this node answers for on which interface, which services it reports (events, status
// objects, metrics), and which BGP sessions run with which routes. Only the differences from what the
// drivers were told before are emitted, releases first (stop answering before anything else).
import { Result } from "effect"
import type { Config } from "../../config/config.ts"
import { addressKey } from "../../l2/ownership.ts"
import { formatAddress } from "../../net/address.ts"
import { bgpAnnouncements, peersForNode } from "../bgp.ts"
import { l2Announcements } from "../l2.ts"
import { routerIdFor, sessionFingerprint, type SessionSpec, sessionSpecFor, stableText } from "../session-config.ts"
import { takeoversOf } from "../takeover.ts"
import type { ClusterSnapshot, NodeView } from "../view.ts"
import type { AnnouncedSample, NodeOutput, StatusKind } from "./outputs.ts"
import type { NodeState, OwnedAddress } from "./state.ts"

/**
 * Held back from announcing: every link down, or rejoined and no member's full table has arrived since.
 * The table of the isolation is stale either way (others declared dead, or still listed alive because a
 * node that left stops probing); the rejoin's table exchange brings the cluster's.
 */
const holding = (s: NodeState, nowMs: number): { readonly held: boolean; readonly rejoinedAtMs: number | undefined } => {
  if (s.dataPathDown) return { held: true, rejoinedAtMs: s.rejoinedAtMs }
  if (s.rejoinedAtMs === undefined) return { held: false, rejoinedAtMs: undefined }
  const synced = s.syncedAtMs !== undefined && s.syncedAtMs >= s.rejoinedAtMs
  if (synced || nowMs - s.rejoinedAtMs >= s.settings.rejoinHoldMs) return { held: false, rejoinedAtMs: undefined }
  return { held: true, rejoinedAtMs: s.rejoinedAtMs }
}

/** Claims and releases that turn `before` into `after`, releases first. */
export const ownershipChanges = (
  before: ReadonlyMap<string, OwnedAddress>,
  after: ReadonlyMap<string, OwnedAddress>,
): ReadonlyArray<NodeOutput> => {
  const releases: Array<NodeOutput> = []
  const claims: Array<NodeOutput> = []
  for (const [key, o] of before) {
    const still = after.get(key)?.interfaces ?? []
    const gone = o.interfaces.filter((n) => !still.includes(n))
    if (gone.length > 0) releases.push({ _tag: "Release", address: o.address, interfaces: gone })
  }
  for (const [key, o] of after) {
    const had = before.get(key)?.interfaces ?? []
    const added = o.interfaces.filter((n) => !had.includes(n))
    if (added.length > 0) claims.push({ _tag: "Claim", service: o.service, address: o.address, interfaces: added })
  }
  return [...releases, ...claims]
}

/** Status objects: write what differs from what was written, delete what is no longer wanted. */
const statusChanges = (
  kind: StatusKind,
  written: ReadonlyMap<string, string>,
  desired: ReadonlyMap<string, Readonly<Record<string, unknown>>>,
  out: Array<NodeOutput>,
): ReadonlyMap<string, string> => {
  const next = new Map<string, string>()
  for (const [service, status] of desired) {
    const text = stableText(status)
    next.set(service, text)
    if (written.get(service) !== text) out.push({ _tag: "WriteStatus", kind, service, status })
  }
  for (const service of written.keys()) if (!desired.has(service)) out.push({ _tag: "DeleteStatus", kind, service })
  return next
}

interface BgpPart {
  readonly sessions: NodeState["sessions"]
  readonly sessionProblems: NodeState["sessionProblems"]
  readonly statuses: ReadonlyMap<string, string>
  readonly samples: ReadonlyArray<AnnouncedSample>
}

const bgpPass = (s: NodeState, config: Config, snapshot: ClusterSnapshot, self: NodeView, out: Array<NodeOutput>): BgpPart => {
  const options = { ignoreExcludeLb: s.settings.ignoreExcludeLb }
  const routerId = routerIdFor(s.settings.hostAddress, self)
  const sessionProblems = new Map(s.sessionProblems)
  const wanted = peersForNode(config, self)
  const specs = new Map<string, SessionSpec>()
  for (const name of wanted) {
    const spec = sessionSpecFor(config, name, routerId)
    if (Result.isSuccess(spec)) {
      specs.set(name, spec.success)
      sessionProblems.delete(name)
      continue
    }
    if (sessionProblems.get(name) !== spec.failure.message) out.push({ _tag: "Log", level: "warning", message: `bgp ${name}: ${spec.failure.message}` })
    sessionProblems.set(name, spec.failure.message)
  }
  for (const name of [...sessionProblems.keys()]) if (!wanted.includes(name)) sessionProblems.delete(name)
  const sessions = new Map(s.sessions)
  // A session is restarted only when what it was opened with changed.
  for (const [name, entry] of s.sessions) {
    const spec = specs.get(name)
    if (spec !== undefined && sessionFingerprint(spec) === entry.fingerprint) continue
    out.push({ _tag: "CloseSession", name })
    sessions.delete(name)
  }
  const routes = bgpAnnouncements(config, snapshot, self, options)
  for (const [name, spec] of specs) {
    let entry = sessions.get(name)
    if (entry === undefined) {
      out.push({ _tag: "OpenSession", name, spec })
      entry = { fingerprint: sessionFingerprint(spec), routes: "" }
    }
    const mine = routes.get(name) ?? []
    const text = stableText(mine)
    if (text !== entry.routes) out.push({ _tag: "UpdateRoutes", name, routes: mine })
    sessions.set(name, { fingerprint: entry.fingerprint, routes: text })
  }
  // Which peers hear each service from this node.
  const desired = new Map<string, Readonly<Record<string, unknown>>>()
  const samples: Array<AnnouncedSample> = []
  for (const service of snapshot.services) {
    if (service.addresses.length === 0) continue
    const perPeer = bgpAnnouncements(config, { ...snapshot, services: [service] }, self, options)
    const peers = [...perPeer].filter(([name, rs]) => rs.length > 0 && sessions.has(name)).map(([name]) => name).sort()
    if (peers.length === 0) continue
    desired.set(service.key, { peers })
    for (const address of service.addresses) samples.push({ service: service.key, protocol: "bgp", ip: formatAddress(address) })
  }
  const statuses = statusChanges("ServiceBGPStatus", s.statuses.get("ServiceBGPStatus") ?? new Map(), desired, out)
  return { sessions, sessionProblems, statuses, samples }
}

/** Decide now; undefined phases, configuration or cluster decide nothing. */
export const pass = (s: NodeState, nowMs: number, out: Array<NodeOutput>): NodeState => {
  const config = s.config.config
  const snapshot = s.snapshot
  if (s.phase !== "Running" || config === undefined || snapshot === undefined) return s
  const { nodeName } = s.settings
  const decision = l2Announcements(config, snapshot, nodeName, s.members, {
    ignoreExcludeLb: s.settings.ignoreExcludeLb,
    ...(s.members === undefined ? {} : { downInterfaces: s.membersDown }),
  })
  const { held, rejoinedAtMs } = holding(s, nowMs)
  // Never on a link that is down, even before the membership has told the others (or without membership).
  const upNames = s.interfaces.map((i) => i.name).filter((n) => !s.linksDown.includes(n))
  const owned = new Map<string, OwnedAddress>()
  if (!held) {
    for (const c of decision.claims) {
      owned.set(addressKey(c.address), { service: c.service, address: c.address, interfaces: c.interfaces.length > 0 ? c.interfaces.filter((n) => upNames.includes(n)) : upNames })
    }
  }
  out.push(...ownershipChanges(s.owned, owned))
  // While held back this node announces nothing, so it takes nothing over.
  const takeover = takeoversOf(s.previousOwners, held ? new Map() : decision.elections, nodeName, s.members)
  const lostMembers = new Map(s.lostMembers)
  for (const { service, from } of takeover.takeovers) {
    const lastHeardAtMs = lostMembers.get(from)
    if (lastHeardAtMs !== undefined) out.push({ _tag: "ObserveTakeover", service, from, seconds: (nowMs - lastHeardAtMs) / 1000 })
  }
  for (const name of [...lostMembers.keys()]) if (s.members?.has(name) === true) lostMembers.delete(name)
  // One nodeAssigned event per service and set of addresses.
  const byService = new Map<string, Array<string>>()
  for (const c of decision.claims) byService.set(c.service, [...(byService.get(c.service) ?? []), formatAddress(c.address)])
  const announcedEvents = new Map<string, string>()
  for (const [service, ips] of byService) {
    const text = ips.join(",")
    announcedEvents.set(service, text)
    if (s.announcedEvents.get(service) !== text) out.push({ _tag: "Emit", service, reason: "nodeAssigned", note: `announcing from node "${nodeName}" with protocol "layer2"` })
  }
  const l2Desired = new Map<string, Set<string>>()
  for (const o of owned.values()) l2Desired.set(o.service, new Set([...(l2Desired.get(o.service) ?? []), ...o.interfaces]))
  const l2Statuses = statusChanges("ServiceL2Status", s.statuses.get("ServiceL2Status") ?? new Map(),
    new Map([...l2Desired].map(([service, names]) => [service, { interfaces: [...names].sort().map((name) => ({ name })) }])), out)
  const samples: Array<AnnouncedSample> = owned.size === 0 ? [] : decision.claims.map((c) => ({ service: c.service, protocol: "layer2", ip: formatAddress(c.address) }))
  const self = snapshot.nodes.find((n) => n.name === nodeName)
  const bgp = self === undefined ? undefined : bgpPass(s, config, snapshot, self, out)
  samples.push(...(bgp?.samples ?? []))
  const samplesText = stableText(samples)
  if (samplesText !== s.announcedSamples) out.push({ _tag: "Announced", samples })
  return {
    ...s,
    rejoinedAtMs,
    owned,
    previousOwners: takeover.owners,
    lostMembers,
    announcedEvents,
    statuses: new Map([["ServiceL2Status", l2Statuses], ["ServiceBGPStatus", bgp?.statuses ?? s.statuses.get("ServiceBGPStatus") ?? new Map()]]),
    sessions: bgp?.sessions ?? s.sessions,
    sessionProblems: bgp?.sessionProblems ?? s.sessionProblems,
    announcedSamples: samplesText,
  }
}
