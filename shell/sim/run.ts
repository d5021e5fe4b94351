// Runs simulations: a named scenario with a seed, or a sweep of random scenarios (VOPR-style), each
// seed deriving its own scenario; in a sweep, every seed divisible by 100 runs the scenario at scale
// (100 nodes, 2,000 Services) instead. A failing run prints its seed and the command that replays it.
// Each run's speed (simulated seconds per wall-clock second) is printed apart from its figures, which
// a seed replays byte for byte.
import { Random } from "./random.ts"
import { replayCommand, summaryText, timelineText } from "./report.ts"
import { builtinScenarios, large, randomScenario, scaleScenarios } from "./scenarios.ts"
import { runScenario, type RunResult } from "./world.ts"

export interface SimOptions {
  readonly scenario?: string
  readonly seed: number
  readonly runs: number
  readonly random: boolean
  readonly verbose: boolean
  readonly quiet: boolean
  readonly print: (line: string) => void
}

const namedScenarios = [...builtinScenarios, ...scaleScenarios]
export const scenarioNames = namedScenarios.map((s) => s.name)

/** A sweep's scenario for a seed: random, or the scenario at scale once per 100 seeds. */
export const sweepScenario = (seed: number) => (seed % 100 === 0 ? large : randomScenario(new Random(seed).fork("scenario"), seed))

/** A speed ratio: whole numbers from 10 up, two significant digits below (a `large` run is ~0.4x, not "0x"). */
const ratio = (simulatedMs: number, spentMs: number): string => {
  const r = simulatedMs / Math.max(spentMs, 1)
  return r >= 10 ? String(Math.round(r)) : String(Number(r.toPrecision(2)))
}

/** Wall-clock speed, and per CPU second of this process: on a shared machine the wall clock says little. */
const speedText = (simulatedMs: number, wallMs: number, cpuMs: number) =>
  `${(simulatedMs / 1000).toFixed(0)} s simulated in ${(wallMs / 1000).toFixed(1)} s: ${ratio(simulatedMs, wallMs)}x real time ` +
  `(${(cpuMs / 1000).toFixed(1)} CPU s: ${ratio(simulatedMs, cpuMs)}x per CPU second)`

const cpuMsSince = (from: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(from)
  return (used.user + used.system) / 1000
}

/** Returns the number of failed runs. */
export const simulate = (options: SimOptions): number => {
  const scenario = options.scenario === undefined ? undefined : namedScenarios.find((s) => s.name === options.scenario)
  if (options.scenario !== undefined && scenario === undefined) {
    options.print(`unknown scenario ${JSON.stringify(options.scenario)}; built-in: ${scenarioNames.join(", ")}`)
    return 1
  }
  let failed = 0
  const started = performance.now()
  const startedCpu = process.cpuUsage()
  const results: Array<RunResult> = []
  let simulatedMs = 0
  /** Per kind of scenario in a sweep (random ones and the one at scale differ in cost a thousandfold). */
  const byKind = new Map<string, { runs: number; simulatedMs: number; wallMs: number; cpuMs: number }>()
  for (let i = 0; i < options.runs; i++) {
    const seed = options.seed + i
    const chosen = scenario ?? (options.random ? sweepScenario(seed) : builtinScenarios[0]!)
    const runStarted = performance.now()
    const runCpu = process.cpuUsage()
    const result = runScenario(chosen, seed)
    const runMs = performance.now() - runStarted
    const runCpuMs = cpuMsSince(runCpu)
    simulatedMs += chosen.durationMs
    const kind = scenario === undefined && options.random && chosen.name.startsWith("random-") ? "random scenarios" : chosen.name
    const k = byKind.get(kind) ?? { runs: 0, simulatedMs: 0, wallMs: 0, cpuMs: 0 }
    byKind.set(kind, { runs: k.runs + 1, simulatedMs: k.simulatedMs + chosen.durationMs, wallMs: k.wallMs + runMs, cpuMs: k.cpuMs + runCpuMs })
    results.push(result)
    const bad = result.violations.length > 0
    if (bad) failed += 1
    if (options.runs === 1) {
      options.print(`# ${chosen.name}: ${chosen.description}\n`)
      if (!options.quiet) options.print(`${timelineText(result, { verbose: options.verbose })}\n`)
      options.print(summaryText(result))
      options.print(`  speed: ${speedText(chosen.durationMs, runMs, runCpuMs)}`)
    } else if (bad || options.verbose) {
      options.print(summaryText(result))
    }
    if (bad) options.print(`  replay: ${replayCommand(result, scenario === undefined && options.random)}`)
  }
  if (options.runs > 1) {
    const seconds = (performance.now() - started) / 1000
    const events = results.reduce((n, r) => n + r.events, 0)
    const failovers = results.flatMap((r) => r.failovers.flatMap((f) => (f.announceMs === undefined ? [] : [f.announceMs])))
    const worst = failovers.length === 0 ? "-" : `${Math.round(Math.max(...failovers))} ms`
    options.print(`${options.runs} runs (seeds ${options.seed}..${options.seed + options.runs - 1}) in ${seconds.toFixed(1)} s, ${events} events: ${options.runs - failed} passed, ${failed} failed; worst failover announcement ${worst}`)
    options.print(`speed: ${speedText(simulatedMs, performance.now() - started, cpuMsSince(startedCpu))}`)
    if (byKind.size > 1) for (const [kind, k] of byKind) options.print(`  ${kind} (${k.runs} runs): ${speedText(k.simulatedMs, k.wallMs, k.cpuMs)}`)
  }
  return failed
}
