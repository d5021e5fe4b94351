// The session FSM's state. RFC 4271 §8 runs one FSM per TCP connection while a collision is being
// resolved (§6.8), so the state holds up to two connections (at most one we dialled, at most one the
// peer opened), each in OpenSent, OpenConfirm or Established, plus the connection-less phase (Idle,
// Connect, Active) the session is in when it has none. The RFC state of the session is the most
// advanced of its connections, or that phase. Every running timer is a token stored here.
import { Result } from "effect"
import { type InvalidSessionConfig, type SessionConfig, validateSessionConfig } from "./config.ts"
import type { ConnectionId, TimerName } from "./inputs.ts"
import type { Negotiated, SessionStateName } from "./outputs.ts"

interface ConnectionBase {
  readonly id: ConnectionId
  /** "outgoing" = we dialled it; collision resolution keeps the one opened by the higher identifier. */
  readonly direction: "outgoing" | "incoming"
  readonly holdTimer: number | undefined
  readonly keepaliveTimer: number | undefined
}

export type Connection =
  | (ConnectionBase & { readonly state: "OpenSent" })
  | (ConnectionBase & { readonly state: "OpenConfirm" | "Established"; readonly negotiated: Negotiated })

export interface Session {
  readonly config: SessionConfig
  /** Where the session is when it has no connection. */
  readonly phase: "Idle" | "Connect" | "Active"
  /** Started and not stopped: failures lead to an automatic restart. */
  readonly enabled: boolean
  readonly connections: ReadonlyArray<Connection>
  /** The dial in progress, by the attempt number of its Connect output. */
  readonly dialAttempt: number | undefined
  readonly nextAttempt: number
  readonly connectRetryTimer: number | undefined
  readonly idleHoldTimer: number | undefined
  readonly nextToken: number
  /** RFC 4271 ConnectRetryCounter: failures since the last Established session; drives the backoff. */
  readonly consecutiveFailures: number
  /** The R bit of our next OPEN. */
  readonly advertiseRestarting: boolean
}

export const makeSession = (config: SessionConfig): Result.Result<Session, InvalidSessionConfig> =>
  Result.map(validateSessionConfig(config), (valid) => ({
    config: valid,
    phase: "Idle",
    enabled: false,
    connections: [],
    dialAttempt: undefined,
    nextAttempt: 1,
    connectRetryTimer: undefined,
    idleHoldTimer: undefined,
    nextToken: 1,
    consecutiveFailures: 0,
    advertiseRestarting: valid.gracefulRestart.enabled && valid.gracefulRestart.restarting,
  }))

const rank = { OpenSent: 1, OpenConfirm: 2, Established: 3 } as const

export const stateOf = (session: Session): SessionStateName =>
  session.connections.reduce<SessionStateName>(
    (best, c) => (best === "Idle" || best === "Connect" || best === "Active" || rank[c.state] > rank[best] ? c.state : best),
    session.phase,
  )

/** The Established connection, if any (there is at most one). */
export const establishedConnection = (session: Session): Connection | undefined =>
  session.connections.find((c) => c.state === "Established")

export interface RunningTimer {
  readonly timer: TimerName
  readonly connection?: ConnectionId
  readonly token: number
}

/** Every timer the FSM believes is armed: what a shell (or a test) should be holding. */
export const runningTimers = (session: Session): ReadonlyArray<RunningTimer> => {
  const timers: Array<RunningTimer> = []
  if (session.connectRetryTimer !== undefined) timers.push({ timer: "ConnectRetry", token: session.connectRetryTimer })
  if (session.idleHoldTimer !== undefined) timers.push({ timer: "IdleHold", token: session.idleHoldTimer })
  for (const c of session.connections) {
    if (c.holdTimer !== undefined) timers.push({ timer: "Hold", connection: c.id, token: c.holdTimer })
    if (c.keepaliveTimer !== undefined) timers.push({ timer: "Keepalive", connection: c.id, token: c.keepaliveTimer })
  }
  return timers
}
