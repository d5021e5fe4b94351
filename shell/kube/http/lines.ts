// A watch response is one JSON object per line (newline-delimited), sent in chunks that split lines and,
// in bytes, characters anywhere. The response is read as UTF-8 text (Node's decoder holds back a split
// character), and this splitter holds back a split line: what it returns are whole lines, in order.
export class LineSplitter {
  private pending = ""

  /** The whole lines completed by `chunk` (without their "\n", "\r\n" tolerated; empty lines skipped). */
  push(chunk: string): ReadonlyArray<string> {
    const text = this.pending + chunk
    const lines: Array<string> = []
    let start = 0
    for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", start)) {
      const line = text.charCodeAt(end - 1) === 13 && end > start ? text.slice(start, end - 1) : text.slice(start, end)
      if (line !== "") lines.push(line)
      start = end + 1
    }
    this.pending = start === 0 ? text : text.slice(start)
    return lines
  }

  /** At the end of the stream: the last line if it had no "\n" (a server may omit the final one). */
  end(): string | undefined {
    const rest = this.pending.endsWith("\r") ? this.pending.slice(0, -1) : this.pending
    this.pending = ""
    return rest === "" ? undefined : rest
  }

  /** Characters held back, waiting for the end of their line. */
  get buffered(): number {
    return this.pending.length
  }
}
