// UPDATE messages (RFC 4271 §4.3) with the error handling of RFC 7606. The body's two length fields
// must fit the message (else Malformed Attribute List) and both prefix fields must parse (else Invalid
// Network Field, §5.3): without them no NLRI can be located and only a session reset is safe. The
// attribute list is then split; an attribute running past the list's end is treat-as-withdraw with the
// NLRI still found through the Total Path Attribute Length (§4). Outcomes: the Update (with the
// attributes that were discarded, for the log), TreatAsWithdraw listing every prefix the message
// carries (body withdrawals and NLRI, MP_REACH and MP_UNREACH prefixes), or a BgpDecodeError when a
// session reset is required, including a treat-as-withdraw error in an UPDATE that carries no
// reachable NLRI (§5.2). Missing ORIGIN or AS_PATH (and NEXT_HOP with body NLRI) is treat-as-withdraw
// (§3d); LOCAL_PREF is left to the caller, which alone knows whether the peer is internal.
import { Result } from "effect"
import type { Prefix } from "../../net/prefix.ts"
import { attributeCode, errorCode, messageType, type PathAttributes, type Update, updateSubcode } from "../messages.ts"
import { type AttributeProblem, interpretAttributes, type RawAttribute } from "./attributes-decode.ts"
import { writeAttributes } from "./attributes-encode.ts"
import { type BgpDecodeError, decodeError } from "./errors.ts"
import { finishMessage, startMessage } from "./framing.ts"
import { readPrefixes, writePrefixes } from "./nlri.ts"
import { u16, u8, Writer } from "./wire.ts"

export type UpdateOutcome =
  | {
    readonly _tag: "Update"
    readonly update: Update
    /** Attributes dropped under RFC 7606's attribute-discard approach (or RFC 6793), for the log. */
    readonly discarded: ReadonlyArray<string>
  }
  | {
    readonly _tag: "TreatAsWithdraw"
    /** Every prefix in the message, to be removed from the Adj-RIB-In. */
    readonly withdrawn: ReadonlyArray<Prefix>
    readonly reason: string
  }

const bodyStart = 19
const extendedLength = 0x10

interface SplitAttributes {
  readonly attributes: ReadonlyArray<RawAttribute>
  readonly overrun?: string
}

const splitAttributes = (message: Uint8Array, start: number, end: number): SplitAttributes => {
  const attributes: Array<RawAttribute> = []
  let offset = start
  while (offset < end) {
    const flags = u8(message, offset)
    const headerLength = (flags & extendedLength) !== 0 ? 4 : 3
    if (end - offset < headerLength) return { attributes, overrun: `${end - offset} bytes left cannot hold an attribute header` }
    const code = u8(message, offset + 1)
    const length = headerLength === 4 ? u16(message, offset + 2) : u8(message, offset + 2)
    if (offset + headerLength + length > end) {
      return { attributes, overrun: `attribute ${code} of ${length} bytes runs past the path attributes` }
    }
    attributes.push({
      flags,
      code,
      value: message.slice(offset + headerLength, offset + headerLength + length),
      raw: message.slice(offset, offset + headerLength + length),
    })
    offset += headerLength + length
  }
  return { attributes }
}

const updateError = (subcode: number, reason: string, data?: Uint8Array): BgpDecodeError =>
  decodeError(errorCode.UpdateMessage, subcode, reason, data)

const missing = (code: number, name: string): AttributeProblem => ({
  approach: "treat-as-withdraw",
  code: errorCode.UpdateMessage,
  subcode: updateSubcode.MissingWellKnownAttribute,
  data: Uint8Array.of(code),
  reason: `missing ${name}`,
})

const missingAttributes = (attributes: PathAttributes, bodyNlri: boolean): Array<AttributeProblem> => [
  ...(attributes.origin === undefined ? [missing(attributeCode.Origin, "ORIGIN")] : []),
  ...(attributes.asPath === undefined ? [missing(attributeCode.AsPath, "AS_PATH")] : []),
  ...(bodyNlri && attributes.nextHop === undefined ? [missing(attributeCode.NextHop, "NEXT_HOP")] : []),
]

