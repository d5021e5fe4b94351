// What a node's decision machine is told. Every input carries the time (the shell's clock or the
// simulator's), so the machine never reads one.
import type { BfdState } from "../../bfd/packet.ts"
import type { SessionStateName } from "../../bgp/session/outputs.ts"
import type { ConfigSources } from "../../config/in-force.ts"
import type { InterfaceInfo } from "../interfaces.ts"
import type { ClusterChanges, ClusterSnapshot } from "../view.ts"
import type { StatusKind, TimerName } from "./outputs.ts"

/** A member declared dead or seen leaving, with when this node last heard from it. */
export interface LostMember {
  readonly name: string
  readonly how: "dead" | "left"
  readonly lastHeardAtMs?: number
}

export type NodeInput =
  /** The process started (the caches synced): the join wait begins. */
  | { readonly _tag: "Started"; readonly nowMs: number }
  /**
   * Services, endpoints and nodes as the informers see them now; `changes`, when the shell knows them,
   * lets the pass decide again only the services named there (without it, every service is looked at).
   */
  | { readonly _tag: "ClusterChanged"; readonly snapshot: ClusterSnapshot; readonly changes?: ClusterChanges; readonly nowMs: number }
  /** The metallb.io objects and Secrets as they are now (resolved only when they changed). */
  | { readonly _tag: "ConfigChanged"; readonly sources: ConfigSources; readonly nowMs: number }
  /** The live members (this node included), their down interfaces, and who was lost since the last report. */
  | {
    readonly _tag: "MembersChanged"
    readonly live: ReadonlySet<string>
    readonly down: ReadonlyMap<string, ReadonlyArray<string>>
    readonly lost: ReadonlyArray<LostMember>
    /**
     * When a member's full table (a join's table exchange, either way) last arrived: the join has
     * settled, the member view is the cluster's and no longer the one this node started (or left) with.
     */
    readonly syncedAtMs?: number
    readonly nowMs: number
  }
  /** Every interface of the node as read now (the rescan). */
  | { readonly _tag: "InterfacesScanned"; readonly interfaces: ReadonlyArray<InterfaceInfo>; readonly nowMs: number }
  /**
   * Which of the polled interfaces have their link up now. `polled`: the names read (default: every
   * interface in use); one in use but not read (the rescan added it after the poll) keeps its state.
   */
  | { readonly _tag: "LinksPolled"; readonly up: ReadonlySet<string>; readonly polled?: ReadonlySet<string>; readonly nowMs: number }
  | { readonly _tag: "TimerFired"; readonly name: TimerName; readonly nowMs: number }
  /** Status objects this node has in the API at its start (a previous pod's): kept if wanted, else deleted. */
  | { readonly _tag: "StatusesFound"; readonly kind: StatusKind; readonly services: ReadonlyArray<string>; readonly nowMs: number }
  /** A status write failed: write it again at the next pass. */
  | { readonly _tag: "StatusWriteFailed"; readonly kind: StatusKind; readonly service: string; readonly nowMs: number }
  /** A session could not be opened (socket, BFD link): opened again at the next pass. */
  | { readonly _tag: "SessionFailed"; readonly peer: string; readonly reason: string; readonly nowMs: number }
  /** A peer's session changed state: its BGP FSM, and its BFD session's (undefined: the peer runs no BFD). */
  | { readonly _tag: "SessionStateChanged"; readonly peer: string; readonly bgp: SessionStateName; readonly bfd: BfdState | undefined; readonly nowMs: number }
  /** BGPSessionState objects of this node in the API at its start (a previous pod's), by BGPPeer name. */
  | { readonly _tag: "SessionStatesFound"; readonly peers: ReadonlyArray<string>; readonly nowMs: number }
  /** A BGPSessionState write failed: written again at the next input. */
  | { readonly _tag: "SessionStateWriteFailed"; readonly peer: string; readonly nowMs: number }
  /** SIGTERM: leave, hand over, stop. `handOverMs` overrides the settings' (the simulator's scenarios). */
  | { readonly _tag: "Terminate"; readonly nowMs: number; readonly handOverMs?: number }
