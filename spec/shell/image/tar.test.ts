// shell/image/tar.ts against GNU tar as the reader: short, prefix-split, PAX (long and non-ASCII) paths
// and link targets come back whole with their modes, content and fixed owner/mtime; the same entries
// give the same bytes; and each refusal fires (escaping paths, a source whose size changed, an entry
// without content).
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { sortTarEntries, type TarEntry, writeTar } from "../../../shell/image/tar.ts"

const work = mkdtempSync(join(tmpdir(), "metallb-ts-tar-test-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const bytes = (text: string) => new TextEncoder().encode(text)
const file = (path: string, text: string, mode = 0o644): TarEntry => ({ type: "file", path, mode, size: bytes(text).length, data: bytes(text) })

const deep = `${"d".repeat(60)}/${"e".repeat(60)}/${"f".repeat(60)}` // 182 bytes: ustar prefix + name
const deeper = `${deep}/${"g".repeat(90)}/${"h".repeat(90)}` // 364 bytes: only PAX holds it
const sourceFile = join(work, "source.bin")
writeFileSync(sourceFile, new Uint8Array(5000).map((_, i) => i % 251))

const entries: Array<TarEntry> = sortTarEntries([
  { type: "directory", path: "app", mode: 0o755 },
  { type: "directory", path: "tmp", mode: 0o1777 },
  file("app/plain.txt", "plain\n"),
  file("app/run.sh", "#!/bin/sh\n", 0o755),
  { type: "directory", path: deep, mode: 0o755 },
  file(`${deep}/long-name.txt`, "prefix split\n"),
  { type: "directory", path: deeper, mode: 0o755 },
  file(`${deeper}/x.txt`, "pax path\n"),
  file("app/naïve-ünïcode.txt", "utf-8 name\n"),
  { type: "symlink", path: "app/link", target: "plain.txt" },
  { type: "symlink", path: "app/far-link", target: `../${deeper}/x.txt` },
  { type: "file", path: "app/streamed.bin", mode: 0o644, size: 5000, source: sourceFile },
  { type: "directory", path: "d", mode: 0o755 },
])

describe("writeTar", () => {
  const archive = join(work, "a.tar")
  const written = writeTar(archive, entries)

  it("writes what GNU tar extracts back whole: names of every length, modes, links, content", () => {
    const out = join(work, "extracted")
    spawnSync("mkdir", [out])
    const extract = spawnSync("tar", ["-xpf", archive, "-C", out], { encoding: "utf8" })
    expect(extract.status, extract.stderr).toBe(0)
    expect(extract.stderr).toBe("")
    expect(readFileSync(join(out, "app/plain.txt"), "utf8")).toBe("plain\n")
    expect(statSync(join(out, "app/run.sh")).mode & 0o7777).toBe(0o755)
    expect(statSync(join(out, "tmp")).mode & 0o7777).toBe(0o1777)
    expect(readFileSync(join(out, deep, "long-name.txt"), "utf8")).toBe("prefix split\n")
    expect(readFileSync(join(out, deeper, "x.txt"), "utf8")).toBe("pax path\n")
    expect(readFileSync(join(out, "app/naïve-ünïcode.txt"), "utf8")).toBe("utf-8 name\n")
    expect(readlinkSync(join(out, "app/link"))).toBe("plain.txt")
    expect(readlinkSync(join(out, "app/far-link"))).toBe(`../${deeper}/x.txt`)
    expect(readFileSync(join(out, "app/streamed.bin")).equals(readFileSync(sourceFile))).toBe(true)
  })

  it("lists every entry as root's, at the epoch, and ends the archive properly", () => {
    const list = spawnSync("tar", ["--numeric-owner", "--utc", "-tvf", archive], { encoding: "utf8", env: { ...process.env, LC_ALL: "C" } })
    expect(list.status, list.stderr).toBe(0)
    const lines = list.stdout.trim().split("\n")
    expect(lines).toHaveLength(entries.length)
    for (const line of lines) expect(line).toMatch(/^\S{10} 0\/0\s+\d+ 1970-01-01 00:00 /)
    expect(written.size % 512).toBe(0)
    expect(statSync(archive).size).toBe(written.size)
  })

  it("gives the same bytes and digest for the same entries", () => {
    const again = writeTar(join(work, "b.tar"), entries)
    expect(again).toEqual(written)
    expect(readFileSync(join(work, "b.tar")).equals(readFileSync(archive))).toBe(true)
  })

  it("sorts entries so that a directory comes before what it holds", () => {
    const paths = entries.map((e) => e.path)
    expect(paths.indexOf("app")).toBeLessThan(paths.indexOf("app/plain.txt"))
    expect(paths.indexOf(deep)).toBeLessThan(paths.indexOf(deeper))
  })

  it("refuses paths that leave the archive, a source whose size changed, and a file without content", () => {
    expect(() => writeTar(join(work, "c.tar"), [file("/etc/passwd", "x")])).toThrow(/must be relative/)
    expect(() => writeTar(join(work, "c.tar"), [file("app/../../etc/passwd", "x")])).toThrow(/must be relative and stay inside/)
    expect(() => writeTar(join(work, "c.tar"), [{ type: "file", path: "grown", mode: 0o644, size: 4000, source: sourceFile }])).toThrow(/source\.bin changed while it was archived \(expected 4000 bytes as grown\)/)
    expect(() => writeTar(join(work, "c.tar"), [{ type: "file", path: "shrunk", mode: 0o644, size: 6000, source: sourceFile }])).toThrow(/changed while it was archived/)
    expect(() => writeTar(join(work, "c.tar"), [{ type: "file", path: "empty", mode: 0o644, size: 3 }])).toThrow(/empty has neither data nor a source/)
    expect(() => writeTar(join(work, "c.tar"), [{ type: "file", path: "short", mode: 0o644, size: 3, data: bytes("ab") }])).toThrow(/short has 2 bytes of data, its entry says 3/)
  })
})
