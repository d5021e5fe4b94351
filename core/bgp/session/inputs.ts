// What the shell tells the session FSM: the RFC 4271 §8.1 events, with connection identities made
// explicit so that events from a connection the FSM has already dropped (or a dial it has abandoned)
// are recognised as stale instead of being applied to the current one. Time arrives only as timer
// expiries; a timer is identified by the token of the StartTimer output that armed it.
import type { Message, Notification, Update } from "../messages.ts"

/** Chosen by the shell, unique for the life of a session (a counter will do). */
export type ConnectionId = number

export type TimerName = "ConnectRetry" | "IdleHold" | "Hold" | "Keepalive"

export type SessionInput =
  /** Event 1: the operator starts the session (resets the restart backoff). */
  | { readonly _tag: "ManualStart" }
  /** Event 2: the operator stops the session; connected peers get Cease (default subcode 2, RFC 4486). */
  | { readonly _tag: "ManualStop"; readonly ceaseSubcode?: number; readonly data?: Uint8Array }
  /** Event 3: the system starts the session; ignored while an IdleHold (restart backoff) is running. */
  | { readonly _tag: "AutomaticStart" }
  /** Events 16/17 for our own dial: `attempt` echoes the Connect output that asked for it. */
  | { readonly _tag: "TcpConnected"; readonly attempt: number; readonly connection: ConnectionId }
  /** Event 18 for our own dial. */
  | { readonly _tag: "TcpConnectFailed"; readonly attempt: number }
  /** Events 14/15/17: the peer connected to us. */
  | { readonly _tag: "IncomingConnection"; readonly connection: ConnectionId }
  /** Event 18: an accepted connection was closed or reset. */
  | { readonly _tag: "TcpClosed"; readonly connection: ConnectionId }
  /** Events 19-27: a message decoded from a connection. */
  | { readonly _tag: "MessageReceived"; readonly connection: ConnectionId; readonly message: Message }
  /** Events 21/22/28: the codec rejected a message and chose the NOTIFICATION that answers it. */
  | { readonly _tag: "DecodeFailed"; readonly connection: ConnectionId; readonly notification: Notification }
  /** Events 9-13: a timer armed by StartTimer { token } fired (stale tokens are ignored). */
  | { readonly _tag: "TimerExpired"; readonly timer: TimerName; readonly token: number }
  /** BFD declared the peer unreachable (RFC 5882 §3.2). */
  | { readonly _tag: "BfdDown" }
  /** The RIB planner's UPDATEs (End-of-RIB included); sent only on an Established connection. */
  | { readonly _tag: "SendUpdates"; readonly updates: ReadonlyArray<Update> }
