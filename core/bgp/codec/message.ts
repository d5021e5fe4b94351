// Whole BGP messages: the entry points the session FSM and the RIB planner use. decode checks the
// header (the same checks as frame) and dispatches on the type; an UPDATE that RFC 7606 says to treat
// as withdraw comes back as the Update withdrawing all its prefixes, while decodeUpdate gives the
// outcome with its reason. Options say whether both speakers advertised the 4-octet AS capability,
// which decides the AS_PATH encoding (RFC 6793); they matter for UPDATE only.
import { Result } from "effect"
import { errorCode, headerSubcode, type Message, messageType } from "../messages.ts"
import { type BgpDecodeError, type DecodeFailure, decodeError } from "./errors.ts"
import { checkMessage } from "./framing.ts"
import { decodeKeepalive, decodeNotification, encodeKeepalive, encodeNotification } from "./notification.ts"
import { decodeOpen, encodeOpen } from "./open.ts"
import { decodeRouteRefresh, encodeRouteRefresh } from "./route-refresh.ts"
import { decodeUpdateMessage, encodeUpdate, type UpdateOutcome, withdrawalOf } from "./update.ts"

export interface CodecOptions {
  /** True when both OPENs carried the 4-octet AS capability. */
  readonly fourOctetAsn: boolean
}

/** Decodes one whole UPDATE message (header included) into its RFC 7606 outcome. */
export const decodeUpdate = (message: Uint8Array, options: CodecOptions): Result.Result<UpdateOutcome, BgpDecodeError> => {
  const header = checkMessage(message)
  if (Result.isFailure(header)) return Result.fail(header.failure)
  const { type } = header.success
  if (type !== messageType.Update) {
    return Result.fail(decodeError(errorCode.MessageHeader, headerSubcode.BadMessageType, `type ${type} is not an UPDATE`, Uint8Array.of(type)))
  }
  return decodeUpdateMessage(message, options.fourOctetAsn)
}

/** Decodes one whole message (header included). */
export const decode = (message: Uint8Array, options: CodecOptions): Result.Result<Message, DecodeFailure> => {
  const header = checkMessage(message)
  if (Result.isFailure(header)) return Result.fail(header.failure)
  switch (header.success.type) {
    case messageType.Open:
      return decodeOpen(message)
    case messageType.Update: {
      const outcome = decodeUpdateMessage(message, options.fourOctetAsn)
      if (Result.isFailure(outcome)) return Result.fail(outcome.failure)
      return Result.succeed(outcome.success._tag === "Update" ? outcome.success.update : withdrawalOf(outcome.success.withdrawn))
    }
    case messageType.Notification:
      return decodeNotification(message)
    case messageType.Keepalive:
      return decodeKeepalive()
    default:
      return decodeRouteRefresh(message)
  }
}

/**
 * The exact wire bytes of a message. Values are taken as valid (ASNs, prefixes with host bits zero,
 * a next hop of the family's size); the caller keeps an UPDATE within 4096 bytes, see encodedLength.
 */
export const encode = (message: Message, options: CodecOptions): Uint8Array => {
  switch (message._tag) {
    case "Open":
      return encodeOpen(message)
    case "Update":
      return encodeUpdate(message, options.fourOctetAsn)
    case "Notification":
      return encodeNotification(message)
    case "Keepalive":
      return encodeKeepalive()
    case "RouteRefresh":
      return encodeRouteRefresh(message)
  }
}

/** The encoded size in bytes, header included; compare with maxMessageLength (4096). */
export const encodedLength = (message: Message, options: CodecOptions): number => encode(message, options).length
