// `metallb-ts validate`: MetalLB configuration files checked offline, every error reported at once.
import { Console, Effect, FileSystem } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { formatReportJson, formatReportText, validateFiles } from "./validate.ts"

export const validateCommand = Command.make(
  "validate",
  {
    files: Argument.String("file").pipe(Argument.atLeast(1), Argument.withDescription("YAML files with metallb.io objects (other kinds are ignored)")),
    output: Flag.Literals("output", ["text", "json"]).pipe(Flag.withAlias("o"), Flag.withDefault("text" as const), Flag.withDescription("report format")),
    each: Flag.Boolean("each").pipe(Flag.withDefault(false), Flag.withDescription("validate every file as a configuration of its own")),
    namespace: Flag.String("namespace").pipe(Flag.withDefault("metallb-system"), Flag.withDescription("the namespace metallb-ts runs in")),
  },
  ({ files, output, each, namespace }) =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const inputs = []
      for (const path of files) {
        const text = yield* fs.readFileString(path).pipe(Effect.result)
        if (text._tag === "Failure") {
          yield* Console.error(`error: cannot read ${path}: ${text.failure.message}`)
          process.exitCode = 1
          return
        }
        inputs.push({ path, text: text.success })
      }
      const groups = each ? inputs.map((input) => [input]) : [inputs]
      for (const group of groups) {
        const report = validateFiles(group, { namespace, secrets: [] })
        const heading = each ? `== ${group[0]?.path}\n` : ""
        yield* Console.log(output === "json" ? formatReportJson(report) : `${heading}${formatReportText(report)}`)
        if (!report.valid) process.exitCode = 1
      }
    }),
).pipe(Command.withDescription("Check MetalLB configuration files offline and report every error at once."))
