// `explain`: why a Service has the addresses it has (or none), and who announces them, computed by the
// functions the controller and the speakers run, on a cluster read once (core/snapshot):
// - the configuration: core/config/in-force.ts's updateConfig, as both processes resolve it;
// - the addresses: the controller's passes (core/controller/reconcile.ts, run to a settled state by
//   core/plan/converge.ts), then the allocator itself (core/ipam) asked about each pool;
// - Layer 2: the speaker's election input (core/speaker/l2.ts) and core/election/owner.ts with each
//   node's verdict; BGP: the speaker's per-service routes per node (core/speaker/bgp.ts), the
//   session settings (core/speaker/session-config.ts) and the sessions' states the speakers publish
//   (BGPSessionState, sessions.ts).
// Nothing is decided here; this file only asks and words the answers' structure.
import { Data, Result } from "effect"
import type { Config } from "../config/config.ts"
import { formatConfigError } from "../config/errors.ts"
import { noConfig, updateConfig } from "../config/in-force.ts"
import { formatCommunity } from "../config/rules/communities.ts"
import { applyConfig, type ControllerOptions, initialState, type KeepRefusal, type ServiceOutcome } from "../controller/reconcile.ts"
import { annotation, intentOf, serviceKey, type ServiceView } from "../controller/service.ts"
import { electOwnerWithReasons } from "../election/owner.ts"
import { mergeRoutes } from "../bgp/rib.ts"
import { allocateFromPool, type Allocator, allocationOf, candidatePools, holdersOf, release } from "../ipam/allocator.ts"
import { familiesOf } from "../ipam/dual-stack.ts"
import type { IpamError } from "../ipam/errors.ts"
import { incompatibility, type ServiceRef } from "../ipam/service.ts"
import type { Family } from "../net/address.ts"
import { parseAddress } from "../net/address.ts"
import { formatPrefix } from "../net/prefix.ts"
import { converge } from "../plan/converge.ts"
import { type ClusterState, type Membership, speakerMembership, toolConfigSources } from "../snapshot/cluster-state.ts"
import { peersForNode, poolOf, serviceRoutesForNode } from "../speaker/bgp.ts"
import { l2ElectionSetup, ownerInterfaces } from "../speaker/l2.ts"
import { routerIdFor, sessionSpecFor } from "../speaker/session-config.ts"
import type { SpeakerService } from "../speaker/view.ts"
import { sessionDown, sessionOf, sessionStatesGap } from "./sessions.ts"
import type {
  Allocation,
  BgpExplanation,
  ConfigExplanation,
  Explanation,
  HowChosen,
  L2Explanation,
  PoolVerdict,
  ServiceExplanation,
  SharedAddress,
} from "./explanation.ts"

export interface ExplainOptions {
  /** The speakers' --ignore-exclude-lb. */
  readonly ignoreExcludeLb?: boolean
}

/** What every service's explanation shares: the configuration and the controller's settled state. */
interface Computed {
  readonly config: Config | undefined
  readonly configExplanation: ConfigExplanation
  readonly allocator: Allocator | undefined
  readonly last: ReadonlyMap<string, ServiceOutcome>
  readonly released: ReadonlyMap<string, ServiceOutcome>
  readonly membership: Membership
  readonly namespaceLabels: (namespace: string) => Readonly<Record<string, string>>
  readonly notes: ReadonlyArray<string>
}

const compute = (state: ClusterState): Computed => {
  const { sources, notes } = toolConfigSources(state)
  const { change } = updateConfig(noConfig, sources)
  const labels = new Map(state.namespaces.map((n) => [n.name, n.labels]))
  const namespaceLabels = (namespace: string) => labels.get(namespace) ?? {}
  const membership = speakerMembership(state)
  const reported = state.configurationState?.result
  const configExplanation: ConfigExplanation = {
    valid: change._tag === "Applied",
    errors: change._tag === "Rejected" ? change.errors.map(formatConfigError) : [],
    warnings: change._tag === "Unchanged" ? [] : change.warnings.map(formatConfigError),
    ...(reported === undefined ? {} : { reported }),
  }
  if (change._tag !== "Applied") {
    return { config: undefined, configExplanation, allocator: undefined, last: new Map(), released: new Map(), membership, namespaceLabels, notes }
  }
  const options: ControllerOptions = state.loadBalancerClass === undefined ? {} : { loadBalancerClass: state.loadBalancerClass }
  const settled = converge(applyConfig(initialState, change.config), state.services, namespaceLabels, options)
  const more = settled.settled ? [] : [`the controller's passes did not settle in ${settled.passes} passes: the answer is the last pass's`]
  return {
    config: change.config,
    configExplanation,
    allocator: settled.state.allocator,
    last: settled.last,
    released: settled.released,
    membership,
    namespaceLabels,
    notes: [...notes, ...more],
  }
}

