// Splits a TCP byte stream into whole BGP messages and checks each header (RFC 4271 §4.1, §6.1): the
// 16-byte all-ones marker (else Connection Not Synchronized), a length within 19..4096 and at least the
// fixed size of its type (else Bad Message Length, data = the 2-byte length field), and a known type
// (else Bad Message Type, data = the type byte). Per-type sizes: OPEN 29, UPDATE 23, NOTIFICATION 21,
// KEEPALIVE exactly 19, ROUTE-REFRESH 23 (RFC 2918 §3; its exact size is checked by its decoder,
// which RFC 7313 §5 gives its own error code). Messages are returned as copies so the caller may reuse
// its receive buffer.
import { Result } from "effect"
import { errorCode, headerLength, headerSubcode, maxMessageLength, messageType } from "../messages.ts"
import { BgpDecodeError, decodeError, FramingError } from "./errors.ts"
import { twoBytes, u16, u8, type Writer } from "./wire.ts"

const markerLength = 16

/** The smallest valid length of each message type. */
const minimumLength: ReadonlyMap<number, number> = new Map([
  [messageType.Open, 29],
  [messageType.Update, 23],
  [messageType.Notification, 21],
  [messageType.Keepalive, 19],
  [messageType.RouteRefresh, 23],
])

export interface Header {
  readonly length: number
  readonly type: number
}

const badLength = (field: number, reason: string): BgpDecodeError =>
  decodeError(errorCode.MessageHeader, headerSubcode.BadMessageLength, reason, twoBytes(field))

/** Checks the header starting at `offset`; at least 19 bytes must be available there. */
export const checkHeader = (bytes: Uint8Array, offset: number): Result.Result<Header, BgpDecodeError> => {
  for (let i = 0; i < markerLength; i++) {
    if (u8(bytes, offset + i) !== 0xff) {
      return Result.fail(
        decodeError(errorCode.MessageHeader, headerSubcode.ConnectionNotSynchronized, "marker is not all ones"),
      )
    }
  }
  const length = u16(bytes, offset + markerLength)
  const type = u8(bytes, offset + markerLength + 2)
  if (length < headerLength || length > maxMessageLength) {
    return Result.fail(badLength(length, `message length ${length} is outside ${headerLength}..${maxMessageLength}`))
  }
  const minimum = minimumLength.get(type)
  if (minimum === undefined) {
    return Result.fail(
      decodeError(errorCode.MessageHeader, headerSubcode.BadMessageType, `unknown message type ${type}`, Uint8Array.of(type)),
    )
  }
  if (length < minimum) return Result.fail(badLength(length, `type ${type} message of ${length} bytes is shorter than ${minimum}`))
  if (type === messageType.Keepalive && length !== headerLength) {
    return Result.fail(badLength(length, `KEEPALIVE of ${length} bytes (must be exactly ${headerLength})`))
  }
  return Result.succeed({ length, type })
}

/** Checks that `message` is exactly one message with a valid header. */
export const checkMessage = (message: Uint8Array): Result.Result<Header, BgpDecodeError> => {
  if (message.length < headerLength) {
    return Result.fail(badLength(message.length, `${message.length} bytes cannot hold a ${headerLength}-byte header`))
  }
  const header = checkHeader(message, 0)
  if (Result.isFailure(header)) return header
  if (header.success.length !== message.length) {
    return Result.fail(
      badLength(header.success.length, `length field says ${header.success.length} bytes but the message has ${message.length}`),
    )
  }
  return header
}

export interface Framed {
  /** Whole messages, header included, in stream order. */
  readonly messages: ReadonlyArray<Uint8Array>
  /** The bytes of an incomplete message, to prepend to the next read. */
  readonly rest: Uint8Array
}

export const frame = (buffer: Uint8Array): Result.Result<Framed, FramingError> => {
  const messages: Array<Uint8Array> = []
  let offset = 0
  while (buffer.length - offset >= headerLength) {
    const header = checkHeader(buffer, offset)
    if (Result.isFailure(header)) {
      const { code, subcode, data, reason } = header.failure
      return Result.fail(new FramingError({ code, subcode, data, reason, messages }))
    }
    if (buffer.length - offset < header.success.length) break
    messages.push(buffer.slice(offset, offset + header.success.length))
    offset += header.success.length
  }
  return Result.succeed({ messages, rest: buffer.slice(offset) })
}

/** Writes the marker, a length placeholder and the type; finishMessage fills in the length. */
export const startMessage = (writer: Writer, type: number): Writer => {
  for (let i = 0; i < markerLength; i++) writer.u8(0xff)
  return writer.u16(0).u8(type)
}

export const finishMessage = (writer: Writer): Uint8Array => writer.patchU16(markerLength, writer.length).finish()
