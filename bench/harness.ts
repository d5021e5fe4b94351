// A small benchmark harness: each case runs a warm-up, then `samples` timed runs; the median is reported.
// Figures are compared against a baseline measured in the same process, so the ratio holds on a
// shared machine even when absolute times drift.

export interface Case {
  readonly name: string
  /** Work units done by one run (e.g. allocations), to print a rate. */
  readonly units: number
  readonly unitName: string
  readonly run: () => unknown
}

export interface Comparison {
  readonly title: string
  readonly subject: Case
  readonly baseline: Case
  /** Extra figures worth printing (memory, counts). */
  readonly notes?: () => ReadonlyArray<string>
}

export interface Measured {
  readonly medianMs: number
  readonly perSecond: number
}

// Results are kept so the engine cannot drop the work as dead code.
const sink: Array<unknown> = []

export const measure = (c: Case, samples = 5): Measured => {
  sink[0] = c.run()
  const times: Array<number> = []
  for (let i = 0; i < samples; i++) {
    const start = performance.now()
    sink[0] = c.run()
    times.push(performance.now() - start)
  }
  times.sort((a, b) => a - b)
  const medianMs = times[Math.floor(times.length / 2)] ?? 0
  return { medianMs, perSecond: (c.units / medianMs) * 1000 }
}

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toPrecision(3))

export const report = (comparison: Comparison): void => {
  const subject = measure(comparison.subject)
  const baseline = measure(comparison.baseline)
  console.log(`\n${comparison.title}`)
  for (const [c, m] of [[comparison.subject, subject], [comparison.baseline, baseline]] as const) {
    console.log(`  ${c.name.padEnd(44)} ${fmt(m.medianMs).padStart(10)} ms  ${fmt(m.perSecond).padStart(12)} ${c.unitName}/s`)
  }
  console.log(`  ratio: ${(baseline.medianMs / subject.medianMs).toFixed(1)}x faster than the baseline`)
  for (const line of comparison.notes?.() ?? []) console.log(`  ${line}`)
}

/** One figure against its target (issue 17's footprint table): printed with "met" or "NOT met". */
export const printTarget = (name: string, value: number, unit: string, target: number, note = ""): void => {
  const shown = Number.isFinite(value) ? (Math.abs(value) >= 100 ? Math.round(value).toString() : value.toPrecision(3)) : "n/a"
  const verdict = Number.isFinite(value) && value <= target ? "met" : "NOT met"
  const withUnit = (n: string) => (unit === "" ? n : `${n} ${unit}`)
  console.log(`  ${name.padEnd(58)} ${withUnit(shown).padStart(10)}  target <= ${withUnit(String(target))}: ${verdict}${note === "" ? "" : ` (${note})`}`)
}
