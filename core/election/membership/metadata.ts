// What a member says about itself besides being alive (memberlist's node Meta, reduced to the one fact
// the election needs): the names of its Layer 2 interfaces whose link is down. A node announcing through
// such an interface cannot be reached there, so every speaker's election passes it over for the addresses
// announced only on down interfaces (core/election/owner.ts). The set rides on the member's Alive, is
// bounded so that an Alive stays small (at most 16 names of 1-15 octets, Linux's IFNAMSIZ less the NUL),
// and has one canonical form, sorted and without repeats, so that equal sets encode to equal bytes.

export const maxDownInterfaces = 16
export const maxInterfaceNameBytes = 15

const utf8Length = (s: string): number => new TextEncoder().encode(s).length

export const validInterfaceName = (name: string): boolean => {
  const length = utf8Length(name)
  return length >= 1 && length <= maxInterfaceNameBytes
}

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** The canonical form: names that fit, without repeats, sorted, at most maxDownInterfaces of them. */
export const canonicalDownInterfaces = (names: Iterable<string>): ReadonlyArray<string> =>
  // No links down is what nearly every Alive says: encoding and sizing one must not sort an empty set.
  Array.isArray(names) && names.length === 0 ? noNames : [...new Set(names)].filter(validInterfaceName).sort(byCodeUnits).slice(0, maxDownInterfaces)

const noNames: ReadonlyArray<string> = Object.freeze([])

/** Whether `names` is already canonical (what a decoder accepts). */
export const isCanonicalDownInterfaces = (names: ReadonlyArray<string>): boolean =>
  names.length <= maxDownInterfaces && names.every((name, i) => validInterfaceName(name) && (i === 0 || byCodeUnits(names[i - 1]!, name) < 0))

export const sameDownInterfaces = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean =>
  a.length === b.length && a.every((name, i) => name === b[i])
