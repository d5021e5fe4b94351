// What a BGP decoder reports when bytes are not an acceptable message. A BgpDecodeError is the
// session-resetting kind: it carries the NOTIFICATION error code, subcode and data exactly as RFC 4271
// §6 (and RFC 7606, RFC 6793, RFC 7313 for their cases) require, plus a reason for the log, so the FSM
// only has to send notificationFor(error) and close. A BgpIgnoredMessage is a message the RFCs say to
// drop without resetting (a ROUTE-REFRESH for a family or subtype not spoken here, RFC 2918 §4 and
// RFC 7313 §5). A FramingError is a header error found while splitting the TCP stream; it also hands
// back the whole messages that preceded it, which the FSM may still process (a peer's NOTIFICATION).
import { Data } from "effect"
import { maxMessageLength, type Notification, notification } from "../messages.ts"

export class BgpDecodeError extends Data.TaggedError("BgpDecodeError")<{
  readonly code: number
  readonly subcode: number
  readonly data: Uint8Array
  readonly reason: string
}> {
  override get message(): string {
    return `${this.reason} (NOTIFICATION ${this.code}/${this.subcode})`
  }
}

export class BgpIgnoredMessage extends Data.TaggedError("BgpIgnoredMessage")<{ readonly reason: string }> {
  override get message(): string {
    return this.reason
  }
}

export class FramingError extends Data.TaggedError("FramingError")<{
  readonly code: number
  readonly subcode: number
  readonly data: Uint8Array
  readonly reason: string
  /** Whole messages that preceded the bad header, in order. */
  readonly messages: ReadonlyArray<Uint8Array>
}> {
  override get message(): string {
    return `${this.reason} (NOTIFICATION ${this.code}/${this.subcode})`
  }
}

export type DecodeFailure = BgpDecodeError | BgpIgnoredMessage

const noData = new Uint8Array(0)

export const decodeError = (code: number, subcode: number, reason: string, data: Uint8Array = noData): BgpDecodeError =>
  new BgpDecodeError({ code, subcode, data, reason })

/** NOTIFICATION header (19) + code + subcode: the room left for data in a 4096-byte message. */
export const maxNotificationDataLength = maxMessageLength - 21

/**
 * The NOTIFICATION to send for an error. Data longer than a NOTIFICATION can carry (RFC 7313 asks for a
 * whole ROUTE-REFRESH, which may itself be 4096 bytes) is cut to fit.
 */
export const notificationFor = (error: {
  readonly code: number
  readonly subcode: number
  readonly data: Uint8Array
}): Notification =>
  notification(
    error.code,
    error.subcode,
    error.data.length > maxNotificationDataLength ? error.data.slice(0, maxNotificationDataLength) : error.data,
  )
