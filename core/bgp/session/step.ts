// The BGP session FSM (RFC 4271 §8) as a pure step function: step(state, input) -> { state, outputs }.
// Start and stop, dials and accepted connections, timers and transport failures are handled here;
// messages by connection state in receive.ts. Inputs about a connection the session no longer has, a
// dial it abandoned or a timer it disarmed are stale and change nothing (a late dial is closed).
// Departures from the RFC's letter, each a choice the RFC leaves open or MetalLB makes: no DelayOpen
// (OPEN is sent on connect); a passive session never dials, so Active runs no ConnectRetry timer; every
// failure that ends in Idle restarts automatically after MetalLB's backoff (the IdleHold timer of
// RFC 4271 §8.1.1 DampPeerOscillations), including Unsupported Capability, since the peer's side of the
// configuration may be fixed without ours changing; ManualStop also cancels a pending restart. BfdDown
// closes every connection without a NOTIFICATION: BFD says the path is gone, so RFC 5882 §3.2 has the
// session react as to a transport failure (RFC 4271 event 18, which sends none either).
import { ceaseSubcode, errorCode, notification } from "../messages.ts"
import {
  accept,
  afterConnectionError,
  begin,
  cancelDial,
  clearFiredTimer,
  connection,
  dial,
  drop,
  failToIdle,
  fallBackToActive,
  startConnectionTimer,
  stopSessionTimer,
  type Tx,
} from "./actions.ts"
import type { ConnectionId, SessionInput, TimerName } from "./inputs.ts"
import type { SessionOutput } from "./outputs.ts"
import { receive } from "./receive.ts"
import { establishedConnection, type Session, stateOf } from "./state.ts"

export interface Transition {
  readonly state: Session
  readonly outputs: ReadonlyArray<SessionOutput>
}

const collisionNotice = notification(errorCode.Cease, ceaseSubcode.ConnectionCollisionResolution)

const isIdle = (s: Session): boolean => s.phase === "Idle" && s.connections.length === 0

const refuse = (tx: Tx, id: ConnectionId): void => {
  const notice = notification(errorCode.Cease, ceaseSubcode.ConnectionRejected)
  tx.out.push({ _tag: "Send", connection: id, message: notice }, { _tag: "CloseConnection", connection: id, reason: { _tag: "Refused" } })
}

/** RFC 4271 §6.8: a connection colliding with an Established one is closed. */
const closeAsCollision = (tx: Tx, id: ConnectionId): void => {
  tx.out.push(
    { _tag: "Send", connection: id, message: collisionNotice },
    { _tag: "CloseConnection", connection: id, reason: { _tag: "CollisionResolution" } },
  )
}

const tcpConnected = (tx: Tx, attempt: number, id: ConnectionId): void => {
  if (connection(tx, id) !== undefined) return
  if (attempt !== tx.s.dialAttempt) {
    tx.out.push({ _tag: "CloseConnection", connection: id, reason: { _tag: "Stale" } })
    return
  }
  tx.s = { ...tx.s, dialAttempt: undefined }
  if (establishedConnection(tx.s) !== undefined) closeAsCollision(tx, id)
  else accept(tx, id, "outgoing")
}

const incoming = (tx: Tx, id: ConnectionId): void => {
  if (connection(tx, id) !== undefined) return
  if (isIdle(tx.s)) return refuse(tx, id)
  if (establishedConnection(tx.s) !== undefined) return closeAsCollision(tx, id)
  // The peer dials one connection at a time: a new one means it gave up the previous one.
  const previous = tx.s.connections.find((c) => c.direction === "incoming")
  if (previous !== undefined) drop(tx, previous.id, { _tag: "Replaced" }, collisionNotice)
  accept(tx, id, "incoming")
}

const transportClosed = (tx: Tx, id: ConnectionId): void => {
  const c = connection(tx, id)
  if (c === undefined) return
  drop(tx, id, { _tag: "TransportClosed" })
  if (tx.s.connections.length > 0) return
  if (c.state === "OpenSent") fallBackToActive(tx)
  else failToIdle(tx)
}