/** Decodes a whole UPDATE message whose header has been checked. */
export const decodeUpdateMessage = (message: Uint8Array, fourOctetAsn: boolean): Result.Result<UpdateOutcome, BgpDecodeError> => {
  const end = message.length
  const withdrawnLength = u16(message, bodyStart)
  const attributesLengthAt = bodyStart + 2 + withdrawnLength
  if (attributesLengthAt + 2 > end) {
    const reason = `withdrawn routes length ${withdrawnLength} overruns the message`
    return Result.fail(updateError(updateSubcode.MalformedAttributeList, reason))
  }
  const attributesStart = attributesLengthAt + 2
  const attributesEnd = attributesStart + u16(message, attributesLengthAt)
  if (attributesEnd > end) {
    const reason = `path attributes length ${attributesEnd - attributesStart} overruns the message`
    return Result.fail(updateError(updateSubcode.MalformedAttributeList, reason))
  }
  const withdrawn = readPrefixes(message, bodyStart + 2, attributesLengthAt, "ipv4")
  if (Result.isFailure(withdrawn)) return Result.fail(updateError(updateSubcode.InvalidNetworkField, `withdrawn routes: ${withdrawn.failure}`))
  const nlri = readPrefixes(message, attributesEnd, end, "ipv4")
  if (Result.isFailure(nlri)) return Result.fail(updateError(updateSubcode.InvalidNetworkField, `NLRI: ${nlri.failure}`))

  const split = splitAttributes(message, attributesStart, attributesEnd)
  const { attributes, problems } = interpretAttributes(split.attributes, fourOctetAsn)
  const all: Array<AttributeProblem> = [...problems]
  if (split.overrun !== undefined) {
    const { MalformedAttributeList } = updateSubcode
    const overrun = { code: errorCode.UpdateMessage, subcode: MalformedAttributeList, data: new Uint8Array(0), reason: split.overrun }
    all.push({ approach: "treat-as-withdraw", ...overrun })
  }
  const reset = all.find((p) => p.approach === "session-reset")
  if (reset !== undefined) return Result.fail(decodeError(reset.code, reset.subcode, reset.reason, reset.data))

  const mpNlri = attributes.mpReach?.nlri ?? []
  const reachable = nlri.success.length > 0 || mpNlri.length > 0
  let withdraw = all.filter((p) => p.approach === "treat-as-withdraw")
  if (withdraw.length === 0 && reachable) withdraw = missingAttributes(attributes, nlri.success.length > 0)
  const [first] = withdraw
  if (first !== undefined && !reachable) {
    const reason = `${first.reason}, in an UPDATE without reachable NLRI (RFC 7606 §5.2)`
    return Result.fail(decodeError(first.code, first.subcode, reason, first.data))
  }
  if (first !== undefined) {
    return Result.succeed({
      _tag: "TreatAsWithdraw",
      withdrawn: [...withdrawn.success, ...nlri.success, ...mpNlri, ...(attributes.mpUnreach?.withdrawn ?? [])],
      reason: withdraw.map((p) => p.reason).join("; "),
    })
  }
  return Result.succeed({
    _tag: "Update",
    update: { _tag: "Update", withdrawn: withdrawn.success, attributes, nlri: nlri.success },
    discarded: all.map((p) => p.reason),
  })
}

/**
 * The Update a TreatAsWithdraw amounts to: IPv4 prefixes in the body's withdrawn routes, IPv6 ones in
 * an MP_UNREACH_NLRI. Never empty (treat-as-withdraw needs reachable NLRI), so never an End-of-RIB.
 */
export const withdrawalOf = (withdrawn: ReadonlyArray<Prefix>): Update => {
  const ipv6 = withdrawn.filter((p) => p.family === "ipv6")
  return {
    _tag: "Update",
    withdrawn: withdrawn.filter((p) => p.family === "ipv4"),
    attributes: ipv6.length === 0 ? {} : { mpUnreach: { family: "ipv6", withdrawn: ipv6 } },
    nlri: [],
  }
}

export const encodeUpdate = (update: Update, fourOctetAsn: boolean): Uint8Array => {
  const writer = startMessage(new Writer(), messageType.Update)
  const withdrawnAt = writer.length
  writer.u16(0)
  writePrefixes(writer, update.withdrawn)
  writer.patchU16(withdrawnAt, writer.length - withdrawnAt - 2)
  const attributesAt = writer.length
  writer.u16(0)
  writeAttributes(writer, update.attributes, fourOctetAsn)
  writer.patchU16(attributesAt, writer.length - attributesAt - 2)
  writePrefixes(writer, update.nlri)
  return finishMessage(writer)
}
