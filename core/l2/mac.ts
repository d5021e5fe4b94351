// Ethernet MAC addresses (IEEE 802) as branded canonical strings "aa:bb:cc:dd:ee:ff". A string rather
// than a Uint8Array because a Uint8Array is mutable and compares by identity: a string compares with
// ===, keys a Map, and reads well in logs and test failures. Decoders produce only the canonical form
// (lower case, colons), so two equal addresses are always equal strings.
import { Data, Result } from "effect"

export type Mac = string & { readonly __brand: "Mac" }

export class InvalidMac extends Data.TaggedError("InvalidMac")<{
  readonly text: string
}> {
  override get message(): string {
    return `invalid MAC address ${JSON.stringify(this.text)}: expected six hex octets like aa:bb:cc:dd:ee:ff`
  }
}

const hexOctets: ReadonlyArray<string> = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

const macPattern = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/

/** Accepts colon or dash separators in either case; returns the canonical form. */
export const parseMac = (text: string): Result.Result<Mac, InvalidMac> =>
  macPattern.test(text)
    ? Result.succeed(text.toLowerCase().replaceAll("-", ":") as Mac)
    : Result.fail(new InvalidMac({ text }))

/** Reads six octets at offset; the caller has checked that they exist. */
export const macFromBytes = (bytes: Uint8Array, offset: number): Mac => {
  let text = hexOctets[bytes[offset] ?? 0] ?? "00"
  for (let i = 1; i < 6; i++) text += ":" + (hexOctets[bytes[offset + i] ?? 0] ?? "00")
  return text as Mac
}

/** Writes the six octets of a canonical MAC into a buffer the caller is building. */
export const writeMac = (mac: Mac, into: Uint8Array, offset: number): void => {
  for (let i = 0; i < 6; i++) into[offset + i] = Number.parseInt(mac.slice(i * 3, i * 3 + 2), 16)
}

export const macToBytes = (mac: Mac): Uint8Array => {
  const bytes = new Uint8Array(6)
  writeMac(mac, bytes, 0)
  return bytes
}

export const broadcastMac = "ff:ff:ff:ff:ff:ff" as Mac
export const zeroMac = "00:00:00:00:00:00" as Mac

/** The I/G bit: set on group (multicast and broadcast) addresses. */
export const isGroupMac = (mac: Mac): boolean => (Number.parseInt(mac.slice(0, 2), 16) & 1) === 1
