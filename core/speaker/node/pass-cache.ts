// What a decision pass remembers per service, so that a pass costs what changed (issue 17): a service's
// Layer 2 election, its claim on this node, its BGP routes and status are recomputed only when its own
// view (the SpeakerService object or its endpoint list, shared by reference between snapshots of an
// unchanged object) or an epoch changed. An epoch is what every service's decision depends on: for Layer
// 2 the configuration, the Nodes, the members and their down interfaces; for BGP the configuration, this
// node and the sessions it runs. An epoch change recomputes every service (rare: a new configuration, a
// member lost). The election's hash order is memoised per service (48-bit ranks per node of the view),
// so a change of the members reorders candidates without hashing them again.
//
// A cache belongs to the state its pass returned and is never changed afterwards (a new pass makes a
// new one), so stepping an older state again sees that state's own cache.
import type { Config } from "../../config/config.ts"
import type { DesiredRoute } from "../../bgp/rib.ts"
import { type Election, type ElectionNode, electOwner, type HashRank, hashRank, goIpString } from "../../election/owner.ts"
import { addressKey } from "../../l2/ownership.ts"
import { formatAddress } from "../../net/address.ts"
import { nodeExcluded, serviceRoutesForNode } from "../bgp.ts"
import { electionNodes, l2ElectionSetup, ownerInterfaces } from "../l2.ts"
import { stableText } from "../session-config.ts"
import type { ClusterSnapshot, EndpointView, NodeView, SpeakerService } from "../view.ts"
import type { NodeState } from "./state.ts"

/** The inputs every service's Layer 2 decision depends on; a new object when one of them changed. */
export interface L2Epoch {
  readonly config: Config
  readonly nodes: ReadonlyArray<NodeView>
  readonly electionNodes: ReadonlyArray<ElectionNode>
  /** Node name -> its index in `nodes` (the rank memo's slots). */
  readonly nodeIndex: ReadonlyMap<string, number>
  readonly members: ReadonlySet<string> | undefined
  readonly downInterfaces: ReadonlyMap<string, ReadonlyArray<string>> | undefined
}

/** The inputs every service's BGP decision depends on (undefined when this node has no Node object). */
export interface BgpEpoch {
  readonly config: Config
  readonly self: NodeView
  /** The peers this node selects, sorted. */
  readonly peers: ReadonlyArray<string>
  /** The peers with a runnable session (the sessions after this pass). */
  readonly sessions: ReadonlyArray<string>
}

/** Election ranks of the service's first IP per node of the epoch's view (NaN: not computed yet). */
interface RankMemo {
  readonly ip: string
  readonly nodeIndex: ReadonlyMap<string, number>
  readonly ranks: Float64Array
}

export interface ServiceDecision {
  /** The keys: the view and endpoint list it was decided from, by reference, and the epochs. */
  readonly service: SpeakerService
  readonly endpoints: ReadonlyArray<EndpointView> | undefined
  readonly l2Epoch: L2Epoch
  readonly bgpEpoch: BgpEpoch | undefined
  /** The Layer 2 election, when the service is announced in Layer 2. */
  readonly election: Election | undefined
  /** This node's claim: the interfaces (empty: every usable one), when it announces the service. */
  readonly claimInterfaces: ReadonlyArray<string> | undefined
  /** With a claim: each address's addressKey and text, computed once. */
  readonly claimKeys: ReadonlyArray<string>
  readonly claimIps: ReadonlyArray<string>
  /** Its metallb_speaker_announced samples as text fragments (empty: none). */
  readonly l2SamplesText: string
  readonly bgpSamplesText: string
  readonly ranks: RankMemo | undefined
  /** Per peer, its routes (advertisement order, merged with the others' per peer in the pass). */
  readonly routes: ReadonlyMap<string, ReadonlyArray<DesiredRoute>> | undefined
  readonly routesText: string
  /** Its ServiceBGPStatus ({ peers }) and that as text, when some running session hears it. */
  readonly bgpStatus: { readonly value: Readonly<Record<string, unknown>>; readonly text: string } | undefined
}

/** What the last pass returned of the node's state: a delta pass (delta-pass.ts) runs only while the state still holds these. */
export interface PassResult {
  readonly owned: NodeState["owned"]
  readonly statuses: NodeState["statuses"]
  readonly sessions: NodeState["sessions"]
  readonly announcedEvents: NodeState["announcedEvents"]
  readonly interfaces: NodeState["interfaces"]
  readonly linksDown: NodeState["linksDown"]
}

