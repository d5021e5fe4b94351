// Bytes for the membership messages: a compact, versioned layout of our own (memberlist's msgpack framing
// is not reproduced; speakers of this project talk only to each other). Every message starts with a
// version octet (1) and a type octet; integers are big-endian; strings are UTF-8 behind a one-octet length
// (Kubernetes node names are at most 253 characters). Encryption and authentication are the shell's job.
// Decoding is total: any byte string yields a message or a MembershipDecodeError, and only the canonical
// encoding of a message decodes (no trailing bytes, no unknown flags), so decode(encode(m)) equals m.
//
//   message  = version:u8 type:u8 body
//   Ping     (1) = seq:u32 from:str target:str gossip
//   Ack      (2) = seq:u32 from:str gossip
//   PingReq  (3) = seq:u32 from:str target:str targetAddress:str gossip
//   Gossip   (4) = from:str gossip
//   Sync     (5) = flags:u8 (bit 0 = reply) from:str count:u16 update*
//   gossip       = count:u8 update*
//   update       = kind:u8 (1 Alive, 2 Suspect, 3 Dead, 4 Left, 5 Alive with metadata) incarnation:u32 name:str
//                  [address:str if Alive] [address:str count:u8 str{count} if Alive with metadata]
//   str          = length:u8 utf8
// Kind 5 carries the member's down interfaces (metadata.ts): 1 to 16 names of 1 to 15 octets, sorted and
// without repeats; an Alive whose set is empty is always kind 1, so a cluster where every link is up sends
// exactly what a speaker without metadata sends and understands (a rolling upgrade keeps working until an
// interface goes down).
import { Data, Result } from "effect"
import type { Message, Update } from "./messages.ts"
import { canonicalDownInterfaces, isCanonicalDownInterfaces } from "./metadata.ts"

export const codecVersion = 1
export const maxStringBytes = 255
export const maxGossipCount = 255
export const maxSyncCount = 65535

export type DecodeProblem =
  | "Truncated"
  | "UnsupportedVersion"
  | "UnknownType"
  | "UnknownUpdateKind"
  | "InvalidFlags"
  | "InvalidUtf8"
  | "InvalidMetadata"
  | "TrailingBytes"

export class MembershipDecodeError extends Data.TaggedError("MembershipDecodeError")<{
  readonly problem: DecodeProblem
  /** Where in the input the problem was found. */
  readonly offset: number
}> {
  override get message(): string {
    return `membership message: ${this.problem} at octet ${this.offset}`
  }
}

const messageTypes = { Ping: 1, Ack: 2, PingReq: 3, Gossip: 4, Sync: 5 } as const
const updateKinds = { Alive: 1, Suspect: 2, Dead: 3, Left: 4, AliveWithMetadata: 5 } as const

const utf8Encoder = new TextEncoder()
// ignoreBOM keeps a leading U+FEFF as part of the name instead of silently dropping it.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/** Encoded size of an update, for packing gossip into a datagram budget. */
export const updateSize = (u: Update): number => {
  if (u._tag !== "Alive") return 6 + stringBytes(u.name)
  const down = canonicalDownInterfaces(u.downInterfaces ?? [])
  const metadata = down.length === 0 ? 0 : 1 + down.reduce((sum, name) => sum + 1 + stringBytes(name), 0)
  return 7 + stringBytes(u.name) + stringBytes(u.address) + metadata
}

/** Whether every character of s is ASCII: its UTF-8 is then its character codes (node names, addresses). */
const isAscii = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

const stringBytes = (s: string): number => Math.min(isAscii(s) ? s.length : utf8Encoder.encode(s).length, maxStringBytes)

/**
 * Names and addresses must fit in 255 UTF-8 octets, gossip lists in 255 entries and Sync tables in 65535,
 * down interfaces must be canonical; other values are cut to fit (the membership module never builds them).
 */
