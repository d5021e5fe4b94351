// Our BFD Echo packet (RFC 5880 §4, §6.4): only its sender ever reads it, since the neighbour's
// forwarding plane sends it straight back, so the format is ours. It names the session (our local
// discriminator), the activation it belongs to (a nonce drawn when echo starts, so an echo from an
// earlier activation cannot vouch for the path now), a sequence number (so an echo that took longer
// than the detection time does not count) and the send time in microseconds (the round trip is
// measured from it). 24 bytes, big-endian:
//   version (1) | length (24) | reserved (2 octets, 0) | discriminator | nonce | sequence | sent at (8)
import { Data, Result } from "effect"

export interface EchoPacket {
  /** Unsigned 32-bit, non-zero: the sending session's local discriminator. */
  readonly discriminator: number
  /** Unsigned 32-bit, drawn for each activation of the Echo function. */
  readonly nonce: number
  /** Unsigned 32-bit, counting the echoes of one activation from 0. */
  readonly sequence: number
  /** The sender's clock when it sent the packet, whole microseconds, at most 2^53 - 1. */
  readonly sentAtUs: number
}

export const echoPacketBytes = 24
const echoVersion = 1

export type EchoDecodeReason = "Truncated" | "UnsupportedVersion" | "BadLength" | "ZeroDiscriminator" | "TimeOutOfRange"

export class EchoDecodeError extends Data.TaggedError("EchoDecodeError")<{
  readonly reason: EchoDecodeReason
  readonly detail: string
}> {
  override get message(): string {
    return `BFD Echo packet discarded (${this.reason}): ${this.detail}`
  }
}

const fail = (reason: EchoDecodeReason, detail: string) => Result.fail(new EchoDecodeError({ reason, detail }))

/** Bytes after the 24 (UDP padding) are ignored. */
export const decodeEchoPacket = (bytes: Uint8Array): Result.Result<EchoPacket, EchoDecodeError> => {
  if (bytes.length < echoPacketBytes) return fail("Truncated", `${bytes.length} bytes received, an Echo packet has ${echoPacketBytes}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint8(0)
  if (version !== echoVersion) return fail("UnsupportedVersion", `version ${version}, only ${echoVersion} is sent`)
  const length = view.getUint8(1)
  if (length !== echoPacketBytes) return fail("BadLength", `Length ${length}, an Echo packet has ${echoPacketBytes}`)
  const discriminator = view.getUint32(4)
  if (discriminator === 0) return fail("ZeroDiscriminator", "the discriminator is zero (no session has it)")
  const sentAt = view.getBigUint64(16)
  if (sentAt > BigInt(Number.MAX_SAFE_INTEGER)) return fail("TimeOutOfRange", `send time ${sentAt} µs is beyond 2^53 - 1`)
  return Result.succeed({ discriminator, nonce: view.getUint32(8), sequence: view.getUint32(12), sentAtUs: Number(sentAt) })
}

/** Fields are written modulo their width; a send time outside [0, 2^53) is clamped into it. */
export const encodeEchoPacket = (packet: EchoPacket): Uint8Array => {
  const bytes = new Uint8Array(echoPacketBytes)
  const view = new DataView(bytes.buffer)
  view.setUint8(0, echoVersion)
  view.setUint8(1, echoPacketBytes)
  view.setUint32(4, packet.discriminator >>> 0)
  view.setUint32(8, packet.nonce >>> 0)
  view.setUint32(12, packet.sequence >>> 0)
  const sentAtUs = Number.isFinite(packet.sentAtUs) ? Math.min(Math.max(0, Math.floor(packet.sentAtUs)), Number.MAX_SAFE_INTEGER) : 0
  view.setBigUint64(16, BigInt(sentAtUs))
  return bytes
}
