// Path attributes of a received UPDATE and what RFC 7606 says to do when one is wrong. Each attribute
// is checked for its Optional/Transitive flags (§3c) and its value; a problem carries the approach
// (treat-as-withdraw, attribute discard or session reset) and the NOTIFICATION RFC 4271 §6.3 would send,
// because §5.2 turns treat-as-withdraw into a reset when the UPDATE has no reachable NLRI.
// Treat-as-withdraw: ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF, COMMUNITIES, LARGE_COMMUNITIES (§7,
// RFC 8092 §6). Attribute discard: ATOMIC_AGGREGATE, AGGREGATOR, AS4_PATH, AS4_AGGREGATOR (§7.6, §7.7,
// RFC 6793 §6). Session reset: MP_REACH/MP_UNREACH (§7.11), a second MP_* (§3g, Malformed Attribute
// List) and an unrecognized well-known attribute (RFC 4271 §6.3). Other duplicates are dropped (§3g);
// unknown optional transitive attributes are kept with the Partial bit, non-transitive ones dropped.
import { Result } from "effect"
import {
  type AsPathSegment,
  asTrans,
  attributeCode as code,
  attributeFlag as flag,
  errorCode,
  type LargeCommunity,
  type Origin,
  type PathAttributes,
  type UnknownAttribute,
  updateSubcode,
} from "../messages.ts"
import { type AsnBytes, decodeAsPath, reconstructAsPath } from "./as-path.ts"
import { decodeMpReach, decodeMpUnreach } from "./mp.ts"
import { readAddress } from "./nlri.ts"
import { u16, u32, u8 } from "./wire.ts"

export interface RawAttribute {
  readonly flags: number
  readonly code: number
  readonly value: Uint8Array
  /** Flags, type, length and value: what RFC 4271 §6.3 puts in a NOTIFICATION's data. */
  readonly raw: Uint8Array
}

export type Approach = "treat-as-withdraw" | "attribute-discard" | "session-reset"

export interface AttributeProblem {
  readonly approach: Approach
  readonly code: number
  readonly subcode: number
  readonly data: Uint8Array
  readonly reason: string
}

export interface Interpreted {
  readonly attributes: PathAttributes
  readonly problems: ReadonlyArray<AttributeProblem>
}

const optionalTransitive = flag.Optional | flag.Transitive
const expectedFlags: ReadonlyMap<number, number> = new Map([
  [code.Origin, flag.Transitive], [code.AsPath, flag.Transitive], [code.NextHop, flag.Transitive],
  [code.Med, flag.Optional], [code.LocalPref, flag.Transitive], [code.AtomicAggregate, flag.Transitive],
  [code.Aggregator, optionalTransitive], [code.Communities, optionalTransitive], [code.MpReach, flag.Optional],
  [code.MpUnreach, flag.Optional], [code.As4Path, optionalTransitive], [code.As4Aggregator, optionalTransitive],
  [code.LargeCommunities, optionalTransitive],
])
const discarded = new Set<number>([code.AtomicAggregate, code.Aggregator, code.As4Path, code.As4Aggregator])
const resetting = new Set<number>([code.MpReach, code.MpUnreach])
const approachFor = (attribute: number): Approach =>
  resetting.has(attribute) ? "session-reset" : discarded.has(attribute) ? "attribute-discard" : "treat-as-withdraw"

const origins: ReadonlyArray<Origin> = ["igp", "egp", "incomplete"]
const noData = new Uint8Array(0)