export interface PassCache {
  /** The snapshot the last pass decided from (a delta pass's included). */
  readonly snapshot: ClusterSnapshot | undefined
  readonly after: PassResult | undefined
  /** Decisions made by delta passes since the last full pass: they supersede `decisions` and `list`. */
  readonly recent: ReadonlyMap<string, ServiceDecision>
  readonly l2Epoch: L2Epoch | undefined
  readonly bgpEpoch: BgpEpoch | undefined
  readonly decisions: ReadonlyMap<string, ServiceDecision>
  /** The same decisions in the snapshot's order at that pass. */
  readonly list: ReadonlyArray<ServiceDecision>
  /** The services' keys in the snapshot's order at that pass. */
  readonly order: ReadonlyArray<string>
  /** The merged routes per peer and their text at that pass. */
  readonly routes: ReadonlyMap<string, { readonly routes: ReadonlyArray<DesiredRoute>; readonly text: string }>
  /** The samples text at that pass, and whether the Layer 2 samples were in it. */
  readonly samplesText: string
  readonly l2Samples: boolean
  /** The ServiceBGPStatus texts that pass returned (the state's, unless a write failed since). */
  readonly bgpStatuses: ReadonlyMap<string, string> | undefined
  /** The previous owners that pass returned, and whether it was held back (no elections then). */
  readonly owners: ReadonlyMap<string, string> | undefined
  readonly ownersHeld: boolean
  /**
   * Whether a decision still holds for this view: by default the view and its endpoints are the same
   * objects. Only a test replaces it (with one that ignores changes, to see the oracle property fire).
   */
  readonly reusable: (decision: ServiceDecision, service: SpeakerService, endpoints: ReadonlyArray<EndpointView> | undefined) => boolean
  /**
   * How many decisions the delta passes keep in `recent` before folding them into `decisions` (a
   * LayeredMap then: the fold costs O(sqrt n), not a walk). Only a test makes it small, to fold often.
   */
  readonly recentLimit: (decisions: number) => number
}

/** The fold's cost spread over the delta passes: a few times the square root of the services' number. */
export const recentLimit = (decisions: number): number => Math.max(64, 4 * Math.sqrt(decisions))

export const sameView = (decision: ServiceDecision, service: SpeakerService, endpoints: ReadonlyArray<EndpointView> | undefined): boolean =>
  decision.service === service && decision.endpoints === endpoints

export const emptyPassCache: PassCache = {
  snapshot: undefined,
  after: undefined,
  recent: new Map(),
  l2Epoch: undefined,
  bgpEpoch: undefined,
  decisions: new Map(),
  list: [],
  order: [],
  routes: new Map(),
  samplesText: "[]",
  l2Samples: false,
  bgpStatuses: undefined,
  owners: undefined,
  ownersHeld: false,
  reusable: sameView,
  recentLimit,
}

const sameRecord = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean => {
  if (a === b) return true
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k])
}

export const sameNode = (a: NodeView, b: NodeView): boolean =>
  a === b || (a.name === b.name && a.networkUnavailable === b.networkUnavailable && sameRecord(a.labels, b.labels) &&
    (a.addresses ?? []).map(formatAddress).join(" ") === (b.addresses ?? []).map(formatAddress).join(" "))

// Content, not identity: the shell builds these objects again for every snapshot or membership change.
const sameNodes = (a: ReadonlyArray<NodeView>, b: ReadonlyArray<NodeView>): boolean =>
  a === b || (a.length === b.length && a.every((n, i) => sameNode(n, b[i]!)))

const sameMembers = (a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && a.size === b.size && [...a].every((m) => b.has(m)))

const sameDown = (a: ReadonlyMap<string, ReadonlyArray<string>> | undefined, b: ReadonlyMap<string, ReadonlyArray<string>> | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && a.size === b.size && [...a].every(([k, v]) => b.get(k)?.join(" ") === v.join(" ")))

const sameList = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean => a.length === b.length && a.every((x, i) => x === b[i])

/** The Layer 2 epoch of this pass: the previous one when nothing it holds changed. */
export const l2EpochOf = (
  previous: L2Epoch | undefined,
  config: Config,
  snapshot: ClusterSnapshot,
  members: ReadonlySet<string> | undefined,
  downInterfaces: ReadonlyMap<string, ReadonlyArray<string>> | undefined,
): L2Epoch => {
  if (previous !== undefined && previous.config === config && sameNodes(previous.nodes, snapshot.nodes) && sameMembers(previous.members, members) &&
    sameDown(previous.downInterfaces, downInterfaces)) return previous
  const sameNames = previous !== undefined && sameList(previous.nodes.map((n) => n.name), snapshot.nodes.map((n) => n.name))
  return {
    config,
    nodes: snapshot.nodes,
    electionNodes: electionNodes(snapshot),
    // Kept while the Nodes' names are the same, so the services' rank memos stay valid.
    nodeIndex: sameNames ? previous.nodeIndex : new Map(snapshot.nodes.map((n, i) => [n.name, i])),
    members,
    downInterfaces,
  }
}

