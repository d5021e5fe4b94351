// One decision pass of a node: from the configuration in force, the cluster, the membership and the
// links, what this node answers for on which interface, which services it reports (events, status
// objects, metrics), and which BGP sessions run with which routes. Only the differences from what the
// drivers were told before are emitted, releases first (stop answering before anything else).
import { Result } from "effect"
import type { Config } from "../../config/config.ts"
import { formatAddress } from "../../net/address.ts"
import { type DesiredRoute, mergeRoutes } from "../../bgp/rib.ts"
import type { Election } from "../../election/owner.ts"
import { nodeExcluded, peersForNode } from "../bgp.ts"
import { routerIdFor, sessionFingerprint, type SessionSpec, sessionSpecFor, stableText } from "../session-config.ts"
import { takeoversOf } from "../takeover.ts"
import type { NodeView, SpeakerService } from "../view.ts"
import type { AnnouncedSample, NodeOutput, StatusKind } from "./outputs.ts"
import { type BgpEpoch, bgpEpochOf, decideService, l2EpochOf, type PassCache, type ServiceDecision } from "./pass-cache.ts"
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

const sameNames = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean => a === b || (a.length === b.length && a.every((x, i) => x === b[i]))

/** Claims and releases that turn `before` into `after`, releases first. */
export const ownershipChanges = (
  before: ReadonlyMap<string, OwnedAddress>,
  after: ReadonlyMap<string, OwnedAddress>,
): ReadonlyArray<NodeOutput> => {
  const releases: Array<NodeOutput> = []
  const claims: Array<NodeOutput> = []
  for (const [key, o] of before) {
    const now = after.get(key)
    if (now === o) continue
    const still = now?.interfaces ?? []
    const gone = o.interfaces.filter((n) => !still.includes(n))
    if (gone.length > 0) releases.push({ _tag: "Release", address: o.address, interfaces: gone })
  }
  for (const [key, o] of after) {
    const was = before.get(key)
    if (was === o) continue
    const had = was?.interfaces ?? []
    const added = o.interfaces.filter((n) => !had.includes(n))
    if (added.length > 0) claims.push({ _tag: "Claim", service: o.service, address: o.address, interfaces: added })
  }
  return [...releases, ...claims]
}

/** Status objects: write what differs from what was written, delete what is no longer wanted. */
const statusChanges = (
  kind: StatusKind,
  written: ReadonlyMap<string, string>,
  desired: ReadonlyMap<string, { readonly value: Readonly<Record<string, unknown>>; readonly text: string }>,
  out: Array<NodeOutput>,
): ReadonlyMap<string, string> => {
  const next = new Map<string, string>()
  for (const [service, { value, text }] of desired) {
    next.set(service, text)
    if (written.get(service) !== text) out.push({ _tag: "WriteStatus", kind, service, status: value })
  }
  for (const service of written.keys()) if (!desired.has(service)) out.push({ _tag: "DeleteStatus", kind, service })
  return next
}

/** The sessions this node runs: a spec per selected peer, and the reason for each that cannot run (said once). */
const sessionSpecs = (s: NodeState, config: Config, self: NodeView) => {
  const routerId = routerIdFor(s.settings.hostAddress, self)
  const wanted = peersForNode(config, self)
  const specs = new Map<string, SessionSpec>()
  const problems = new Map<string, string>()
  for (const name of wanted) {
    const spec = sessionSpecFor(config, name, routerId)
    if (Result.isSuccess(spec)) specs.set(name, spec.success)
    else problems.set(name, spec.failure.message)
  }
  return { wanted, specs, problems }
}

interface BgpPart {
  readonly sessions: NodeState["sessions"]
  readonly sessionProblems: NodeState["sessionProblems"]
  readonly statuses: ReadonlyMap<string, string>
  readonly routes: PassCache["routes"]
}

