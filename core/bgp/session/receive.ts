// A message received on one connection, by the connection's state (RFC 4271 §8.2.2, events 19-27):
// the peer's OPEN in OpenSent is checked, run through collision detection (§6.8) and answered with a
// KEEPALIVE; the KEEPALIVE in OpenConfirm establishes the session; KEEPALIVE, UPDATE and ROUTE-REFRESH
// in Established restart the hold timer (the RFC names the first two; any message proves the peer
// alive). A NOTIFICATION closes the connection; any other message is an FSM error answered with
// NOTIFICATION 5 and the RFC 6608 subcode of the state. UPDATE contents are discarded: this speaker
// only announces (as MetalLB's).
import { Result } from "effect"
import { ceaseSubcode, errorCode, fsmSubcode, type Message, notification } from "../messages.ts"
import {
  afterConnectionError,
  cancelDial,
  drop,
  startConnectionTimer,
  stopConnectionTimer,
  type Tx,
  updateConnection,
} from "./actions.ts"
import { collisionLoser } from "./collision.ts"
import type { ConnectionId } from "./inputs.ts"
import { checkOpen } from "./open-check.ts"
import type { Negotiated } from "./outputs.ts"
import type { Connection } from "./state.ts"

const collisionNotice = notification(errorCode.Cease, ceaseSubcode.ConnectionCollisionResolution)

const fsmError = (tx: Tx, id: ConnectionId, subcode: number): void => {
  const notice = notification(errorCode.FiniteStateMachine, subcode)
  drop(tx, id, { _tag: "ProtocolError", notification: notice }, notice)
  afterConnectionError(tx)
}

/** Arm the negotiated hold and keepalive timers; a hold time of 0 arms neither (RFC 4271 §4.4). */
const armNegotiatedTimers = (tx: Tx, id: ConnectionId, negotiated: Negotiated): void => {
  stopConnectionTimer(tx, id, "Hold")
  if (negotiated.holdTimeSeconds === 0) return
  startConnectionTimer(tx, id, "Hold", negotiated.holdTimeSeconds * 1000)
  startConnectionTimer(tx, id, "Keepalive", negotiated.keepaliveTimeSeconds * 1000)
}

const confirm = (tx: Tx, id: ConnectionId, negotiated: Negotiated): void => {
  tx.out.push({ _tag: "Send", connection: id, message: { _tag: "Keepalive" } })
  updateConnection(tx, id, (c) => ({ ...c, state: "OpenConfirm", negotiated }))
  armNegotiatedTimers(tx, id, negotiated)
}

const openInOpenSent = (tx: Tx, c: Connection, message: Extract<Message, { _tag: "Open" }>): void => {
  const checked = checkOpen(tx.s.config, message)
  if (Result.isFailure(checked)) {
    drop(tx, c.id, { _tag: "ProtocolError", notification: checked.failure }, checked.failure)
    afterConnectionError(tx)
    return
  }
  const negotiated = checked.success
  const other = tx.s.connections.find((o) => o.id !== c.id)
  if (other?.state === "Established") {
    // RFC 4271 §6.8: a collision with an Established connection closes the new one.
    drop(tx, c.id, { _tag: "CollisionResolution" }, collisionNotice)
    return
  }
  if (other?.state === "OpenConfirm") {
    const loser = collisionLoser(tx.s.config, negotiated.peerBgpIdentifier, negotiated.peerAsn)
    if (c.direction === loser) {
      drop(tx, c.id, { _tag: "CollisionResolution" }, collisionNotice)
      return
    }
    drop(tx, other.id, { _tag: "CollisionResolution" }, collisionNotice)
  }
  confirm(tx, c.id, negotiated)
}

const establish = (tx: Tx, id: ConnectionId, negotiated: Negotiated): void => {
  updateConnection(tx, id, (c) => ({ ...c, state: "Established", negotiated }))
  if (negotiated.holdTimeSeconds > 0) startConnectionTimer(tx, id, "Hold", negotiated.holdTimeSeconds * 1000)
  // A dial still in flight could only produce a connection to refuse now.
  cancelDial(tx)
  const gr = tx.s.config.gracefulRestart
  const sendEndOfRib = gr.enabled && negotiated.gracefulRestart !== undefined ? negotiated.families : []
  tx.s = { ...tx.s, consecutiveFailures: 0, advertiseRestarting: false }
  tx.out.push({ _tag: "SessionUp", connection: id, negotiated, sendEndOfRib })
}

export const receive = (tx: Tx, c: Connection, message: Message): void => {
  if (message._tag === "Notification") {
    drop(tx, c.id, { _tag: "NotificationReceived", notification: message })
    afterConnectionError(tx)
    return
  }
  switch (c.state) {
    case "OpenSent":
      if (message._tag === "Open") openInOpenSent(tx, c, message)
      else fsmError(tx, c.id, fsmSubcode.UnexpectedInOpenSent)
      return
    case "OpenConfirm":
      if (message._tag === "Keepalive") establish(tx, c.id, c.negotiated)
      else fsmError(tx, c.id, fsmSubcode.UnexpectedInOpenConfirm)
      return
    case "Established": {
      if (message._tag === "Open") {
        fsmError(tx, c.id, fsmSubcode.UnexpectedInEstablished)
        return
      }
      const { negotiated } = c
      if (negotiated.holdTimeSeconds > 0) startConnectionTimer(tx, c.id, "Hold", negotiated.holdTimeSeconds * 1000)
      // RFC 2918: a request for a family we did not negotiate is ignored; subtypes 1/2 are RFC 7313
      // markers, meaningful only with Enhanced Route Refresh, which we do not offer.
      if (message._tag === "RouteRefresh" && message.subtype === 0 && negotiated.routeRefresh && negotiated.families.includes(message.family)) {
        tx.out.push({ _tag: "RouteRefreshRequested", family: message.family })
      }
      return
    }
  }
}