const timerExpired = (tx: Tx, timer: TimerName, token: number): void => {
  const owner = clearFiredTimer(tx, timer, token)
  if (owner === undefined) return
  if (owner === "session") {
    if (timer === "IdleHold") {
      if (isIdle(tx.s) && tx.s.enabled) begin(tx)
    } else if (tx.s.connections.length === 0 && tx.s.phase !== "Idle") {
      // ConnectRetry: in Connect abandon the dial and try again; in Active start dialling.
      cancelDial(tx)
      tx.s = { ...tx.s, phase: "Connect" }
      dial(tx)
    }
    return
  }
  const c = connection(tx, owner)
  if (c === undefined) return
  if (timer === "Hold") {
    const notice = notification(errorCode.HoldTimerExpired, 0)
    drop(tx, c.id, { _tag: "HoldTimerExpired" }, notice)
    afterConnectionError(tx)
  } else if (c.state !== "OpenSent") {
    tx.out.push({ _tag: "Send", connection: c.id, message: { _tag: "Keepalive" } })
    startConnectionTimer(tx, c.id, "Keepalive", c.negotiated.keepaliveTimeSeconds * 1000)
  }
}

const manualStop = (tx: Tx, subcode: number, data: Uint8Array): void => {
  const notice = notification(errorCode.Cease, subcode, data)
  for (const c of tx.s.connections) drop(tx, c.id, { _tag: "ManualStop" }, notice)
  cancelDial(tx)
  stopSessionTimer(tx, "ConnectRetry")
  stopSessionTimer(tx, "IdleHold")
  tx.s = { ...tx.s, phase: "Idle", enabled: false, consecutiveFailures: 0 }
}

const apply = (tx: Tx, input: SessionInput): void => {
  switch (input._tag) {
    case "ManualStart":
      if (!isIdle(tx.s)) return
      stopSessionTimer(tx, "IdleHold")
      tx.s = { ...tx.s, enabled: true, consecutiveFailures: 0 }
      return begin(tx)
    case "AutomaticStart":
      if (!isIdle(tx.s) || tx.s.idleHoldTimer !== undefined) return
      tx.s = { ...tx.s, enabled: true }
      return begin(tx)
    case "ManualStop":
      return manualStop(tx, input.ceaseSubcode ?? ceaseSubcode.AdministrativeShutdown, input.data ?? new Uint8Array(0))
    case "TcpConnected":
      return tcpConnected(tx, input.attempt, input.connection)
    case "TcpConnectFailed":
      if (input.attempt !== tx.s.dialAttempt) return
      tx.s = { ...tx.s, dialAttempt: undefined }
      // RFC 4271 §8.2.2 Connect, event 18 (no DelayOpen): Idle. With a connection up it changes nothing.
      if (tx.s.connections.length === 0) failToIdle(tx)
      return
    case "IncomingConnection":
      return incoming(tx, input.connection)
    case "TcpClosed":
      return transportClosed(tx, input.connection)
    case "MessageReceived": {
      const c = connection(tx, input.connection)
      if (c !== undefined) receive(tx, c, input.message)
      return
    }
    case "DecodeFailed": {
      if (connection(tx, input.connection) === undefined) return
      drop(tx, input.connection, { _tag: "ProtocolError", notification: input.notification }, input.notification)
      return afterConnectionError(tx)
    }
    case "TimerExpired":
      return timerExpired(tx, input.timer, input.token)
    case "BfdDown":
      if (tx.s.connections.length === 0) return
      for (const c of tx.s.connections) drop(tx, c.id, { _tag: "BfdDown" })
      return failToIdle(tx)
    case "SendUpdates": {
      const c = establishedConnection(tx.s)
      if (c === undefined || c.state !== "Established" || input.updates.length === 0) return
      for (const update of input.updates) tx.out.push({ _tag: "Send", connection: c.id, message: update })
      // RFC 4271 §4.4: an UPDATE sent counts as a KEEPALIVE.
      if (c.keepaliveTimer !== undefined) startConnectionTimer(tx, c.id, "Keepalive", c.negotiated.keepaliveTimeSeconds * 1000)
      return
    }
  }
}

export const step = (state: Session, input: SessionInput): Transition => {
  const tx: Tx = { s: state, out: [] }
  const before = stateOf(state)
  apply(tx, input)
  const after = stateOf(tx.s)
  if (after !== before) tx.out.push({ _tag: "StateChanged", from: before, to: after })
  return { state: tx.s, outputs: tx.out }
}
