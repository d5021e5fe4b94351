// `metallb-ts sim [scenario] [--seed N] [--runs N]`: the deterministic simulator. A scenario name runs
// that built-in scenario; `--runs N` without one sweeps N random scenarios (seeds N..N+runs-1; every
// seed divisible by 100 runs the 100-node, 2,000-Service scenario `large`), each checked against every
// invariant. Exit status 1 when any run violated an invariant.
import { Console, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { scenarioNames, simulate } from "../sim/run.ts"

export const simCommand = Command.make(
  "sim",
  {
    scenario: Argument.String("scenario").pipe(Argument.optional, Argument.withDescription(`a built-in scenario: ${scenarioNames.join(", ")}`)),
    seed: Flag.Int("seed").pipe(Flag.withDefault(1), Flag.withDescription("seed of the first run")),
    runs: Flag.Int("runs").pipe(Flag.withDefault(1), Flag.withDescription("number of runs (seeds seed..seed+runs-1)")),
    random: Flag.Boolean("random").pipe(Flag.withDefault(false), Flag.withDescription("generate a random scenario per seed (the default when --runs > 1 and no scenario is named)")),
    verbose: Flag.Boolean("verbose").pipe(Flag.withDefault(false), Flag.withDescription("print every membership event, and every run's summary")),
    quiet: Flag.Boolean("quiet").pipe(Flag.withDefault(false), Flag.withDescription("print only the summary")),
  },
  ({ scenario, seed, runs, random, verbose, quiet }) =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const name = Option.getOrUndefined(scenario)
      const failed = simulate({
        ...(name === undefined ? {} : { scenario: name }),
        seed,
        runs: Math.max(1, runs),
        random: random || (name === undefined && runs > 1),
        verbose,
        quiet,
        print: (line) => lines.push(line),
      })
      yield* Console.log(lines.join("\n"))
      if (failed > 0) process.exitCode = 1
    }),
).pipe(Command.withDescription("Run the deterministic cluster simulator on a built-in scenario, or sweep random scenarios."))