const keepRefusalText = (why: KeepRefusal): string => {
  switch (why._tag) {
    case "RequestsOthers":
      return `it requests ${why.requested.join(", ")}`
    case "FamiliesChanged":
      return `its address families are now ${why.wanted.join("+")}`
    case "Refused":
      return why.error.message
    case "OtherPool":
      return `its address-pool annotation names ${JSON.stringify(why.annotated)}, the addresses are in ${JSON.stringify(why.holding)}`
  }
}

const lacksFamily = (config: Config, pool: string, families: ReadonlyArray<Family>): Family | undefined =>
  families.find((f) => !(config.pools.get(pool)?.ranges.some((r) => r.family === f) ?? false))

/** The allocator's answer for one pool, as a verdict (its error, classified). */
const verdictOf = (config: Config, pool: string, error: IpamError | undefined, families: ReadonlyArray<Family>): Pick<PoolVerdict, "verdict" | "detail"> => {
  if (error === undefined) return { verdict: "chosen" }
  switch (error._tag) {
    case "PoolExhausted": {
      const missing = lacksFamily(config, pool, families)
      return missing === undefined ? { verdict: "exhausted", detail: error.message } : { verdict: "family", detail: `no ${missing} range` }
    }
    case "IncompatiblePool":
      return { verdict: error.reason, detail: error.message }
    default:
      return { verdict: "refused", detail: error.message }
  }
}

/**
 * Every pool as the allocator sees it for this service: excluded ones with the rule (autoAssign,
 * namespace, serviceSelector), the candidates in candidatePools' order, each asked with
 * allocateFromPool (family, exhausted, chosen), those after the chosen one not tried.
 */
