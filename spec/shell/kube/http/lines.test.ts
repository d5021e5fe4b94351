// The watch line splitter: whatever the chunking, the lines that come out are the lines that went in.
import { StringDecoder } from "node:string_decoder"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { LineSplitter } from "../../../../shell/kube/http/lines.ts"

/** Splits `text` at the given cut points (sorted, deduplicated, within bounds). */
const cut = <T extends string | Buffer>(text: T, cuts: ReadonlyArray<number>): Array<T> => {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b)
  const out: Array<T> = []
  let from = 0
  for (const p of points) {
    out.push(text.slice(from, p) as T)
    from = p
  }
  out.push(text.slice(from) as T)
  return out
}

// Lines as a watch sends them: JSON text, any Unicode, no newline inside.
const lineArb = fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }).filter((s) => !s.includes("\n") && !s.endsWith("\r") && s !== "\r")

/** The property: whatever the chunking of the bytes, the splitter returns the lines in order. */
const splitsEveryChunking = (make: () => LineSplitter) =>
  fc.property(fc.array(lineArb, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), fc.boolean(), fc.boolean(), (lines, cuts, crlf, finalNewline) => {
    const text = lines.join(crlf ? "\r\n" : "\n") + (finalNewline && lines.length > 0 ? "\n" : "")
    // As the HTTP response delivers it: bytes, decoded by Node's UTF-8 decoder (setEncoding).
    const decoder = new StringDecoder("utf8")
    const splitter = make()
    const out: Array<string> = []
    for (const chunk of cut(Buffer.from(text, "utf8"), cuts)) out.push(...splitter.push(decoder.write(chunk)))
    out.push(...splitter.push(decoder.end()))
    const last = splitter.end()
    if (last !== undefined) out.push(last)
    expect(out).toEqual(lines)
    expect(splitter.buffered).toBe(0)
  })

describe("LineSplitter", () => {
  it("returns the lines in order for any chunking of the bytes, multi-byte characters split included", () => {
    fc.assert(splitsEveryChunking(() => new LineSplitter()))
  })

  it("holds a split line back until its newline, and skips empty lines", () => {
    const splitter = new LineSplitter()
    expect(splitter.push('{"type":"ADD')).toEqual([])
    expect(splitter.buffered).toBe(12)
    expect(splitter.push('ED"}\n\n{"type":')).toEqual(['{"type":"ADDED"}'])
    expect(splitter.push('"BOOKMARK"}\r\n')).toEqual(['{"type":"BOOKMARK"}'])
    expect(splitter.end()).toBeUndefined()
  })

  it("the property fires on a splitter that loses a held-back part", () => {
    // A splitter that forgets what it held between pushes: the property must catch it.
    class Forgetful extends LineSplitter {
      override push(chunk: string) {
        return chunk.split("\n").slice(0, -1).filter((l) => l !== "")
      }
    }
    expect(fc.check(splitsEveryChunking(() => new Forgetful())).failed).toBe(true)
  })
})
