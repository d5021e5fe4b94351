// How the processes log: one JSON object per line (effect's JSON logger: message, level, timestamp,
// annotations, cause) for the long-running controller and speaker, whose logs a cluster's collector
// parses, and effect's text format for the interactive commands. `--log-format` overrides either
// default; the global `--log-level` still sets the threshold.
import { Effect, Layer, Logger, Option } from "effect"
import { Command, Flag, GlobalFlag } from "effect/cli"

export type LogFormat = "json" | "text"

export const LogFormatFlag = GlobalFlag.Setting("log-format")({
  flag: Flag.Literals("log-format", ["json", "text"]).pipe(
    Flag.optional,
    Flag.withDescription("log line format (default: json for controller and speaker, text otherwise)"),
  ),
})

export const loggerFor = (format: LogFormat): Logger.Logger<unknown, void> => (format === "json" ? Logger.consoleJson : Logger.defaultLogger)

const loggerLayer = (byDefault: LogFormat) =>
  Layer.unwrap(Effect.gen(function* () {
    const chosen = yield* LogFormatFlag
    return Logger.layer([loggerFor(Option.getOrElse(chosen, () => byDefault))])
  }))

/** The command's handler logs in `--log-format`, or in `byDefault` when the flag is absent. */
export const withLogFormat = (byDefault: LogFormat) =>
  <Name extends string, Input, E, R, ContextInput>(command: Command.Command<Name, Input, ContextInput, E, R>) =>
    Command.provide(command, loggerLayer(byDefault))
