// NOTIFICATION (RFC 4271 §4.5) and KEEPALIVE (§4.4) messages. A NOTIFICATION is accepted with any code
// and subcode: §6.4 forbids answering a bad NOTIFICATION with another, so the FSM only logs what it got.
// A KEEPALIVE is a bare header, whose exact length the framing already checked.
import { Result } from "effect"
import { type Keepalive, messageType, type Notification } from "../messages.ts"
import { finishMessage, startMessage } from "./framing.ts"
import { u8, Writer } from "./wire.ts"

export const decodeNotification = (message: Uint8Array): Result.Result<Notification, never> =>
  Result.succeed({ _tag: "Notification", code: u8(message, 19), subcode: u8(message, 20), data: message.slice(21) })

export const encodeNotification = (notification: Notification): Uint8Array =>
  finishMessage(startMessage(new Writer(), messageType.Notification).u8(notification.code).u8(notification.subcode).bytes(notification.data))

export const decodeKeepalive = (): Result.Result<Keepalive, never> => Result.succeed({ _tag: "Keepalive" })

export const encodeKeepalive = (): Uint8Array => finishMessage(startMessage(new Writer(), messageType.Keepalive))