interface Malformed {
  readonly subcode: number
  readonly reason: string
  /** RFC 4271 §6.3 puts the attribute in the data for every subcode but Malformed AS_PATH. */
  readonly withAttribute?: false
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

interface Collected {
  readonly attributes: Mutable<PathAttributes>
  readonly unknown: Array<UnknownAttribute>
  as4Path?: ReadonlyArray<AsPathSegment>
  aggregatorAsn?: number
}

const lengthError = (name: string, length: number, expected: string): Malformed => ({
  subcode: updateSubcode.AttributeLengthError,
  reason: `${name} of ${length} bytes (must be ${expected})`,
})

const fixed32 = (name: string, value: Uint8Array, set: (n: number) => void): Malformed | undefined => {
  if (value.length !== 4) return lengthError(name, value.length, "4")
  set(u32(value, 0))
  return undefined
}

const asPathOf = (value: Uint8Array, asnBytes: AsnBytes, set: (p: Array<AsPathSegment>) => void, name: string): Malformed | undefined => {
  const path = decodeAsPath(value, asnBytes)
  if (Result.isFailure(path)) return { subcode: updateSubcode.MalformedAsPath, reason: `${name}: ${path.failure}`, withAttribute: false }
  set(path.success)
  return undefined
}

/** Interprets one known attribute into `into`; undefined when it is well-formed. */
const interpret = (attribute: RawAttribute, asnBytes: AsnBytes, into: Collected, notes: Array<AttributeProblem>): Malformed | undefined => {
  const { value } = attribute
  const attributes = into.attributes
  switch (attribute.code) {
    case code.Origin: {
      if (value.length !== 1) return lengthError("ORIGIN", value.length, "1")
      const origin = origins[u8(value, 0)]
      if (origin === undefined) return { subcode: updateSubcode.InvalidOriginAttribute, reason: `ORIGIN value ${u8(value, 0)}` }
      attributes.origin = origin
      return undefined
    }
    case code.AsPath:
      return asPathOf(value, asnBytes, (p) => (attributes.asPath = p), "AS_PATH")
    case code.NextHop:
      if (value.length !== 4) return lengthError("NEXT_HOP", value.length, "4")
      attributes.nextHop = readAddress(value, 0, "ipv4")
      return undefined
    case code.Med:
      return fixed32("MULTI_EXIT_DISC", value, (n) => (attributes.med = n))
    case code.LocalPref:
      return fixed32("LOCAL_PREF", value, (n) => (attributes.localPref = n))
    case code.AtomicAggregate:
      if (value.length !== 0) return lengthError("ATOMIC_AGGREGATE", value.length, "0")
      attributes.atomicAggregate = true
      return undefined
    case code.Aggregator:
    case code.As4Aggregator: {
      const isAs4 = attribute.code === code.As4Aggregator
      const expected = isAs4 ? 8 : 2 + asnBytes + 2
      if (value.length !== expected) return lengthError(isAs4 ? "AS4_AGGREGATOR" : "AGGREGATOR", value.length, String(expected))
      if (isAs4 && asnBytes === 4) return { subcode: 0, reason: "AS4_AGGREGATOR from a 4-octet speaker (RFC 6793 §3)" }
      if (!isAs4 && asnBytes === 2) into.aggregatorAsn = u16(value, 0)
      into.unknown.push({ flags: attribute.flags & 0xe0, code: attribute.code, value })
      return undefined
    }
    case code.Communities: {
      if (value.length === 0 || value.length % 4 !== 0) {
        return { subcode: updateSubcode.OptionalAttributeError, reason: `COMMUNITIES of ${value.length} bytes (not a non-zero multiple of 4)` }
      }
      attributes.communities = Array.from({ length: value.length / 4 }, (_, i) => u32(value, i * 4))
      return undefined
    }
    case code.LargeCommunities: {
      if (value.length === 0 || value.length % 12 !== 0) {
        return { subcode: updateSubcode.OptionalAttributeError, reason: `LARGE_COMMUNITY of ${value.length} bytes (not a non-zero multiple of 12)` }
      }
      attributes.largeCommunities = Array.from({ length: value.length / 12 }, (_, i): LargeCommunity => ({
        globalAdministrator: u32(value, i * 12),
        localData1: u32(value, i * 12 + 4),
        localData2: u32(value, i * 12 + 8),
      }))
      return undefined
    }
    case code.As4Path:
      if (asnBytes === 4) return { subcode: 0, reason: "AS4_PATH from a 4-octet speaker (RFC 6793 §3)" }
      return asPathOf(value, 4, (p) => (into.as4Path = p), "AS4_PATH")
    case code.MpReach:
    case code.MpUnreach: {
      const name = attribute.code === code.MpReach ? "MP_REACH_NLRI" : "MP_UNREACH_NLRI"
      const decoded = attribute.code === code.MpReach ? decodeMpReach(value) : decodeMpUnreach(value)
      if (decoded._tag === "Malformed") return { subcode: updateSubcode.OptionalAttributeError, reason: decoded.reason }
      if (decoded._tag === "Unsupported") {
        notes.push(discard(`${name} for AFI ${decoded.afi} SAFI ${decoded.safi}, a family not spoken here`))
      } else if ("nlri" in decoded.value) {
        attributes.mpReach = decoded.value
      } else {
        attributes.mpUnreach = decoded.value
      }
      return undefined
    }
    default:
      return undefined
  }
}

const discard = (reason: string): AttributeProblem => ({ approach: "attribute-discard", code: 0, subcode: 0, data: noData, reason })

const sessionReset = (subcode: number, reason: string, data: Uint8Array): AttributeProblem => ({
  approach: "session-reset",
  code: errorCode.UpdateMessage,
  subcode,
  data,
  reason,
})

const problemOf = (attribute: RawAttribute, malformed: Malformed): AttributeProblem => ({
  approach: approachFor(attribute.code),
  code: errorCode.UpdateMessage,
  subcode: malformed.subcode,
  data: malformed.withAttribute === false ? noData : attribute.raw,
  reason: malformed.reason,
})

/** RFC 6793 §4.2.3: the AS4_PATH is ignored when a 2-octet AGGREGATOR names a real AS (not AS_TRANS). */
const mergeAs4 = (into: Collected, notes: Array<AttributeProblem>): void => {
  const hasAs4Aggregator = into.unknown.some((a) => a.code === code.As4Aggregator)
  if (into.aggregatorAsn !== undefined && into.aggregatorAsn !== asTrans && hasAs4Aggregator) {
    notes.push(discard("AS4_PATH and AS4_AGGREGATOR ignored: AGGREGATOR carries a 2-octet AS (RFC 6793 §4.2.3)"))
    into.unknown.splice(into.unknown.findIndex((a) => a.code === code.As4Aggregator), 1)
    return
  }
  if (into.as4Path !== undefined && into.attributes.asPath !== undefined) {
    into.attributes.asPath = reconstructAsPath(into.attributes.asPath, into.as4Path)
  }
}

export const interpretAttributes = (raw: ReadonlyArray<RawAttribute>, fourOctetAsn: boolean): Interpreted => {
  const asnBytes: AsnBytes = fourOctetAsn ? 4 : 2
  const into: Collected = { attributes: {}, unknown: [] }
  const problems: Array<AttributeProblem> = []
  const seen = new Set<number>()
  for (const attribute of raw) {
    if (seen.has(attribute.code)) {
      problems.push(
        resetting.has(attribute.code)
          ? sessionReset(updateSubcode.MalformedAttributeList, `attribute ${attribute.code} appears twice`, noData)
          : discard(`duplicate attribute ${attribute.code} discarded`),
      )
      continue
    }
    seen.add(attribute.code)
    const expected = expectedFlags.get(attribute.code)
    if (expected === undefined) {
      if ((attribute.flags & flag.Optional) === 0) {
        const reason = `unrecognized well-known attribute ${attribute.code}`
        problems.push(sessionReset(updateSubcode.UnrecognizedWellKnownAttribute, reason, attribute.raw))
      } else if ((attribute.flags & flag.Transitive) !== 0) {
        into.unknown.push({ flags: (attribute.flags & 0xe0) | flag.Partial, code: attribute.code, value: attribute.value })
      }
      continue
    }
    const flagsReason = `attribute ${attribute.code} has flags 0x${attribute.flags.toString(16)}`
    const malformed = (attribute.flags & optionalTransitive) !== expected
      ? { subcode: updateSubcode.AttributeFlagsError, reason: flagsReason }
      : interpret(attribute, asnBytes, into, problems)
    if (malformed !== undefined) problems.push(problemOf(attribute, malformed))
  }
  if (!fourOctetAsn) mergeAs4(into, problems)
  // Attribute order carries no meaning; sorting by code makes decode(encode(x)) stable (encoding sorts).
  if (into.unknown.length > 0) into.attributes.unknown = into.unknown.sort((a, b) => a.code - b.code)
  return { attributes: into.attributes, problems }
}
