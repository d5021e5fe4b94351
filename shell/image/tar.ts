// A deterministic tar writer for image layers and OCI layout archives: POSIX ustar headers (a PAX
// extended header only for a path or link target that ustar cannot hold), every entry owned by root
// (0:0, "root"), mtime fixed, no atime/ctime, no device numbers. The same entries in the same order give
// the same bytes on any machine; ordering is the caller's (sortTarEntries is the usual choice).
import { closeSync, openSync, readSync, writeSync } from "node:fs"
import { createHash, type Hash } from "node:crypto"

export const tarBlockBytes = 512

export type TarEntry =
  | { readonly type: "directory"; readonly path: string; readonly mode: number }
  | { readonly type: "symlink"; readonly path: string; readonly target: string }
  /** Content from `data`, or streamed from the host file `source` (which must be `size` bytes long). */
  | { readonly type: "file"; readonly path: string; readonly mode: number; readonly size: number; readonly data?: Uint8Array; readonly source?: string }

/** Entries by path in byte order, so a directory comes before its contents. */
export const sortTarEntries = (entries: ReadonlyArray<TarEntry>): Array<TarEntry> =>
  [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))

/** Fixed for every entry: the epoch. (SOURCE_DATE_EPOCH is not read: the digest depends on nothing else.) */
const mtimeSeconds = 0
const maxEntryBytes = 0o77777777777 // what 11 octal digits hold (8 GiB - 1)
const textEncoder = new TextEncoder()

const writeString = (block: Uint8Array, offset: number, length: number, value: string): void => {
  const bytes = textEncoder.encode(value)
  if (bytes.length > length) throw new Error(`tar: "${value}" does not fit in ${length} bytes`)
  block.set(bytes, offset)
}

/** A numeric field: zero-padded octal and a NUL, as ustar wants. */
const writeOctal = (block: Uint8Array, offset: number, length: number, value: number): void =>
  writeString(block, offset, length, `${value.toString(8).padStart(length - 1, "0")}\0`)

const isAscii = (s: string): boolean => /^[\x20-\x7e]*$/.test(s)

/** What goes in a ustar name field when a PAX record holds the real name. */
const fallbackName = (s: string): string => s.replace(/[^\x20-\x7e]/g, "_").slice(0, 100)

/** ustar keeps a path as prefix (155 bytes) + "/" + name (100 bytes); undefined when it cannot. */
const splitUstarPath = (path: string): { readonly prefix: string; readonly name: string } | undefined => {
  if (!isAscii(path)) return undefined // PAX records are UTF-8 by definition; ustar fields are not
  if (path.length <= 100) return { prefix: "", name: path }
  for (let slash = path.indexOf("/"); slash !== -1; slash = path.indexOf("/", slash + 1)) {
    const prefix = path.slice(0, slash)
    const name = path.slice(slash + 1)
    if (prefix.length <= 155 && name.length <= 100 && name.length > 0) return { prefix, name }
  }
  return undefined
}

type HeaderType = "0" | "2" | "5" | "x"

const header = (type: HeaderType, prefix: string, name: string, mode: number, size: number, linkName: string): Uint8Array => {
  const block = new Uint8Array(tarBlockBytes)
  writeString(block, 0, 100, name)
  writeOctal(block, 100, 8, mode)
  writeOctal(block, 108, 8, 0) // uid
  writeOctal(block, 116, 8, 0) // gid
  writeOctal(block, 124, 12, size)
  writeOctal(block, 136, 12, mtimeSeconds)
  block.fill(0x20, 148, 156) // the checksum counts its own field as spaces
  writeString(block, 156, 1, type)
  writeString(block, 157, 100, linkName)
  writeString(block, 257, 6, "ustar\0")
  writeString(block, 263, 2, "00")
  writeString(block, 265, 32, type === "x" ? "" : "root")
  writeString(block, 297, 32, type === "x" ? "" : "root")
  writeOctal(block, 329, 8, 0) // devmajor
  writeOctal(block, 337, 8, 0) // devminor
  writeString(block, 345, 155, prefix)
  const checksum = block.reduce((sum, byte) => sum + byte, 0)
  writeString(block, 148, 8, `${checksum.toString(8).padStart(6, "0")}\0 `)
  return block
}

/** One PAX record, "<length> <key>=<value>\n", whose length counts its own digits. */
const paxRecord = (key: string, value: string): string => {
  const body = ` ${key}=${value}\n`
  const bodyBytes = textEncoder.encode(body).length
  let length = bodyBytes + 1
  while (String(length).length + bodyBytes !== length) length = String(length).length + bodyBytes
  return `${length}${body}`
}