export const encodeMessage = (message: Message): Uint8Array => {
  // Sized exactly first, then written into one buffer: an array of numbers grown octet by octet and
  // copied into bytes (or a buffer grown through closures) cost more than the step that made the message.
  const out = new Uint8Array(messageSize(message))
  let at = 0
  out[at++] = codecVersion
  out[at++] = messageTypes[message._tag]
  const u8 = (n: number) => {
    out[at++] = n
  }
  const u32 = (n: number) => {
    out[at++] = (n >>> 24) & 0xff
    out[at++] = (n >>> 16) & 0xff
    out[at++] = (n >>> 8) & 0xff
    out[at++] = n & 0xff
  }
  const str = (s: string) => {
    if (s.length <= maxStringBytes && isAscii(s)) {
      out[at++] = s.length
      for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i)
      return
    }
    const bytes = fitUtf8(utf8Encoder.encode(s))
    out[at++] = bytes.length
    out.set(bytes, at)
    at += bytes.length
  }
  const update = (u: Update) => {
    const down = u._tag === "Alive" ? canonicalDownInterfaces(u.downInterfaces ?? []) : noDown
    u8(down.length > 0 ? updateKinds.AliveWithMetadata : updateKinds[u._tag])
    u32(u.incarnation)
    str(u.name)
    if (u._tag !== "Alive") return
    str(u.address)
    if (down.length === 0) return
    u8(down.length)
    down.forEach(str)
  }
  const gossip = (updates: ReadonlyArray<Update>) => {
    const count = Math.min(updates.length, maxGossipCount)
    u8(count)
    for (let i = 0; i < count; i++) update(updates[i]!)
  }
  switch (message._tag) {
    case "Ping":
      u32(message.seq)
      str(message.from)
      str(message.target)
      gossip(message.gossip)
      break
    case "Ack":
      u32(message.seq)
      str(message.from)
      gossip(message.gossip)
      break
    case "PingReq":
      u32(message.seq)
      str(message.from)
      str(message.target)
      str(message.targetAddress)
      gossip(message.gossip)
      break
    case "Gossip":
      str(message.from)
      gossip(message.gossip)
      break
    case "Sync": {
      u8(message.reply ? 1 : 0)
      str(message.from)
      const count = Math.min(message.members.length, maxSyncCount)
      u8(count >>> 8)
      u8(count & 0xff)
      for (let i = 0; i < count; i++) update(message.members[i]!)
      break
    }
  }
  return out
}

const noDown: ReadonlyArray<string> = []

/** The octets str() writes for s: its UTF-8, cut at a character boundary to fit 255 (as fitUtf8 cuts). */
const encodedStringBytes = (s: string): number => {
  if (s.length <= maxStringBytes && isAscii(s)) return s.length
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    let width = 3 // a lone surrogate is encoded as U+FFFD
    if (c < 0x80) width = 1
    else if (c < 0x800) width = 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      width = 4
      i++
    }
    if (n + width > maxStringBytes) return n
    n += width
  }
  return n
}

const encodedUpdateBytes = (u: Update): number => {
  if (u._tag !== "Alive") return 6 + encodedStringBytes(u.name)
  const down = canonicalDownInterfaces(u.downInterfaces ?? [])
  let size = 7 + encodedStringBytes(u.name) + encodedStringBytes(u.address)
  if (down.length > 0) {
    size += 1
    for (const name of down) size += 1 + encodedStringBytes(name)
  }
  return size
}

const listBytes = (updates: ReadonlyArray<Update>, max: number): number => {
  let size = 0
  const count = Math.min(updates.length, max)
  for (let i = 0; i < count; i++) size += encodedUpdateBytes(updates[i]!)
  return size
}

/** The length encodeMessage writes. */
const messageSize = (m: Message): number => {
  switch (m._tag) {
    case "Ping":
      return 2 + 4 + 2 + encodedStringBytes(m.from) + encodedStringBytes(m.target) + 1 + listBytes(m.gossip, maxGossipCount)
    case "Ack":
      return 2 + 4 + 1 + encodedStringBytes(m.from) + 1 + listBytes(m.gossip, maxGossipCount)
    case "PingReq":
      return 2 + 4 + 3 + encodedStringBytes(m.from) + encodedStringBytes(m.target) + encodedStringBytes(m.targetAddress) + 1 + listBytes(m.gossip, maxGossipCount)
    case "Gossip":
      return 2 + 1 + encodedStringBytes(m.from) + 1 + listBytes(m.gossip, maxGossipCount)
    case "Sync":
      return 2 + 1 + 1 + encodedStringBytes(m.from) + 2 + listBytes(m.members, maxSyncCount)
  }
}