const poolVerdicts = (
  config: Config,
  allocator: Allocator,
  ref: ServiceRef,
  request: { readonly families: ReadonlyArray<Family>; readonly ports: ReadonlyArray<{ readonly protocol: "TCP" | "UDP" | "SCTP"; readonly port: number }>; readonly sharingKey: string; readonly backendKey: string },
  chosen: string | undefined,
): ReadonlyArray<PoolVerdict> => {
  const without = release(allocator, ref.key)
  const order = candidatePools(without, ref)
  const out: Array<PoolVerdict> = []
  let found = false
  for (const name of order) {
    const pool = config.pools.get(name)!
    const base = { pool: name, priority: pool.serviceAllocation?.priority ?? 0, pinned: pool.serviceAllocation !== undefined }
    if (found) {
      out.push({ ...base, verdict: "notTried" })
      continue
    }
    const outcome = allocateFromPool(without, name, { service: ref, ...request })
    const verdict = verdictOf(config, name, Result.isFailure(outcome) ? outcome.failure : undefined, request.families)
    // A pool with room that is not the one the service got (it kept or requested others): say so, not "chosen".
    const v = verdict.verdict === "chosen" && chosen !== name ? { verdict: "notTried" as const, detail: "has room" } : verdict
    if (v.verdict === "chosen") found = true
    out.push({ ...base, ...v })
  }
  for (const pool of [...config.pools.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (order.includes(pool.name)) continue
    const base = { pool: pool.name, priority: pool.serviceAllocation?.priority ?? 0, pinned: pool.serviceAllocation !== undefined }
    const incompatible = incompatibility(pool, ref)
    if (incompatible !== undefined) out.push({ ...base, verdict: incompatible.reason, detail: incompatible.message })
    else if (pool.name === chosen) out.push({ ...base, verdict: "chosen" })
    else if (!pool.autoAssign) out.push({ ...base, verdict: "autoAssign", detail: "autoAssign is false: only a requested address or the address-pool annotation takes from it" })
  }
  return out
}

const portText = (p: { readonly protocol: string; readonly port: number }) => `${p.protocol}/${p.port}`

const sharingOf = (allocator: Allocator, key: string, addresses: ReadonlyArray<string>): ReadonlyArray<SharedAddress> => {
  const own = allocationOf(allocator, key)
  return addresses.flatMap((text) => {
    const parsed = parseAddress(text)
    if (Result.isFailure(parsed)) return []
    const others = holdersOf(allocator, parsed.success).filter((s) => s !== key)
    if (others.length === 0) return []
    return [{
      address: text,
      sharingKey: own?.sharingKey ?? "",
      with: others.sort().map((service) => ({ service, ports: (allocationOf(allocator, service)?.ports ?? []).map(portText) })),
    }]
  })
}

const allocationFor = (state: ClusterState, c: Computed, view: ServiceView): Allocation => {
  const ours = state.loadBalancerClass
  if (view.type !== "LoadBalancer") return { _tag: "NotLoadBalancer", type: view.type }
  if (view.loadBalancerClass !== ours) return { _tag: "OtherClass", loadBalancerClass: view.loadBalancerClass, ours }
  if (c.config === undefined || c.allocator === undefined) return { _tag: "NoConfiguration" }
  const key = serviceKey(view)
  const outcome = c.last.get(key)
  const intent = intentOf(view, c.namespaceLabels(view.namespace))
  const warning = outcome?.events.find((e) => e.type === "Warning" && e.reason !== "deprecatedAnnotation")
  if (outcome === undefined || Result.isFailure(intent)) return { _tag: "BadRequest", message: warning?.message ?? (Result.isFailure(intent) ? intent.failure : "no outcome") }
  const families = familiesOf(intent.success.clusterIPs, intent.success.ipFamilyPolicy)
  const request = { families: Result.isSuccess(families) ? families.success : [], ports: intent.success.ports, sharingKey: intent.success.sharingKey, backendKey: intent.success.backendKey }
  const releasedOutcome = c.released.get(key)?.released
  const released = releasedOutcome === undefined ? {} : { released: { held: releasedOutcome.held, why: keepRefusalText(releasedOutcome.why) } }
  if (outcome.failure !== undefined) {
    const error = outcome.failure
    const withPools = error._tag === "PoolExhausted" || error._tag === "IncompatiblePool" || error._tag === "UnknownPool"
    return {
      _tag: "Failed",
      error: error._tag,
      message: error.message,
      holders: error._tag === "AddressInUse" ? error.by : error._tag === "PortConflict" ? [error.by] : [],
      pools: withPools && Result.isSuccess(families) ? poolVerdicts(c.config, c.allocator, intent.success.service, request, undefined) : [],
      ...released,
    }
  }
  if (outcome.ingress === undefined || outcome.ingress.length === 0 || outcome.pool === undefined) {
    return { _tag: "BadRequest", message: warning?.message ?? "the controller gives it no address" }
  }
  const requestedBy = annotation(view, "loadBalancerIPs").value !== undefined ? "annotation" as const : "spec.loadBalancerIP" as const
  const sameAsStatus = view.ingressIPs.length === outcome.ingress.length && view.ingressIPs.every((ip) => outcome.ingress?.includes(ip))
  const how: HowChosen = intent.success.requested.length > 0
    ? { _tag: "Requested", by: requestedBy }
    : sameAsStatus && releasedOutcome === undefined
    ? { _tag: "KeptFromStatus" }
    : intent.success.pool !== undefined
    ? { _tag: "AnnotatedPool", pool: intent.success.pool }
    : { _tag: "PoolOrder" }
  return {
    _tag: "Assigned",
    addresses: outcome.ingress,
    pool: outcome.pool,
    how,
    pools: how._tag === "PoolOrder" && Result.isSuccess(families) ? poolVerdicts(c.config, c.allocator, intent.success.service, request, outcome.pool) : [],
    shared: sharingOf(c.allocator, key, outcome.ingress),
    ...released,
  }
}

const layer2For = (state: ClusterState, c: Computed, service: SpeakerService, options: ExplainOptions): L2Explanation | undefined => {
  if (c.config === undefined) return undefined
  const l2Options = { ignoreExcludeLb: options.ignoreExcludeLb ?? false }
  const setup = l2ElectionSetup(c.config, state.speaker, service, c.membership.members, l2Options)
  if (setup === undefined) return undefined
  const { election, verdicts } = electOwnerWithReasons(setup.input)
  const owner = election.owner === undefined ? undefined : state.speaker.nodes.find((n) => n.name === election.owner)
  const rank = new Map(election.candidates.map((n, i) => [n, i + 1]))
  const nodes = verdicts.map((v) =>
    v._tag === "Candidate"
      ? { node: v.node, reason: "candidate" as const, rank: rank.get(v.node) ?? 0, score: v.score }
      : { node: v.node, reason: v.reason }
  ).sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity) || a.node.localeCompare(b.node))
  return {
    pool: setup.pool.name,
    advertisements: setup.advertisements.map((a) => a.name),
    interfaces: owner === undefined ? [] : ownerInterfaces(setup.advertisements, owner, service),
    ...(election.owner === undefined ? {} : { owner: election.owner }),
    result: election.reason,
    nodes,
    reported: state.statuses.filter((s) => s.kind === "ServiceL2Status" && s.service === service.key).map((s) => ({ node: s.node, interfaces: s.interfaces })),
  }
}

