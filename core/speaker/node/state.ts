// A node's decision state: what it knows (configuration in force, cluster, membership, links) and what
// it has told its drivers (owned addresses, sessions, status objects, events), so every pass emits only
// the differences.
import { type ConfigInForce, noConfig } from "../../config/in-force.ts"
import type { BGPSessionStateStatus } from "../../config/kinds/bgp-session-state.ts"
import type { Address } from "../../net/address.ts"
import type { InterfaceInfo } from "../interfaces.ts"
import type { NodeSettings } from "../settings.ts"
import type { ClusterSnapshot } from "../view.ts"
import { emptyPassCache, type PassCache } from "./pass-cache.ts"
import type { StatusKind } from "./outputs.ts"

/**
 * Joining: the membership join has not settled (no other member answered, the join timer has not
 * fired): deciding now would elect this node for everything. Running: deciding. Leaving: SIGTERM
 * received, handing over (decisions frozen, announcements silenced). Stopped: everything released.
 */
export type NodePhase = "Joining" | "Running" | "Leaving" | "Stopped"

export interface OwnedAddress {
  readonly service: string
  readonly address: Address
  /** The interfaces it is answered on (each one usable with its link up). */
  readonly interfaces: ReadonlyArray<string>
}

/** A running session's state as published (BGPSessionState), and since when its BGP state holds. */
export interface SessionStateEntry {
  readonly status: Required<BGPSessionStateStatus>
  readonly sinceMs: number
}

export interface NodeState {
  readonly settings: NodeSettings
  readonly phase: NodePhase
  readonly config: ConfigInForce
  readonly snapshot: ClusterSnapshot | undefined
  /** Live members (this node included); undefined without membership. */
  readonly members: ReadonlySet<string> | undefined
  readonly membersDown: ReadonlyMap<string, ReadonlyArray<string>>
  /** Members lost (dead or left) -> when this node last heard from them, until they are back. */
  readonly lostMembers: ReadonlyMap<string, number>
  /** The Layer 2 interfaces in use (one whose link is down stays in use). */
  readonly interfaces: ReadonlyArray<InterfaceInfo>
  /** Those of them whose link was down at the last poll. */
  readonly linksDown: ReadonlyArray<string>
  /** Interfaces an L2Advertisement names that are not usable here (warned once). */
  readonly missingNamed: ReadonlyArray<string>
  /** What the membership metadata says of our down interfaces. */
  readonly reportedDown: ReadonlyArray<string>
  /** Every link down: this node left the membership. */
  readonly dataPathDown: boolean
  /** When the node rejoined after all its links were down (holding back until another member answers). */
  readonly rejoinedAtMs: number | undefined
  /** When a member's full table last arrived (MembersChanged.syncedAtMs). */
  readonly syncedAtMs: number | undefined
  readonly owned: ReadonlyMap<string, OwnedAddress>
  /** service -> its elected owner at the last pass (takeover accounting). */
  readonly previousOwners: ReadonlyMap<string, string>
  /** service -> the addresses last reported in a nodeAssigned event. */
  readonly announcedEvents: ReadonlyMap<string, string>
  /** Per status kind: service -> the status last written (as text). */
  readonly statuses: ReadonlyMap<StatusKind, ReadonlyMap<string, string>>
  /** peer -> fingerprint of the spec its running session was opened with, and the routes last given. */
  readonly sessions: ReadonlyMap<string, { readonly fingerprint: string; readonly routes: string }>
  /** peer -> the reason it cannot run here (said once per reason). */
  readonly sessionProblems: ReadonlyMap<string, string>
  /** metallb_speaker_announced as last reported (text). */
  readonly announcedSamples: string
  /** What the last decision pass decided per service, reused while its inputs are the same (pass-cache.ts). */
  readonly passCache: PassCache
  /** peer -> its open session's state (session-state.ts): what its BGPSessionState should say. */
  readonly sessionStates: ReadonlyMap<string, SessionStateEntry>
  /** peer -> the BGPSessionState last written (text; "" unknown: a previous pod's, or a failed write). */
  readonly sessionStatesWritten: ReadonlyMap<string, string>
}

export const initialNode = (settings: NodeSettings): NodeState => ({
  settings,
  phase: settings.membership && settings.seeds.length > 0 ? "Joining" : "Running",
  config: noConfig,
  snapshot: undefined,
  members: settings.membership ? new Set([settings.nodeName]) : undefined,
  membersDown: new Map(),
  lostMembers: new Map(),
  interfaces: [],
  linksDown: [],
  missingNamed: [],
  reportedDown: [],
  dataPathDown: false,
  rejoinedAtMs: undefined,
  syncedAtMs: undefined,
  owned: new Map(),
  previousOwners: new Map(),
  announcedEvents: new Map(),
  statuses: new Map([["ServiceL2Status", new Map()], ["ServiceBGPStatus", new Map()]]),
  sessions: new Map(),
  sessionProblems: new Map(),
  announcedSamples: "[]",
  passCache: emptyPassCache,
  sessionStates: new Map(),
  sessionStatesWritten: new Map(),
})