export const bgpEpochOf = (previous: BgpEpoch | undefined, config: Config, self: NodeView, peers: ReadonlyArray<string>, sessions: ReadonlyArray<string>): BgpEpoch =>
  previous !== undefined && previous.config === config && sameNode(previous.self, self) && sameList(previous.peers, peers) && sameList(previous.sessions, sessions)
    ? previous
    : { config, self, peers, sessions }

/** The memo of the service's hash ranks, kept from its previous decision when its first IP and the Nodes' names are the same. */
const rankMemo = (previous: RankMemo | undefined, service: SpeakerService, epoch: L2Epoch): RankMemo | undefined => {
  const [first] = service.addresses
  if (first === undefined) return undefined
  const ip = goIpString(first)
  if (previous !== undefined && previous.ip === ip && previous.nodeIndex === epoch.nodeIndex) return previous
  return { ip, nodeIndex: epoch.nodeIndex, ranks: new Float64Array(epoch.nodeIndex.size).fill(Number.NaN) }
}

const rankOf = (memo: RankMemo, service: SpeakerService): HashRank => (node) => {
  const i = memo.nodeIndex.get(node)
  if (i === undefined) return hashRank(node, service.addresses[0]!)
  const known = memo.ranks[i]!
  if (!Number.isNaN(known)) return known
  // Filled in place: a memo of a pure function, shared by the decisions that carry it.
  const rank = hashRank(node, service.addresses[0]!)
  memo.ranks[i] = rank
  return rank
}

const samplesText = (service: SpeakerService, protocol: "layer2" | "bgp"): string =>
  service.addresses.map((address) => stableText({ service: service.key, protocol, ip: formatAddress(address) })).join(",")

export interface DecideContext {
  readonly config: Config
  readonly snapshot: ClusterSnapshot
  readonly nodeName: string
  readonly self: NodeView | undefined
  readonly ignoreExcludeLb: boolean
  readonly l2Epoch: L2Epoch
  readonly bgpEpoch: BgpEpoch | undefined
}

/** One service's decisions from scratch (its rank memo kept from `previous` when still valid). */
export const decideService = (ctx: DecideContext, service: SpeakerService, previous: ServiceDecision | undefined): ServiceDecision => {
  const endpoints = ctx.snapshot.endpoints.get(service.key)
  const options = { ignoreExcludeLb: ctx.ignoreExcludeLb }
  const epoch = ctx.l2Epoch
  const setup = l2ElectionSetup(ctx.config, ctx.snapshot, service, epoch.members, {
    ...options,
    ...(epoch.downInterfaces === undefined ? {} : { downInterfaces: epoch.downInterfaces }),
  }, epoch.electionNodes)
  const ranks = setup === undefined ? undefined : rankMemo(previous?.ranks, service, epoch)
  const election = setup === undefined ? undefined : electOwner(setup.input, ranks === undefined ? undefined : rankOf(ranks, service))
  const claims = setup !== undefined && election?.owner === ctx.nodeName && ctx.self !== undefined && !nodeExcluded(ctx.self, options)
  const claimInterfaces = claims ? ownerInterfaces(setup.advertisements, ctx.self!, service) : undefined
  const bgp = ctx.bgpEpoch === undefined || service.addresses.length === 0 ? undefined : serviceRoutesForNode(ctx.config, ctx.snapshot, service, ctx.bgpEpoch.self, ctx.bgpEpoch.peers, options)
  const routes = bgp?._tag === "Routes" ? bgp.perPeer : undefined
  const heard = routes === undefined || ctx.bgpEpoch === undefined ? [] : [...routes].filter(([name, rs]) => rs.length > 0 && ctx.bgpEpoch!.sessions.includes(name)).map(([name]) => name).sort()
  const status = heard.length === 0 ? undefined : { peers: heard }
  return {
    service,
    endpoints,
    l2Epoch: epoch,
    bgpEpoch: ctx.bgpEpoch,
    election,
    claimInterfaces,
    claimKeys: claims ? service.addresses.map(addressKey) : [],
    claimIps: claims ? service.addresses.map(formatAddress) : [],
    l2SamplesText: claims ? samplesText(service, "layer2") : "",
    bgpSamplesText: status === undefined ? "" : samplesText(service, "bgp"),
    ranks,
    routes,
    routesText: routes === undefined ? "" : stableText([...routes]),
    bgpStatus: status === undefined ? undefined : { value: status, text: stableText(status) },
  }
}