const padding = (size: number): number => (tarBlockBytes - (size % tarBlockBytes)) % tarBlockBytes

/** The header block(s) of an entry: a PAX extended header first when ustar cannot hold its names. */
export const entryHeaders = (entry: TarEntry): Array<Uint8Array> => {
  const path = entry.type === "directory" ? `${entry.path.replace(/\/$/, "")}/` : entry.path
  if (path.startsWith("/") || path.split("/").includes("..")) throw new Error(`tar: entry path ${path} must be relative and stay inside the archive`)
  const split = splitUstarPath(path)
  const link = entry.type === "symlink" ? entry.target : ""
  const linkFits = isAscii(link) && link.length <= 100
  const records = (split === undefined ? paxRecord("path", path) : "") + (linkFits ? "" : paxRecord("linkpath", link))
  const out: Array<Uint8Array> = []
  if (records !== "") {
    const data = textEncoder.encode(records)
    out.push(header("x", "", fallbackName(`PaxHeaders/${path}`), 0o644, data.length, ""))
    const padded = new Uint8Array(data.length + padding(data.length))
    padded.set(data)
    out.push(padded)
  }
  const { prefix, name } = split ?? { prefix: "", name: fallbackName(path) }
  switch (entry.type) {
    case "directory":
      out.push(header("5", prefix, name, entry.mode, 0, ""))
      break
    case "symlink":
      out.push(header("2", prefix, name, 0o777, 0, linkFits ? link : fallbackName(link)))
      break
    case "file":
      if (entry.size > maxEntryBytes) throw new Error(`tar: ${path} is ${entry.size} bytes, more than ustar's ${maxEntryBytes}`)
      out.push(header("0", prefix, name, entry.mode, entry.size, ""))
      break
  }
  return out
}

const bufferBytes = 4 << 20

/**
 * Writes a tar archive to `path`, hashing it as it goes; returns its size and "sha256:<hex>". Files with
 * a `source` are streamed through one 4 MiB buffer, so a layer never has to fit in memory.
 */
export const writeTar = (path: string, entries: ReadonlyArray<TarEntry>): { readonly size: number; readonly digest: string } => {
  const fd = openSync(path, "w")
  const hash: Hash = createHash("sha256")
  const buffer = new Uint8Array(bufferBytes)
  let buffered = 0
  let size = 0
  const flush = () => {
    const bytes = buffer.subarray(0, buffered)
    hash.update(bytes)
    for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset)
    size += buffered
    buffered = 0
  }
  const emit = (bytes: Uint8Array) => {
    for (let offset = 0; offset < bytes.length; ) {
      if (buffered === bufferBytes) flush()
      const n = Math.min(bytes.length - offset, bufferBytes - buffered)
      buffer.set(bytes.subarray(offset, offset + n), buffered)
      buffered += n
      offset += n
    }
  }
  /** Reads `source` straight into the buffer; exactly `expected` bytes or an error. */
  const emitFile = (source: string, expected: number, entryPath: string) => {
    const input = openSync(source, "r")
    try {
      let copied = 0
      while (copied < expected) {
        if (buffered === bufferBytes) flush()
        const read = readSync(input, buffer, buffered, Math.min(bufferBytes - buffered, expected - copied), copied)
        if (read === 0) break
        buffered += read
        copied += read
      }
      const extra = readSync(input, new Uint8Array(1), 0, 1, copied)
      if (copied !== expected || extra !== 0) throw new Error(`tar: ${source} changed while it was archived (expected ${expected} bytes as ${entryPath})`)
    } finally {
      closeSync(input)
    }
  }
  try {
    for (const entry of entries) {
      for (const block of entryHeaders(entry)) emit(block)
      if (entry.type !== "file") continue
      if (entry.data !== undefined) {
        if (entry.data.length !== entry.size) throw new Error(`tar: ${entry.path} has ${entry.data.length} bytes of data, its entry says ${entry.size}`)
        emit(entry.data)
      } else if (entry.source !== undefined) emitFile(entry.source, entry.size, entry.path)
      else if (entry.size !== 0) throw new Error(`tar: ${entry.path} has neither data nor a source`)
      emit(new Uint8Array(padding(entry.size)))
    }
    emit(new Uint8Array(2 * tarBlockBytes)) // end of archive
    flush()
  } finally {
    closeSync(fd)
  }
  return { size, digest: `sha256:${hash.digest("hex")}` }
}
