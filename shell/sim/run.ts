// Runs simulations: a named scenario with a seed, or a sweep of random scenarios (VOPR-style), each
// seed deriving its own scenario. A failing run prints its seed and the command that replays it.
import { Random } from "./random.ts"
import { replayCommand, summaryText, timelineText } from "./report.ts"
import { builtinScenarios, randomScenario } from "./scenarios.ts"
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

export const scenarioNames = builtinScenarios.map((s) => s.name)

/** Returns the number of failed runs. */
export const simulate = (options: SimOptions): number => {
  const scenario = options.scenario === undefined ? undefined : builtinScenarios.find((s) => s.name === options.scenario)
  if (options.scenario !== undefined && scenario === undefined) {
    options.print(`unknown scenario ${JSON.stringify(options.scenario)}; built-in: ${scenarioNames.join(", ")}`)
    return 1
  }
  let failed = 0
  const started = performance.now()
  const results: Array<RunResult> = []
  for (let i = 0; i < options.runs; i++) {
    const seed = options.seed + i
    const chosen = scenario ?? (options.random ? randomScenario(new Random(seed).fork("scenario"), seed) : builtinScenarios[0]!)
    const result = runScenario(chosen, seed)
    results.push(result)
    const bad = result.violations.length > 0
    if (bad) failed += 1
    if (options.runs === 1) {
      options.print(`# ${chosen.name}: ${chosen.description}\n`)
      if (!options.quiet) options.print(`${timelineText(result, { verbose: options.verbose })}\n`)
      options.print(summaryText(result))
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
  }
  return failed
}
