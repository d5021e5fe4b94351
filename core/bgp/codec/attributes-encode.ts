// Path attributes of an UPDATE to send. Flags follow each attribute's category (RFC 4271 §5, RFC 1997,
// RFC 8092, RFC 4760, RFC 6793): ORIGIN, AS_PATH, NEXT_HOP, LOCAL_PREF, ATOMIC_AGGREGATE well-known
// transitive; MED optional non-transitive; COMMUNITIES, LARGE_COMMUNITIES, AS4_PATH optional
// transitive; MP_REACH/MP_UNREACH optional non-transitive. MP_REACH/MP_UNREACH go first (RFC 7606 §5.1
// SHALL, so a receiver can find the NLRI even when a later attribute is malformed); the rest follow in
// type-code order. The Extended Length bit is set exactly when a value exceeds 255 bytes. On a 2-octet
// session AS_PATH carries AS_TRANS and, when some ASN needs 4 octets, an AS4_PATH carries the real
// path (RFC 6793 §4.2.2); a 4-octet session never carries AS4_PATH (RFC 6793 §3). Empty community
// lists are left out: RFC 7606 §7.8 would treat an empty COMMUNITIES as malformed.
import { attributeCode as code, attributeFlag as flag, type PathAttributes } from "../messages.ts"
import { hasFourOctetAsn, writeAsPath } from "./as-path.ts"
import { writeMpReach, writeMpUnreach } from "./mp.ts"
import { writeAddress } from "./nlri.ts"
import { Writer } from "./wire.ts"

interface Entry {
  readonly flags: number
  readonly code: number
  readonly value: Uint8Array
}

const wellKnown = flag.Transitive
const optional = flag.Optional
const optionalTransitive = flag.Optional | flag.Transitive
const originValue = { igp: 0, egp: 1, incomplete: 2 } as const

const valueOf = (write: (writer: Writer) => void): Uint8Array => {
  const writer = new Writer()
  write(writer)
  return writer.finish()
}

const orderedEntries = (attributes: PathAttributes, fourOctetAsn: boolean): Array<Entry> => {
  const { asPath, mpReach, mpUnreach, communities, largeCommunities } = attributes
  const first: Array<Entry> = []
  if (mpReach !== undefined) first.push({ flags: optional, code: code.MpReach, value: valueOf((w) => writeMpReach(w, mpReach)) })
  if (mpUnreach !== undefined) {
    first.push({ flags: optional, code: code.MpUnreach, value: valueOf((w) => writeMpUnreach(w, mpUnreach)) })
  }
  const rest: Array<Entry> = []
  if (attributes.origin !== undefined) rest.push({ flags: wellKnown, code: code.Origin, value: Uint8Array.of(originValue[attributes.origin]) })
  if (asPath !== undefined) {
    rest.push({ flags: wellKnown, code: code.AsPath, value: valueOf((w) => writeAsPath(w, asPath, fourOctetAsn ? 4 : 2)) })
    const as4Path = attributes.as4Path ?? (hasFourOctetAsn(asPath) ? asPath : undefined)
    if (!fourOctetAsn && as4Path !== undefined) {
      rest.push({ flags: optionalTransitive, code: code.As4Path, value: valueOf((w) => writeAsPath(w, as4Path, 4)) })
    }
  }
  const { nextHop, med, localPref } = attributes
  if (nextHop !== undefined) rest.push({ flags: wellKnown, code: code.NextHop, value: valueOf((w) => writeAddress(w, nextHop)) })
  if (med !== undefined) rest.push({ flags: optional, code: code.Med, value: valueOf((w) => w.u32(med)) })
  if (localPref !== undefined) rest.push({ flags: wellKnown, code: code.LocalPref, value: valueOf((w) => w.u32(localPref)) })
  if (attributes.atomicAggregate === true) rest.push({ flags: wellKnown, code: code.AtomicAggregate, value: new Uint8Array(0) })
  if (communities !== undefined && communities.length > 0) {
    rest.push({ flags: optionalTransitive, code: code.Communities, value: valueOf((w) => communities.forEach((c) => w.u32(c))) })
  }
  if (largeCommunities !== undefined && largeCommunities.length > 0) {
    const value = valueOf((w) => largeCommunities.forEach((c) => w.u32(c.globalAdministrator).u32(c.localData1).u32(c.localData2)))
    rest.push({ flags: optionalTransitive, code: code.LargeCommunities, value })
  }
  for (const unknown of attributes.unknown ?? []) rest.push({ flags: unknown.flags & 0xe0, code: unknown.code, value: unknown.value })
  // Array.prototype.sort is stable, so attributes sharing a code keep the caller's order.
  return [...first, ...rest.sort((a, b) => a.code - b.code)]
}

export const writeAttributes = (writer: Writer, attributes: PathAttributes, fourOctetAsn: boolean): void => {
  for (const entry of orderedEntries(attributes, fourOctetAsn)) {
    if (entry.value.length > 255) writer.u8(entry.flags | flag.ExtendedLength).u8(entry.code).u16(entry.value.length)
    else writer.u8(entry.flags & ~flag.ExtendedLength).u8(entry.code).u8(entry.value.length)
    writer.bytes(entry.value)
  }
}
