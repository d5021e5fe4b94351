// AS_PATH and AS4_PATH values (RFC 4271 §4.3, RFC 6793). A path is segments of type AS_SET (1) or
// AS_SEQUENCE (2), each a count then that many 2- or 4-octet ASNs. RFC 7606 §7.2 calls a path
// malformed on an unrecognized segment type, a zero-length segment, an overrun, or a single octet
// left over; RFC 7607 adds AS 0. Confederation segments (3, 4) are rejected as malformed: this
// speaker has no confederation, and RFC 5065 §5 has them stripped before a path leaves one.
// Encoding splits segments longer than 255 ASNs, and on a 2-octet session writes AS_TRANS for ASNs
// that do not fit (RFC 6793 §4.2.2). Reconstruction merges an AS4_PATH into the AS_PATH received on
// a 2-octet session (RFC 6793 §4.2.3).
import { Result } from "effect"
import { type AsPathSegment, asTrans } from "../messages.ts"
import { u16, u32, u8, type Writer } from "./wire.ts"

export type AsnBytes = 2 | 4

const segmentType = { set: 1, sequence: 2 } as const
const maxSegmentLength = 255

export const decodeAsPath = (value: Uint8Array, asnBytes: AsnBytes): Result.Result<Array<AsPathSegment>, string> => {
  const segments: Array<AsPathSegment> = []
  let offset = 0
  while (offset < value.length) {
    if (value.length - offset < 2) return Result.fail("a single octet follows the last segment")
    const type = u8(value, offset)
    const count = u8(value, offset + 1)
    if (type !== segmentType.set && type !== segmentType.sequence) {
      return Result.fail(`segment type ${type} is neither AS_SET nor AS_SEQUENCE`)
    }
    if (count === 0) return Result.fail("empty segment")
    if (offset + 2 + count * asnBytes > value.length) return Result.fail(`segment of ${count} ASNs overruns the attribute`)
    const asns: Array<number> = []
    for (let i = 0; i < count; i++) {
      const at = offset + 2 + i * asnBytes
      const asn = asnBytes === 2 ? u16(value, at) : u32(value, at)
      if (asn === 0) return Result.fail("AS 0 in the path (RFC 7607)")
      asns.push(asn)
    }
    segments.push({ type: type === segmentType.set ? "set" : "sequence", asns })
    offset += 2 + count * asnBytes
  }
  return Result.succeed(segments)
}

export const writeAsPath = (writer: Writer, segments: ReadonlyArray<AsPathSegment>, asnBytes: AsnBytes): void => {
  for (const segment of segments) {
    for (let start = 0; start < segment.asns.length; start += maxSegmentLength) {
      const chunk = segment.asns.slice(start, start + maxSegmentLength)
      writer.u8(segmentType[segment.type]).u8(chunk.length)
      for (const asn of chunk) {
        if (asnBytes === 4) writer.u32(asn)
        else writer.u16(asn > 0xffff ? asTrans : asn)
      }
    }
  }
}

export const hasFourOctetAsn = (segments: ReadonlyArray<AsPathSegment>): boolean =>
  segments.some((segment) => segment.asns.some((asn) => asn > 0xffff))

/** The path length used by RFC 6793 §4.2.3: an AS_SET counts as one. */
export const countAsns = (segments: ReadonlyArray<AsPathSegment>): number =>
  segments.reduce((total, segment) => total + (segment.type === "set" ? 1 : segment.asns.length), 0)

/**
 * RFC 6793 §4.2.3: when the AS_PATH is shorter than the AS4_PATH the AS4_PATH is ignored; otherwise
 * the leading ASNs of the AS_PATH that the AS4_PATH does not cover (added by 2-octet speakers) are
 * kept in front of the AS4_PATH.
 */
export const reconstructAsPath = (
  asPath: ReadonlyArray<AsPathSegment>,
  as4Path: ReadonlyArray<AsPathSegment>,
): ReadonlyArray<AsPathSegment> => {
  let leading = countAsns(asPath) - countAsns(as4Path)
  if (leading < 0) return asPath
  const result: Array<AsPathSegment> = []
  for (const segment of asPath) {
    if (leading === 0) break
    if (segment.type === "set") {
      result.push(segment)
      leading -= 1
    } else {
      const taken = segment.asns.slice(0, leading)
      result.push({ type: "sequence", asns: taken })
      leading -= taken.length
    }
  }
  const last = result[result.length - 1]
  const [first, ...others] = as4Path
  // Joining the two sequences keeps the path canonical; past 255 ASNs the wire would split them again.
  if (
    last !== undefined && first !== undefined && last.type === "sequence" && first.type === "sequence" &&
    last.asns.length + first.asns.length <= maxSegmentLength
  ) {
    return [...result.slice(0, -1), { type: "sequence", asns: [...last.asns, ...first.asns] }, ...others]
  }
  return [...result, ...as4Path]
}
