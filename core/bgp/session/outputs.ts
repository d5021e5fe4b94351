// What the session FSM asks the shell to do, and what it reports to the RIB planner: dials, sends,
// closes, timers (armed with a token the shell echoes back), and session up/down with the values
// negotiated in the OPEN exchange (RFC 4271 §4.2, RFC 5492 capabilities, RFC 4724 graceful restart).
import type { Family } from "../../net/address.ts"
import type { Message, Notification } from "../messages.ts"
import type { ConnectionId, TimerName } from "./inputs.ts"

export type SessionStateName = "Idle" | "Connect" | "Active" | "OpenSent" | "OpenConfirm" | "Established"

/** The peer's Graceful Restart capability (RFC 4724 §3). */
export interface PeerGracefulRestart {
  readonly restarting: boolean
  readonly restartTimeSeconds: number
  readonly families: ReadonlyArray<{ readonly family: Family; readonly forwardingPreserved: boolean }>
}

export interface Negotiated {
  /** min(ours, the peer's); 0 means no keepalives and no hold timer. */
  readonly holdTimeSeconds: number
  /** 0 when the hold time is 0. */
  readonly keepaliveTimeSeconds: number
  readonly fourOctetAsn: boolean
  /** Families both sides offered, in our preference order. */
  readonly families: ReadonlyArray<Family>
  readonly routeRefresh: boolean
  /** Present when the peer advertised the capability. */
  readonly gracefulRestart?: PeerGracefulRestart
  readonly peerAsn: number
  readonly peerBgpIdentifier: number
  /**
   * RFC 8950: both sides offered IPv4 unicast with an IPv6 next hop (we only offer it when configured),
   * so IPv4 routes may be sent in MP_REACH_NLRI with an IPv6 next hop.
   */
  readonly extendedNextHop: boolean
}

/** Why a connection was closed; the tags that follow a NOTIFICATION we sent are marked. */
export type CloseReason =
  /** NOTIFICATION Cease sent. */
  | { readonly _tag: "ManualStop" }
  /** NOTIFICATION 4 sent. */
  | { readonly _tag: "HoldTimerExpired" }
  /** We found an error and sent this NOTIFICATION. */
  | { readonly _tag: "ProtocolError"; readonly notification: Notification }
  | { readonly _tag: "NotificationReceived"; readonly notification: Notification }
  | { readonly _tag: "TransportClosed" }
  | { readonly _tag: "BfdDown" }
  /** NOTIFICATION Cease / Connection Collision Resolution sent (RFC 4271 §6.8). */
  | { readonly _tag: "CollisionResolution" }
  /** The peer connected again; NOTIFICATION Cease / Connection Collision Resolution sent on the old one. */
  | { readonly _tag: "Replaced" }
  /** Connected to us while Idle; NOTIFICATION Cease / Connection Rejected sent. */
  | { readonly _tag: "Refused" }
  /** A dial we had abandoned completed; nothing was sent on it. */
  | { readonly _tag: "Stale" }

export type SessionOutput =
  /** Open a TCP connection to the peer; answer with TcpConnected or TcpConnectFailed { attempt }. */
  | { readonly _tag: "Connect"; readonly attempt: number }
  /** Give up the dial `attempt`; a late TcpConnected for it is answered with CloseConnection. */
  | { readonly _tag: "CancelConnect"; readonly attempt: number }
  | { readonly _tag: "Send"; readonly connection: ConnectionId; readonly message: Message }
  | { readonly _tag: "CloseConnection"; readonly connection: ConnectionId; readonly reason: CloseReason }
  /** Fire TimerExpired { timer, token } after durationMs unless StopTimer { token } comes first. */
  | {
    readonly _tag: "StartTimer"
    readonly timer: TimerName
    readonly connection?: ConnectionId
    readonly token: number
    readonly durationMs: number
  }
  | { readonly _tag: "StopTimer"; readonly timer: TimerName; readonly connection?: ConnectionId; readonly token: number }
  /**
   * The connection is Established: the planner sends the Adj-RIB-Out (SendUpdates), then one
   * End-of-RIB per family in `sendEndOfRib` (RFC 4724 §2; empty unless both sides do graceful restart).
   */
  | {
    readonly _tag: "SessionUp"
    readonly connection: ConnectionId
    readonly negotiated: Negotiated
    readonly sendEndOfRib: ReadonlyArray<Family>
  }
  | { readonly _tag: "SessionDown"; readonly connection: ConnectionId; readonly reason: CloseReason }
  /** The peer asked for our routes again (RFC 2918). */
  | { readonly _tag: "RouteRefreshRequested"; readonly family: Family }
  | { readonly _tag: "StateChanged"; readonly from: SessionStateName; readonly to: SessionStateName }
