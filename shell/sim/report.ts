// What a simulation run prints: the timeline (who did what when, who owns what) and a summary of the
// figures users care about, plus the one-line replay command for any failure.
import type { RunResult } from "./world.ts"

export const timelineText = (result: RunResult, options: { readonly verbose: boolean }): string =>
  result.trace
    .filter((line) => options.verbose || !/membership: .* alive$/.test(line))
    .join("\n")

const stats = (values: ReadonlyArray<number>) => {
  if (values.length === 0) return "-"
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
  return `min ${Math.round(sorted[0] ?? 0)} / median ${Math.round(at(0.5))} / max ${Math.round(sorted[sorted.length - 1] ?? 0)} ms (n=${sorted.length})`
}

export const summaryText = (result: RunResult): string => {
  const lines = [`scenario ${result.scenario}, seed ${result.seed}: ${result.events} events, trace sha256 ${result.traceHash.slice(0, 16)}`]
  for (const f of result.failovers) {
    lines.push(`  failover of ${f.address} from ${f.node}: ${f.announceMs === undefined ? "no other node announced it" : `new owner announced after ${Math.round(f.announceMs)} ms`}, client outage ${f.outageMs === undefined ? "none seen" : `${Math.round(f.outageMs)} ms`}`)
  }
  if (result.bgpConvergenceMs.length > 0) lines.push(`  BGP convergence after faults: ${stats(result.bgpConvergenceMs)}`)
  lines.push(`  Layer 2 ownership: ${result.overlapMs} ms with two live owners, ${result.gapMs} ms with none, ${result.handOverMs} ms of graceful hand-over (summed over addresses)`)
  lines.push(`  invariants checked: ${Object.entries(result.checks).map(([k, n]) => `${k} ${n}`).join(", ")}`)
  if (result.violations.length === 0) lines.push("  no invariant violated")
  for (const v of result.violations.slice(0, 10)) lines.push(`  VIOLATION at ${(v.atMs / 1000).toFixed(3)}s ${v.invariant}: ${v.detail}`)
  return lines.join("\n")
}

export const replayCommand = (result: RunResult, random: boolean): string =>
  random ? `npm start -- --random --seed ${result.seed} --runs 1` : `npm start -- ${result.scenario} --seed ${result.seed}`
