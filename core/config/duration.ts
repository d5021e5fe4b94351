// Go's time.Duration text ("90s", "1m30s", "1.5h", "300ms"), the format of metav1.Duration fields such
// as BGPPeer holdTime. Parsed to exact milliseconds (sub-millisecond parts are rounded down).
const unitMs: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

const partRe = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y

/** Milliseconds, or undefined when the text is not a Go duration. */
export const parseDurationMs = (text: string): number | undefined => {
  let rest = text
  let sign = 1
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1 : 1
    rest = rest.slice(1)
  }
  if (rest === "0") return 0
  if (rest === "") return undefined
  partRe.lastIndex = 0
  let total = 0
  while (partRe.lastIndex < rest.length) {
    const start = partRe.lastIndex
    const match = partRe.exec(rest)
    if (match === null || match.index !== start) return undefined
    total += Number(match[1]) * (unitMs[match[2] ?? ""] ?? Number.NaN)
  }
  return Number.isFinite(total) ? sign * Math.floor(total) : undefined
}

export const formatDurationSeconds = (ms: number): string => `${ms / 1000}s`