const bgpPass = (
  s: NodeState,
  setup: ReturnType<typeof sessionSpecs>,
  routesOf: () => PassCache["routes"],
  statusesKept: ReadonlyMap<string, string> | undefined,
  decisions: ReadonlyArray<ServiceDecision>,
  out: Array<NodeOutput>,
): BgpPart => {
  const { wanted, specs, problems } = setup
  const sessionProblems = new Map(s.sessionProblems)
  for (const name of wanted) {
    const problem = problems.get(name)
    if (problem === undefined) {
      sessionProblems.delete(name)
      continue
    }
    if (sessionProblems.get(name) !== problem) out.push({ _tag: "Log", level: "warning", message: `bgp ${name}: ${problem}` })
    sessionProblems.set(name, problem)
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
  const routes = routesOf()
  for (const [name, spec] of specs) {
    let entry = sessions.get(name)
    if (entry === undefined) {
      out.push({ _tag: "OpenSession", name, spec })
      entry = { fingerprint: sessionFingerprint(spec), routes: "" }
    }
    const mine = routes.get(name) ?? noRoutes
    if (mine.text !== entry.routes) out.push({ _tag: "UpdateRoutes", name, routes: mine.routes })
    sessions.set(name, { fingerprint: entry.fingerprint, routes: mine.text })
  }
  if (statusesKept !== undefined) return { sessions, sessionProblems, statuses: statusesKept, routes }
  // Which peers hear each service from this node.
  const desired = new Map<string, { readonly value: Readonly<Record<string, unknown>>; readonly text: string }>()
  for (const d of decisions) if (d.bgpStatus !== undefined) desired.set(d.service.key, d.bgpStatus)
  const statuses = statusChanges("ServiceBGPStatus", s.statuses.get("ServiceBGPStatus") ?? new Map(), desired, out)
  return { sessions, sessionProblems, statuses, routes }
}

const noRoutes = { routes: [], text: "[]" }

/** Routes per peer for this node: every service's, in the snapshot's order, merged per peer. */
const mergedRoutes = (epoch: BgpEpoch, decisions: ReadonlyArray<ServiceDecision>, ignoreExcludeLb: boolean): PassCache["routes"] => {
  const perPeer = new Map<string, Array<DesiredRoute>>(epoch.peers.map((p) => [p, []]))
  if (!nodeExcluded(epoch.self, { ignoreExcludeLb })) {
    for (const d of decisions) for (const [peer, rs] of d.routes ?? []) perPeer.get(peer)?.push(...rs)
  }
  return new Map([...perPeer].map(([peer, routes]) => {
    const merged = mergeRoutes(routes)
    return [peer, { routes: merged, text: stableText(merged) }]
  }))
}

/** Decide now; undefined phases, configuration or cluster decide nothing. */
export const pass = (s: NodeState, nowMs: number, out: Array<NodeOutput>): NodeState => {
  const config = s.config.config
  const snapshot = s.snapshot
  if (s.phase !== "Running" || config === undefined || snapshot === undefined) return s
  const { nodeName, ignoreExcludeLb } = s.settings
  const cache = s.passCache
  const self = snapshot.nodes.find((n) => n.name === nodeName)
  const l2Epoch = l2EpochOf(cache.l2Epoch, config, snapshot, s.members, s.members === undefined ? undefined : s.membersDown)
  const setup = self === undefined ? undefined : sessionSpecs(s, config, self)
  const bgpEpoch = self === undefined || setup === undefined ? undefined : bgpEpochOf(cache.bgpEpoch, config, self, setup.wanted, [...setup.specs.keys()])
  // Each service's decisions: the cached ones where its view and the epochs are the same.
  const ctx = { config, snapshot, nodeName, self, ignoreExcludeLb: ignoreExcludeLb ?? false, l2Epoch, bgpEpoch }
  const decisions: Array<ServiceDecision> = []
  const fresh: Array<ServiceDecision> = []
  let sameOrder = cache.order.length === snapshot.services.length
  let recomputed = false
  let routesChanged = false
  let samplesChanged = false
  let bgpStatusChanged = false
  for (let i = 0; i < snapshot.services.length; i++) {
    const service = snapshot.services[i]!
    if (sameOrder && cache.order[i] !== service.key) sameOrder = false
    // In the same order as at the last pass, its decision is at the same index (no map lookup), unless a
    // delta pass decided it since.
    const previous = (cache.recent.size === 0 ? undefined : cache.recent.get(service.key)) ?? (sameOrder ? cache.list[i] : cache.decisions.get(service.key))
    let d = previous
    if (d === undefined || d.l2Epoch !== l2Epoch || d.bgpEpoch !== bgpEpoch || !cache.reusable(d, service, snapshot.endpoints.get(service.key))) {
      d = decideService(ctx, service, previous)
      recomputed = true
      fresh.push(d)
      if (previous === undefined || previous.routesText !== d.routesText) routesChanged = true
      if (previous === undefined || previous.l2SamplesText !== d.l2SamplesText || previous.bgpSamplesText !== d.bgpSamplesText) samplesChanged = true
      if (previous?.bgpStatus?.text !== d.bgpStatus?.text) bgpStatusChanged = true
    }
    decisions.push(d)
  }
  const unchanged = !recomputed && sameOrder && cache.recent.size === 0
  const decisionMap = unchanged
    ? cache.decisions
    : sameOrder
    ? withDecisions(cache.decisions, cache.recent.size === 0 ? fresh : [...cache.recent.values(), ...fresh])
    : new Map(decisions.map((d) => [d.service.key, d]))
  const { held, rejoinedAtMs } = holding(s, nowMs)
  // Never on a link that is down, even before the membership has told the others (or without membership).
  const upNames = s.interfaces.map((i) => i.name).filter((n) => !s.linksDown.includes(n))
  const claims = decisions.filter((d) => d.claimInterfaces !== undefined)
  const owned = new Map<string, OwnedAddress>()
  if (!held) {
    for (const { service, claimInterfaces, claimKeys } of claims) {
      const interfaces = claimInterfaces!.length > 0 ? claimInterfaces!.filter((n) => upNames.includes(n)) : upNames
      service.addresses.forEach((address, j) => {
        // The very object owned before when nothing about it changed, so the diff below is a comparison of references.
        const before = s.owned.get(claimKeys[j]!)
        owned.set(claimKeys[j]!, before !== undefined && before.service === service.key && before.address === address && sameNames(before.interfaces, interfaces)
          ? before
          : { service: service.key, address, interfaces })
      })
    }
  }
  out.push(...ownershipChanges(s.owned, owned))
  // While held back this node announces nothing, so it takes nothing over. When the last pass was not
  // held either and the services are the same, only the elections decided again can change an owner.
  const takeover = sameOrder && !held && cache.ownersHeld === false && s.previousOwners === cache.owners && decisionMap.size === decisions.length
    ? takeoversAmong(s.previousOwners, fresh, nodeName, s.members)
    : takeoversOf(s.previousOwners, held ? new Map() : electionsOf(decisions), nodeName, s.members)
  const lostMembers = new Map(s.lostMembers)
  for (const { service, from } of takeover.takeovers) {
    const lastHeardAtMs = lostMembers.get(from)
    if (lastHeardAtMs !== undefined) out.push({ _tag: "ObserveTakeover", service, from, seconds: (nowMs - lastHeardAtMs) / 1000 })
  }
  for (const name of [...lostMembers.keys()]) if (s.members?.has(name) === true) lostMembers.delete(name)
  // One nodeAssigned event per service and set of addresses.
  const byService = new Map<string, Array<string>>()
  for (const { service, claimIps } of claims) {
    const known = byService.get(service.key)
    if (known === undefined) byService.set(service.key, [...claimIps])
    else known.push(...claimIps)
  }
  const announcedEvents = new Map<string, string>()
  for (const [service, ips] of byService) {
    const text = ips.join(",")
    announcedEvents.set(service, text)
    if (s.announcedEvents.get(service) !== text) out.push({ _tag: "Emit", service, reason: "nodeAssigned", note: `announcing from node "${nodeName}" with protocol "layer2"` })
  }
  const l2Desired = new Map<string, Set<string>>()
  for (const o of owned.values()) {
    const names = l2Desired.get(o.service)
    if (names === undefined) l2Desired.set(o.service, new Set(o.interfaces))
    else for (const n of o.interfaces) names.add(n)
  }
  // Few distinct interface sets: each status value and its text made once per pass.
  const l2StatusOf = new Map<string, { readonly value: Readonly<Record<string, unknown>>; readonly text: string }>()
  const l2Status = (names: Set<string>) => {
    const sorted = [...names].sort()
    const key = sorted.join(" ")
    let status = l2StatusOf.get(key)
    if (status === undefined) {
      const value = { interfaces: sorted.map((name) => ({ name })) }
      status = { value, text: stableText(value) }
      l2StatusOf.set(key, status)
    }
    return status
  }
  const l2Statuses = statusChanges("ServiceL2Status", s.statuses.get("ServiceL2Status") ?? new Map(),
    new Map([...l2Desired].map(([service, names]) => [service, l2Status(names)])), out)
  const l2Samples = owned.size > 0
  const routesOf = () => (bgpEpoch === cache.bgpEpoch && !routesChanged && sameOrder ? cache.routes : mergedRoutes(bgpEpoch!, decisions, ctx.ignoreExcludeLb))
  // The status objects as written at the last pass, when no service's changed since.
  const writtenBgp = s.statuses.get("ServiceBGPStatus")
  const bgpStatusesKept = sameOrder && !bgpStatusChanged && writtenBgp !== undefined && writtenBgp === cache.bgpStatuses ? writtenBgp : undefined
  const bgp = setup === undefined ? undefined : bgpPass(s, setup, routesOf, bgpStatusesKept, decisions, out)
  const samplesText = sameOrder && !samplesChanged && l2Samples === cache.l2Samples ? cache.samplesText : samplesTextOf(decisions, l2Samples)
  if (samplesText !== s.announcedSamples) out.push({ _tag: "Announced", samples: samplesOf(decisions, l2Samples) })
  const statuses: NodeState["statuses"] = new Map([["ServiceL2Status", l2Statuses], ["ServiceBGPStatus", bgp?.statuses ?? s.statuses.get("ServiceBGPStatus") ?? new Map()]])
  const sessions = bgp?.sessions ?? s.sessions
  return {
    ...s,
    rejoinedAtMs,
    owned,
    previousOwners: takeover.owners,
    lostMembers,
    announcedEvents,
    statuses,
    sessions,
    sessionProblems: bgp?.sessionProblems ?? s.sessionProblems,
    announcedSamples: samplesText,
    passCache: {
      snapshot,
      after: { owned, statuses, sessions, announcedEvents, interfaces: s.interfaces, linksDown: s.linksDown },
      recent: new Map(),
      l2Epoch,
      bgpEpoch,
      decisions: decisionMap,
      list: unchanged ? cache.list : decisions,
      order: sameOrder ? cache.order : snapshot.services.map((sv) => sv.key),
      routes: bgp?.routes ?? new Map(),
      samplesText,
      l2Samples,
      bgpStatuses: bgp?.statuses,
      owners: takeover.owners,
      ownersHeld: held,
      reusable: cache.reusable,
      recentLimit: cache.recentLimit,
    },
  }
}

const withDecisions = (before: ReadonlyMap<string, ServiceDecision>, fresh: ReadonlyArray<ServiceDecision>): ReadonlyMap<string, ServiceDecision> => {
  const map = new Map(before)
  for (const d of fresh) map.set(d.service.key, d)
  return map
}

/** takeoversOf for the elections decided again only; the others' owners are the previous ones. */
const takeoversAmong = (
  previousOwners: ReadonlyMap<string, string>,
  fresh: ReadonlyArray<ServiceDecision>,
  nodeName: string,
  members: ReadonlySet<string> | undefined,
): ReturnType<typeof takeoversOf> => {
  let owners = previousOwners
  const elections = new Map<string, Election>()
  for (const d of fresh) {
    const owner = d.election?.owner
    const previous = previousOwners.get(d.service.key)
    if (owner === previous) continue
    if (owners === previousOwners) owners = new Map(previousOwners)
    if (owner === undefined) (owners as Map<string, string>).delete(d.service.key)
    else elections.set(d.service.key, d.election!)
  }
  if (elections.size === 0) return { takeovers: [], owners }
  const step = takeoversOf(previousOwners, elections, nodeName, members)
  for (const [service, owner] of step.owners) (owners as Map<string, string>).set(service, owner)
  return { takeovers: step.takeovers, owners }
}

const electionsOf = (decisions: ReadonlyArray<ServiceDecision>): ReadonlyMap<string, Election> => {
  const elections = new Map<string, Election>()
  for (const d of decisions) if (d.election !== undefined) elections.set(d.service.key, d.election)
  return elections
}

const samplesTextOf = (decisions: ReadonlyArray<ServiceDecision>, l2: boolean): string => {
  const parts: Array<string> = []
  if (l2) for (const d of decisions) if (d.l2SamplesText !== "") parts.push(d.l2SamplesText)
  for (const d of decisions) if (d.bgpSamplesText !== "") parts.push(d.bgpSamplesText)
  return `[${parts.join(",")}]`
}

const samplesOf = (decisions: ReadonlyArray<ServiceDecision>, l2: boolean): ReadonlyArray<AnnouncedSample> => {
  const samples: Array<AnnouncedSample> = []
  const add = (service: SpeakerService, protocol: AnnouncedSample["protocol"]) => {
    for (const address of service.addresses) samples.push({ service: service.key, protocol, ip: formatAddress(address) })
  }
  if (l2) for (const d of decisions) if (d.claimInterfaces !== undefined) add(d.service, "layer2")
  for (const d of decisions) if (d.bgpStatus !== undefined) add(d.service, "bgp")
  return samples
}
