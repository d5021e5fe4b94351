// The simulator's speed (issue 15: at least 1000 simulated seconds per CPU second on the random 30 s
// scenarios, i.e. at most 1 CPU ms per simulated second): the sweep's random seeds 1..99, once cold (as
// `npm start -- --runs 99` runs them: the first runs pay for the JIT's warm-up) and once more warm.
// Per CPU second of this process, so a loaded machine's wall clock does not decide it (it still inflates
// CPU time somewhat). METALLB_TS_BENCH_SIM_LARGE=1 adds `large` (100 nodes, 2,000 Services; ~35 CPU s).
import { Random } from "../shell/sim/random.ts"
import { large, randomScenario } from "../shell/sim/scenarios.ts"
import { runScenario } from "../shell/sim/world.ts"
import { printTarget } from "./harness.ts"

const cpuMs = (from: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(from)
  return (used.user + used.system) / 1000
}

const sweep = (): { readonly cpuMs: number; readonly simulatedMs: number; readonly events: number } => {
  const started = process.cpuUsage()
  let simulatedMs = 0
  let events = 0
  for (let seed = 1; seed <= 99; seed++) {
    const scenario = randomScenario(new Random(seed).fork("scenario"), seed)
    const result = runScenario(scenario, seed)
    if (result.violations.length > 0) throw new Error(`seed ${seed} violated ${result.violations[0]!.invariant}`)
    simulatedMs += scenario.durationMs
    events += result.events
  }
  return { cpuMs: cpuMs(started), simulatedMs, events }
}

export const run = (): void => {
  for (const pass of ["cold", "warm"]) {
    const s = sweep()
    const perSimulatedS = s.cpuMs / (s.simulatedMs / 1000)
    printTarget(`CPU ms per simulated s, random seeds 1..99 (${pass})`, perSimulatedS, "ms", 1, `${Math.round(1000 / perSimulatedS)}x per CPU second, ${s.events} events, ${(1000 * s.cpuMs / s.events).toFixed(1)} us each`)
  }
  if (process.env["METALLB_TS_BENCH_SIM_LARGE"] !== "1") return
  const started = process.cpuUsage()
  const result = runScenario(large, 1)
  const used = cpuMs(started)
  printTarget("CPU s per simulated s, large (100 nodes, 2,000 Services)", used / large.durationMs, "s", 1, `${(used / 1000).toFixed(1)} CPU s for ${large.durationMs / 1000} s, ${result.events} events`)
}