const bgpFor = (state: ClusterState, c: Computed, service: SpeakerService, options: ExplainOptions): BgpExplanation | undefined => {
  const config = c.config
  if (config === undefined || service.addresses.length === 0) return undefined
  const pool = poolOf(config, service)
  if (pool === undefined || !config.bgpAdvertisements.some((ad) => ad.pools.includes(pool.name))) return undefined
  const reports = state.statuses.filter((s) => s.kind === "ServiceBGPStatus" && s.service === service.key)
  const running = c.membership.members
  const nodes = state.speaker.nodes.map((node) => {
    const peers = peersForNode(config, node)
    const sessions = peers.map((peer) => sessionOf(state, config, node.name, peer))
    const routes = serviceRoutesForNode(config, state.speaker, service, node, peers, { ignoreExcludeLb: options.ignoreExcludeLb ?? false })
    const noSpeaker = running !== undefined && !running.has(node.name)
    if (routes._tag === "None") return { node: node.name, reason: routes.reason, advertisements: [], peers: [], sessions }
    const reported = reports.find((r) => r.node === node.name)?.peers ?? []
    const routerId = routerIdFor(undefined, node)
    const selected = sessions.filter((s) => routes.perPeer.has(s.peer))
    const allDown = selected.length > 0 && selected.every(sessionDown)
    return {
      node: node.name,
      reason: noSpeaker ? "NoSpeaker" : allDown ? "SessionDown" : "advertises",
      sessions,
      advertisements: routes.advertisements,
      peers: [...routes.perPeer].sort(([a], [b]) => a.localeCompare(b)).map(([peer, rs]) => {
        const spec = sessionSpecFor(config, peer, routerId)
        return {
          peer,
          routes: mergeRoutes(rs).map((r) => ({
            prefix: formatPrefix(r.prefix),
            ...(r.localPref === undefined ? {} : { localPref: r.localPref }),
            communities: r.communities.map(formatCommunity),
          })),
          reported: reported.includes(peer),
          ...(Result.isFailure(spec) ? { sessionProblem: spec.failure.message } : {}),
        }
      }),
    }
  })
  const gap = sessionStatesGap(state)
  return { pool: pool.name, nodes, reported: reports.map((r) => ({ node: r.node, peers: r.peers })), ...(gap === undefined ? {} : { sessionStatesUnknown: gap }) }
}

