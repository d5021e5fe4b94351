// The building blocks every RFC 4271 §8.2.2 transition is made of — arm and disarm timers, dial,
// accept a connection and send our OPEN, drop a connection (NOTIFICATION first when one is due), fall
// back to Idle with the restart backoff or to Active — applied to a transition under construction.
// Each keeps the state's timer tokens and the emitted StartTimer/StopTimer outputs in step, so the
// shell's timers are always exactly the ones the state records.
import { idleHoldDelayMs } from "./config.ts"
import type { ConnectionId, TimerName } from "./inputs.ts"
import { localOpen } from "./open.ts"
import type { CloseReason, SessionOutput } from "./outputs.ts"
import type { Connection, Session } from "./state.ts"
import type { Notification } from "../messages.ts"

/** RFC 4271 §8.2.2 suggests a large hold time (4 minutes) while waiting for the peer's OPEN. */
export const openSentHoldTimeSeconds = 240

/** A transition being built: the step function owns it and discards it when it returns. */
export interface Tx {
  s: Session
  readonly out: Array<SessionOutput>
}

const token = (tx: Tx): number => {
  const t = tx.s.nextToken
  tx.s = { ...tx.s, nextToken: t + 1 }
  return t
}

type SessionTimer = "ConnectRetry" | "IdleHold"
const slotOf = { ConnectRetry: "connectRetryTimer", IdleHold: "idleHoldTimer" } as const

export const stopSessionTimer = (tx: Tx, timer: SessionTimer): void => {
  const running = tx.s[slotOf[timer]]
  if (running === undefined) return
  tx.out.push({ _tag: "StopTimer", timer, token: running })
  tx.s = { ...tx.s, [slotOf[timer]]: undefined }
}

export const startSessionTimer = (tx: Tx, timer: SessionTimer, durationMs: number): void => {
  stopSessionTimer(tx, timer)
  const t = token(tx)
  tx.out.push({ _tag: "StartTimer", timer, token: t, durationMs })
  tx.s = { ...tx.s, [slotOf[timer]]: t }
}

export const connection = (tx: Tx, id: ConnectionId): Connection | undefined => tx.s.connections.find((c) => c.id === id)

export const updateConnection = (tx: Tx, id: ConnectionId, f: (c: Connection) => Connection): void => {
  tx.s = { ...tx.s, connections: tx.s.connections.map((c) => (c.id === id ? f(c) : c)) }
}

type ConnectionTimer = "Hold" | "Keepalive"
const connectionSlotOf = { Hold: "holdTimer", Keepalive: "keepaliveTimer" } as const

export const stopConnectionTimer = (tx: Tx, id: ConnectionId, timer: ConnectionTimer): void => {
  const running = connection(tx, id)?.[connectionSlotOf[timer]]
  if (running === undefined) return
  tx.out.push({ _tag: "StopTimer", timer, connection: id, token: running })
  updateConnection(tx, id, (c) => ({ ...c, [connectionSlotOf[timer]]: undefined }))
}

export const startConnectionTimer = (tx: Tx, id: ConnectionId, timer: ConnectionTimer, durationMs: number): void => {
  stopConnectionTimer(tx, id, timer)
  const t = token(tx)
  tx.out.push({ _tag: "StartTimer", timer, connection: id, token: t, durationMs })
  updateConnection(tx, id, (c) => ({ ...c, [connectionSlotOf[timer]]: t }))
}

/** Forget the slot of a timer that has just fired: the shell no longer holds it. */
export const clearFiredTimer = (tx: Tx, timer: TimerName, firedToken: number): "session" | ConnectionId | undefined => {
  if (timer === "ConnectRetry" || timer === "IdleHold") {
    if (tx.s[slotOf[timer]] !== firedToken) return undefined
    tx.s = { ...tx.s, [slotOf[timer]]: undefined }
    return "session"
  }
  const owner = tx.s.connections.find((c) => c[connectionSlotOf[timer]] === firedToken)
  if (owner === undefined) return undefined
  updateConnection(tx, owner.id, (c) => ({ ...c, [connectionSlotOf[timer]]: undefined }))
  return owner.id
}

export const dial = (tx: Tx): void => {
  const attempt = tx.s.nextAttempt
  tx.out.push({ _tag: "Connect", attempt })
  tx.s = { ...tx.s, dialAttempt: attempt, nextAttempt: attempt + 1 }
  startSessionTimer(tx, "ConnectRetry", tx.s.config.connectRetryTimeSeconds * 1000)
}

export const cancelDial = (tx: Tx): void => {
  if (tx.s.dialAttempt === undefined) return
  tx.out.push({ _tag: "CancelConnect", attempt: tx.s.dialAttempt })
  tx.s = { ...tx.s, dialAttempt: undefined }
}

/** Idle -> Connect (dial) or Active (passive: listen only, no ConnectRetry since we never dial). */
export const begin = (tx: Tx): void => {
  if (tx.s.config.passive) {
    tx.s = { ...tx.s, phase: "Active" }
  } else {
    tx.s = { ...tx.s, phase: "Connect" }
    dial(tx)
  }
}

/** A TCP connection is up (ours or the peer's): send our OPEN and wait for theirs (OpenSent). */
export const accept = (tx: Tx, id: ConnectionId, direction: Connection["direction"]): void => {
  stopSessionTimer(tx, "ConnectRetry")
  const fresh: Connection = { id, direction, state: "OpenSent", holdTimer: undefined, keepaliveTimer: undefined }
  tx.s = { ...tx.s, connections: [...tx.s.connections, fresh] }
  tx.out.push({ _tag: "Send", connection: id, message: localOpen(tx.s) })
  startConnectionTimer(tx, id, "Hold", openSentHoldTimeSeconds * 1000)
}

/** Close one connection, sending `notice` first when given; an Established one takes the session down. */
export const drop = (tx: Tx, id: ConnectionId, reason: CloseReason, notice?: Notification): void => {
  const c = connection(tx, id)
  if (c === undefined) return
  if (notice !== undefined) tx.out.push({ _tag: "Send", connection: id, message: notice })
  stopConnectionTimer(tx, id, "Hold")
  stopConnectionTimer(tx, id, "Keepalive")
  tx.s = { ...tx.s, connections: tx.s.connections.filter((other) => other.id !== id) }
  tx.out.push({ _tag: "CloseConnection", connection: id, reason })
  if (c.state === "Established") tx.out.push({ _tag: "SessionDown", connection: id, reason })
}

/** The last connection failed: Idle, and an automatic restart after the backoff unless stopped. */
export const failToIdle = (tx: Tx): void => {
  cancelDial(tx)
  stopSessionTimer(tx, "ConnectRetry")
  const failures = tx.s.consecutiveFailures + 1
  tx.s = { ...tx.s, phase: "Idle", consecutiveFailures: failures }
  if (tx.s.enabled) startSessionTimer(tx, "IdleHold", idleHoldDelayMs(tx.s.config.backoff, failures))
}

/** After an error on one connection: only when none is left does the session itself fail. */
export const afterConnectionError = (tx: Tx): void => {
  if (tx.s.connections.length === 0) failToIdle(tx)
}

/**
 * RFC 4271 §8.2.2 OpenSent, event 18: the transport closed before the peer's OPEN. Back to Active,
 * dialling again after ConnectRetryTime (passive sessions just keep listening).
 */
export const fallBackToActive = (tx: Tx): void => {
  cancelDial(tx)
  tx.s = { ...tx.s, phase: "Active" }
  if (!tx.s.config.passive) startSessionTimer(tx, "ConnectRetry", tx.s.config.connectRetryTimeSeconds * 1000)
}