/** Cuts at a character boundary, so that an overlong string still decodes. */
const fitUtf8 = (bytes: Uint8Array): Uint8Array => {
  if (bytes.length <= maxStringBytes) return bytes
  let end = maxStringBytes
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--
  return bytes.subarray(0, end)
}

/** Thrown only inside the decoder and turned into a value at its boundary. */
class Stop {
  readonly problem: DecodeProblem
  readonly offset: number
  constructor(problem: DecodeProblem, offset: number) {
    this.problem = problem
    this.offset = offset
  }
}

export const decodeMessage = (bytes: Uint8Array): Result.Result<Message, MembershipDecodeError> => {
  try {
    return Result.succeed(read(bytes))
  } catch (e) {
    if (e instanceof Stop) return Result.fail(new MembershipDecodeError({ problem: e.problem, offset: e.offset }))
    return Result.fail(new MembershipDecodeError({ problem: "Truncated", offset: 0 }))
  }
}

const read = (bytes: Uint8Array): Message => {
  let at = 0
  const need = (n: number) => {
    if (at + n > bytes.length) throw new Stop("Truncated", at)
  }
  const u8 = (): number => {
    need(1)
    return bytes[at++]!
  }
  const u16 = (): number => (u8() << 8) | u8()
  const u32 = (): number => ((u8() << 24) | (u8() << 16) | (u8() << 8) | u8()) >>> 0
  const str = (): string => {
    const length = u8()
    need(length)
    const start = at
    at += length
    let ascii = ""
    for (let i = start; i < at && bytes[i]! <= 0x7f; i++) ascii += String.fromCharCode(bytes[i]!)
    if (ascii.length === length) return ascii
    try {
      return utf8Decoder.decode(bytes.subarray(start, at))
    } catch {
      throw new Stop("InvalidUtf8", start)
    }
  }
  const update = (): Update => {
    const kindAt = at
    const kind = u8()
    const incarnation = u32()
    const name = str()
    switch (kind) {
      case updateKinds.Alive:
        return { _tag: "Alive", name, incarnation, address: str() }
      case updateKinds.AliveWithMetadata: {
        const address = str()
        const listAt = at
        const downInterfaces = Array.from({ length: u8() }, str)
        if (downInterfaces.length === 0 || !isCanonicalDownInterfaces(downInterfaces)) throw new Stop("InvalidMetadata", listAt)
        return { _tag: "Alive", name, incarnation, address, downInterfaces }
      }
      case updateKinds.Suspect:
        return { _tag: "Suspect", name, incarnation }
      case updateKinds.Dead:
        return { _tag: "Dead", name, incarnation }
      case updateKinds.Left:
        return { _tag: "Left", name, incarnation }
      default:
        throw new Stop("UnknownUpdateKind", kindAt)
    }
  }
  const list = (count: number): ReadonlyArray<Update> => {
    const updates: Array<Update> = []
    for (let i = 0; i < count; i++) updates.push(update())
    return updates
  }

  if (u8() !== codecVersion) throw new Stop("UnsupportedVersion", 0)
  const type = u8()
  let message: Message
  switch (type) {
    case messageTypes.Ping: {
      const seq = u32()
      const from = str()
      const target = str()
      message = { _tag: "Ping", seq, from, target, gossip: list(u8()) }
      break
    }
    case messageTypes.Ack: {
      const seq = u32()
      const from = str()
      message = { _tag: "Ack", seq, from, gossip: list(u8()) }
      break
    }
    case messageTypes.PingReq: {
      const seq = u32()
      const from = str()
      const target = str()
      const targetAddress = str()
      message = { _tag: "PingReq", seq, from, target, targetAddress, gossip: list(u8()) }
      break
    }
    case messageTypes.Gossip: {
      const from = str()
      message = { _tag: "Gossip", from, gossip: list(u8()) }
      break
    }
    case messageTypes.Sync: {
      const flags = u8()
      if (flags > 1) throw new Stop("InvalidFlags", at - 1)
      const from = str()
      message = { _tag: "Sync", from, reply: flags === 1, members: list(u16()) }
      break
    }
    default:
      throw new Stop("UnknownType", 1)
  }
  if (at !== bytes.length) throw new Stop("TrailingBytes", at)
  return message
}
