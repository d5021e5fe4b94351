// OPEN messages (RFC 4271 §4.2, §6.2). Decoding checks, in the RFC's order: version 4 (else Unsupported
// Version Number, data = the largest version supported here, 2 bytes), a non-zero AS (RFC 7607: Bad
// Peer AS), hold time 0 or >= 3 (else Unacceptable Hold Time), a non-zero BGP Identifier (RFC 6286:
// Bad BGP Identifier), then the optional parameters: only Capabilities (type 2, RFC 5492) is accepted,
// anything else is Unsupported Optional Parameter. RFC 9072 extended optional parameters are supported
// both ways: accepted on receipt (Non-Ext OP Len 255 and Non-Ext OP Type 255) and used on sending only
// when the capabilities do not fit a 255-byte parameter block. Open.asn is the 4-octet AS capability's
// value when present (RFC 6793 §4.1), and encoding puts AS_TRANS in the 2-byte field above 65535.
import { Result } from "effect"
import { asTrans, type Capability, errorCode, messageType, type Open, openSubcode } from "../messages.ts"
import { decodeCapabilities, openUnspecific, writeCapability } from "./capabilities.ts"
import { type BgpDecodeError, decodeError } from "./errors.ts"
import { finishMessage, startMessage } from "./framing.ts"
import { twoBytes, u16, u32, u8, Writer } from "./wire.ts"

const bgpVersion = 4
const capabilitiesParameter = 2
/** RFC 9072 §2: the Non-Ext OP Type announcing the extended format. */
const extendedParameters = 255
const fixedEnd = 29

const openError = (subcode: number, reason: string, data?: Uint8Array): BgpDecodeError =>
  decodeError(errorCode.OpenMessage, subcode, reason, data)

interface ParameterLayout {
  readonly start: number
  readonly end: number
  readonly lengthBytes: 1 | 2
}

const parameterLayout = (message: Uint8Array): Result.Result<ParameterLayout, BgpDecodeError> => {
  const declared = u8(message, fixedEnd - 1)
  if (declared === 255 && message.length > fixedEnd && u8(message, fixedEnd) === extendedParameters) {
    if (message.length < fixedEnd + 3) return Result.fail(openError(openUnspecific, "extended optional parameters length truncated"))
    const end = fixedEnd + 3 + u16(message, fixedEnd + 1)
    if (end !== message.length) {
      return Result.fail(openError(openUnspecific, `extended optional parameters end at ${end}, message at ${message.length}`))
    }
    return Result.succeed({ start: fixedEnd + 3, end, lengthBytes: 2 })
  }
  if (fixedEnd + declared !== message.length) {
    return Result.fail(openError(openUnspecific, `optional parameters length ${declared} disagrees with message length ${message.length}`))
  }
  return Result.succeed({ start: fixedEnd, end: message.length, lengthBytes: 1 })
}

const decodeParameters = (message: Uint8Array): Result.Result<Array<Capability>, BgpDecodeError> => {
  const layout = parameterLayout(message)
  if (Result.isFailure(layout)) return Result.fail(layout.failure)
  const { start, end, lengthBytes } = layout.success
  const capabilities: Array<Capability> = []
  let offset = start
  while (offset < end) {
    if (end - offset < 1 + lengthBytes) return Result.fail(openError(openUnspecific, "optional parameter header truncated"))
    const type = u8(message, offset)
    const length = lengthBytes === 1 ? u8(message, offset + 1) : u16(message, offset + 1)
    const valueStart = offset + 1 + lengthBytes
    if (valueStart + length > end) {
      return Result.fail(openError(openUnspecific, `optional parameter ${type} of ${length} bytes overruns the OPEN`))
    }
    if (type !== capabilitiesParameter) {
      return Result.fail(openError(openSubcode.UnsupportedOptionalParameter, `unsupported optional parameter type ${type}`))
    }
    const decoded = decodeCapabilities(message, valueStart, valueStart + length)
    if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
    capabilities.push(...decoded.success)
    offset = valueStart + length
  }
  return Result.succeed(capabilities)
}

/** Decodes a whole OPEN message whose header has been checked. */
export const decodeOpen = (message: Uint8Array): Result.Result<Open, BgpDecodeError> => {
  const version = u8(message, 19)
  if (version !== bgpVersion) {
    return Result.fail(openError(openSubcode.UnsupportedVersionNumber, `BGP version ${version} (only 4 is spoken)`, twoBytes(bgpVersion)))
  }
  const myAsn = u16(message, 20)
  const holdTimeSeconds = u16(message, 22)
  const bgpIdentifier = u32(message, 24)
  if (myAsn === 0) return Result.fail(openError(openSubcode.BadPeerAs, "peer AS is 0 (RFC 7607)"))
  if (holdTimeSeconds === 1 || holdTimeSeconds === 2) {
    return Result.fail(openError(openSubcode.UnacceptableHoldTime, `hold time ${holdTimeSeconds}s (must be 0 or at least 3)`))
  }
  if (bgpIdentifier === 0) return Result.fail(openError(openSubcode.BadBgpIdentifier, "BGP Identifier is 0"))
  const capabilities = decodeParameters(message)
  if (Result.isFailure(capabilities)) return Result.fail(capabilities.failure)
  const fourOctet = capabilities.success.find((c) => c._tag === "FourOctetAsn")
  if (fourOctet !== undefined && fourOctet.asn === 0) {
    return Result.fail(openError(openSubcode.BadPeerAs, "4-octet AS capability carries AS 0 (RFC 7607)"))
  }
  return Result.succeed({
    _tag: "Open",
    asn: fourOctet === undefined ? myAsn : fourOctet.asn,
    holdTimeSeconds,
    bgpIdentifier,
    capabilities: capabilities.success,
  })
}

export const encodeOpen = (open: Open): Uint8Array => {
  const capabilities = new Writer()
  for (const capability of open.capabilities) writeCapability(capabilities, capability)
  const writer = startMessage(new Writer(), messageType.Open)
  writer.u8(bgpVersion).u16(open.asn > 0xffff ? asTrans : open.asn).u16(open.holdTimeSeconds).u32(open.bgpIdentifier)
  if (capabilities.length === 0) {
    writer.u8(0)
  } else if (capabilities.length + 2 <= 255) {
    writer.u8(capabilities.length + 2).u8(capabilitiesParameter).u8(capabilities.length).bytes(capabilities.finish())
  } else {
    writer.u8(255).u8(extendedParameters).u16(capabilities.length + 3)
    writer.u8(capabilitiesParameter).u16(capabilities.length).bytes(capabilities.finish())
  }
  return finishMessage(writer)
}
