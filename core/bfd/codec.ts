// BFD Control packet codec (RFC 5880 §4.1) with the reception checks of §6.8.6 that concern the
// packet alone: version 1, a Length of at least 24 (26 with the A bit) that fits in the bytes received,
// a non-zero Detect Mult, the Multipoint bit clear, a non-zero My Discriminator, and a zero Your
// Discriminator only from a sender in Down or AdminDown. The checks that need a session (which
// discriminator is ours, authentication in use, TTL) belong to the session FSM. Bytes after Length
// (UDP padding) are ignored; bytes inside Length after the mandatory part and the authentication
// section are ignored as well, so decoding never depends on them.
import { Data, Result } from "effect"
import {
  authHeaderLengthBytes,
  bfdStates,
  type BfdState,
  type ControlPacket,
  headerLengthBytes,
  maxAuthDataBytes,
} from "./packet.ts"

export type BfdDecodeReason =
  | "Truncated"
  | "UnsupportedVersion"
  | "LengthTooSmall"
  | "LengthExceedsPayload"
  | "ZeroDetectMultiplier"
  | "MultipointSet"
  | "ZeroMyDiscriminator"
  | "ZeroYourDiscriminator"
  | "BadAuthenticationLength"

export class BfdDecodeError extends Data.TaggedError("BfdDecodeError")<{
  readonly reason: BfdDecodeReason
  readonly detail: string
}> {
  override get message(): string {
    return `BFD Control packet discarded (${this.reason}): ${this.detail}`
  }
}

const version = 1
/** Enough to read the version, the A bit and the Length field. */
const minimumReadableBytes = 4

const flagPoll = 0x20
const flagFinal = 0x10
const flagControlPlaneIndependent = 0x08
const flagAuthentication = 0x04
const flagDemand = 0x02
const flagMultipoint = 0x01

const fail = (reason: BfdDecodeReason, detail: string) => Result.fail(new BfdDecodeError({ reason, detail }))

export const decodeControlPacket = (bytes: Uint8Array): Result.Result<ControlPacket, BfdDecodeError> => {
  if (bytes.length < minimumReadableBytes) {
    return fail("Truncated", `${bytes.length} bytes received, a Control packet has at least ${headerLengthBytes}`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const first = view.getUint8(0)
  const flags = view.getUint8(1)
  const length = view.getUint8(3)
  const receivedVersion = first >> 5
  if (receivedVersion !== version) return fail("UnsupportedVersion", `version ${receivedVersion}, only ${version} is spoken`)
  const authenticated = (flags & flagAuthentication) !== 0
  const minimumLength = headerLengthBytes + (authenticated ? authHeaderLengthBytes : 0)
  if (length < minimumLength) {
    return fail("LengthTooSmall", `Length ${length} is below ${minimumLength}${authenticated ? " (A bit set)" : ""}`)
  }
  if (length > bytes.length) return fail("LengthExceedsPayload", `Length ${length} but only ${bytes.length} bytes received`)
  const detectMultiplier = view.getUint8(2)
  if (detectMultiplier === 0) return fail("ZeroDetectMultiplier", "Detect Mult is zero")
  if ((flags & flagMultipoint) !== 0) return fail("MultipointSet", "the Multipoint bit is reserved and must be zero")
  const myDiscriminator = view.getUint32(4)
  if (myDiscriminator === 0) return fail("ZeroMyDiscriminator", "My Discriminator is zero")
  const state = bfdStates[flags >> 6] as BfdState
  const yourDiscriminator = view.getUint32(8)
  if (yourDiscriminator === 0 && state !== "Down" && state !== "AdminDown") {
    return fail("ZeroYourDiscriminator", `Your Discriminator is zero in state ${state}`)
  }
  const packet: ControlPacket = {
    diagnostic: first & 0x1f,
    state,
    poll: (flags & flagPoll) !== 0,
    final: (flags & flagFinal) !== 0,
    controlPlaneIndependent: (flags & flagControlPlaneIndependent) !== 0,
    demand: (flags & flagDemand) !== 0,
    detectMultiplier,
    myDiscriminator,
    yourDiscriminator,
    desiredMinTxIntervalUs: view.getUint32(12),
    requiredMinRxIntervalUs: view.getUint32(16),
    requiredMinEchoRxIntervalUs: view.getUint32(20),
  }
  if (!authenticated) return Result.succeed(packet)
  const authType = view.getUint8(headerLengthBytes)
  const authLength = view.getUint8(headerLengthBytes + 1)
  if (authLength < authHeaderLengthBytes || headerLengthBytes + authLength > length) {
    return fail("BadAuthenticationLength", `Auth Len ${authLength} does not fit in Length ${length}`)
  }
  const data = bytes.slice(headerLengthBytes + authHeaderLengthBytes, headerLengthBytes + authLength)
  return Result.succeed({ ...packet, authentication: { type: authType, data } })
}

/**
 * The packet's bytes. Fields are written modulo their width (the types promise they fit); an
 * authentication section longer than the one-octet Length allows is cut to `maxAuthDataBytes`.
 */
export const encodeControlPacket = (packet: ControlPacket): Uint8Array => {
  const auth = packet.authentication
  const authData = auth === undefined ? undefined : auth.data.subarray(0, maxAuthDataBytes)
  const authLength = authData === undefined ? 0 : authHeaderLengthBytes + authData.length
  const length = headerLengthBytes + authLength
  const bytes = new Uint8Array(length)
  const view = new DataView(bytes.buffer)
  const flags = (bfdStates.indexOf(packet.state) << 6)
    | (packet.poll ? flagPoll : 0)
    | (packet.final ? flagFinal : 0)
    | (packet.controlPlaneIndependent ? flagControlPlaneIndependent : 0)
    | (auth === undefined ? 0 : flagAuthentication)
    | (packet.demand ? flagDemand : 0)
  view.setUint8(0, (version << 5) | (packet.diagnostic & 0x1f))
  view.setUint8(1, flags & 0xff)
  view.setUint8(2, packet.detectMultiplier & 0xff)
  view.setUint8(3, length)
  view.setUint32(4, packet.myDiscriminator >>> 0)
  view.setUint32(8, packet.yourDiscriminator >>> 0)
  view.setUint32(12, packet.desiredMinTxIntervalUs >>> 0)
  view.setUint32(16, packet.requiredMinRxIntervalUs >>> 0)
  view.setUint32(20, packet.requiredMinEchoRxIntervalUs >>> 0)
  if (auth !== undefined && authData !== undefined) {
    view.setUint8(headerLengthBytes, auth.type & 0xff)
    view.setUint8(headerLengthBytes + 1, authLength)
    bytes.set(authData, headerLengthBytes + authHeaderLengthBytes)
  }
  return bytes
}