const notesFor = (view: ServiceView, allocation: Allocation, layer2: L2Explanation | undefined, bgp: BgpExplanation | undefined, c: Computed): ReadonlyArray<string> => {
  const notes: Array<string> = []
  if (allocation._tag === "Assigned") {
    const same = view.ingressIPs.length === allocation.addresses.length && view.ingressIPs.every((ip) => allocation.addresses.includes(ip))
    if (!same) notes.push(`its status shows ${view.ingressIPs.length === 0 ? "no address" : view.ingressIPs.join(", ")}: the controller has not written ${allocation.addresses.join(", ")} yet (or is not running)`)
  }
  if (allocation._tag === "Failed" && view.ingressIPs.length > 0) notes.push(`its status still shows ${view.ingressIPs.join(", ")}: the controller would clear it`)
  if (allocation._tag === "NoConfiguration" && view.ingressIPs.length > 0) {
    notes.push(`the controller keeps the last valid configuration it loaded (not readable from the API), so the Service keeps ${view.ingressIPs.join(", ")}`)
  }
  if (layer2 !== undefined) {
    const reporters = layer2.reported.map((r) => r.node)
    if (layer2.owner !== undefined && reporters.length > 0 && !reporters.includes(layer2.owner)) {
      notes.push(`ServiceL2Status says ${reporters.join(", ")} announces it, not ${layer2.owner}: the speakers' membership differs from the one inferred here, or the status lags`)
    }
    if (layer2.owner !== undefined && reporters.length === 0) notes.push(`no ServiceL2Status reports it yet (the speaker on ${layer2.owner} may not have announced it, or statuses could not be read)`)
  }
  if (bgp !== undefined) {
    for (const n of bgp.nodes) {
      if (n.reason !== "advertises") continue
      // A session known down says why already (its own line); the others' absence is unexplained.
      const missing = n.peers.filter((p) => !p.reported && !n.sessions.some((s) => s.peer === p.peer && sessionDown(s)))
      const established = missing.filter((p) => n.sessions.some((s) => s.peer === p.peer && s.state?.bgpStatus === "Established")).map((p) => p.peer)
      const unknown = missing.map((p) => p.peer).filter((p) => !established.includes(p))
      if (established.length > 0) notes.push(`${n.node}'s session with ${established.join(", ")} is Established but its ServiceBGPStatus does not list them: the status lags (or statuses could not be read)`)
      if (unknown.length > 0) notes.push(`${n.node} should advertise to ${unknown.join(", ")} but its ServiceBGPStatus does not list them: session not Established (or statuses could not be read)`)
    }
  }
  if (allocation._tag === "Assigned" && layer2 === undefined && bgp === undefined && view.ingressIPs.length > 0 && c.config !== undefined) {
    notes.push(`no L2Advertisement or BGPAdvertisement covers pool ${JSON.stringify(allocation.pool)}: nobody announces ${view.ingressIPs.join(", ")}`)
  }
  return notes
}

const explainOne = (state: ClusterState, c: Computed, view: ServiceView, options: ExplainOptions): ServiceExplanation => {
  const key = serviceKey(view)
  const allocation = allocationFor(state, c, view)
  const speaking = state.speaker.services.find((s) => s.key === key)
  const layer2 = speaking === undefined ? undefined : layer2For(state, c, speaking, options)
  const bgp = speaking === undefined ? undefined : bgpFor(state, c, speaking, options)
  return {
    service: key,
    status: view.ingressIPs,
    allocation,
    ...(layer2 === undefined ? {} : { layer2 }),
    ...(bgp === undefined ? {} : { bgp }),
    notes: notesFor(view, allocation, layer2, bgp, c),
  }
}

export class UnknownService extends Data.TaggedError("UnknownService")<{ readonly key: string; readonly source: string }> {
  override get message() {
    return `no Service ${this.key} in ${this.source}`
  }
}

/**
 * Explains the services named (namespace/name), or with `all` every LoadBalancer Service; a name that
 * is not there fails with UnknownService.
 */
export const explain = (
  state: ClusterState,
  selection: { readonly keys: ReadonlyArray<string> } | { readonly all: true },
  options: ExplainOptions = {},
): Result.Result<Explanation, UnknownService> => {
  const missing = "all" in selection ? undefined : selection.keys.find((key) => !state.services.some((s) => serviceKey(s) === key))
  if (missing !== undefined) return Result.fail(new UnknownService({ key: missing, source: state.source }))
  const c = compute(state)
  const views = "all" in selection
    ? state.services.filter((s) => s.type === "LoadBalancer").sort((a, b) => serviceKey(a).localeCompare(serviceKey(b)))
    : selection.keys.flatMap((key) => state.services.filter((s) => serviceKey(s) === key))
  return Result.succeed({
    source: state.source,
    config: c.configExplanation,
    services: views.map((v) => explainOne(state, c, v, options)),
    membership: c.membership.how,
    notes: c.notes,
    unreadable: state.unreadable,
  })
}
