// What a node's decision machine asks its drivers to do: the Layer 2 plane (interfaces, claims,
// silence), the membership, the BGP sessions, the status objects and events in the API, timers, logs
// and metric observations. The shell and the simulator execute them in order.
import type { DesiredRoute } from "../../bgp/rib.ts"
import type { BGPSessionStateStatus } from "../../config/kinds/bgp-session-state.ts"
import type { Address } from "../../net/address.ts"
import type { SessionSpec } from "../session-config.ts"

export type TimerName = "join" | "rejoinHold" | "handOver" | "resync"
export type StatusKind = "ServiceL2Status" | "ServiceBGPStatus"

export interface AnnouncedSample {
  readonly service: string
  readonly protocol: "layer2" | "bgp"
  readonly ip: string
}

export type NodeOutput =
  /** The Layer 2 interfaces to hold sockets on from now (name and MAC). */
  | { readonly _tag: "UseInterfaces"; readonly interfaces: ReadonlyArray<{ readonly name: string; readonly mac: string }> }
  /** Answer and announce the address on these interfaces (in addition to those it has). */
  | { readonly _tag: "Claim"; readonly service: string; readonly address: Address; readonly interfaces: ReadonlyArray<string> }
  /** Stop answering for the address on these interfaces. */
  | { readonly _tag: "Release"; readonly address: Address; readonly interfaces: ReadonlyArray<string> }
  /** Announce nothing more (a hand-over): answers to requests go on. */
  | { readonly _tag: "Silence" }
  | { readonly _tag: "SetDownInterfaces"; readonly names: ReadonlyArray<string> }
  | { readonly _tag: "LeaveMembership" }
  | { readonly _tag: "JoinMembership"; readonly seeds: ReadonlyArray<string> }
  | { readonly _tag: "CloseMembership" }
  | { readonly _tag: "OpenSession"; readonly name: string; readonly spec: SessionSpec }
  | { readonly _tag: "CloseSession"; readonly name: string }
  | { readonly _tag: "UpdateRoutes"; readonly name: string; readonly routes: ReadonlyArray<DesiredRoute> }
  /** Create or update this node's status object for the service (interfaces or peers). */
  | { readonly _tag: "WriteStatus"; readonly kind: StatusKind; readonly service: string; readonly status: Readonly<Record<string, unknown>> }
  | { readonly _tag: "DeleteStatus"; readonly kind: StatusKind; readonly service: string }
  /** Create or update this node's BGPSessionState for the peer (a BGPPeer name); `sinceMs`: when bgpStatus began. */
  | { readonly _tag: "WriteSessionState"; readonly peer: string; readonly status: Required<BGPSessionStateStatus>; readonly sinceMs: number }
  | { readonly _tag: "DeleteSessionState"; readonly peer: string }
  /** A nodeAssigned event on the service. */
  | { readonly _tag: "Emit"; readonly service: string; readonly reason: "nodeAssigned"; readonly note: string }
  | { readonly _tag: "StartTimer"; readonly name: TimerName; readonly delayMs: number }
  | { readonly _tag: "Log"; readonly level: "debug" | "info" | "warning"; readonly message: string }
  /** metallb_ts_speaker_l2_takeover_seconds: last heard from the old owner -> this node took over. */
  | { readonly _tag: "ObserveTakeover"; readonly service: string; readonly from: string; readonly seconds: number }
  /** Membership detection: last heard from a member -> declared dead. */
  | { readonly _tag: "ObserveDetection"; readonly member: string; readonly seconds: number }
  | { readonly _tag: "ConfigState"; readonly loaded: boolean; readonly stale: boolean }
  /** metallb_speaker_announced, as of this pass (on change). */
  | { readonly _tag: "Announced"; readonly samples: ReadonlyArray<AnnouncedSample> }
  /** The hand-over is over and everything is released: the process may end. */
  | { readonly _tag: "Stopped" }
