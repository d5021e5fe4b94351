// Which command a command line runs, found before any command's module is loaded (shell/main/cli.ts
// loads only that one).
export const commandNames = ["validate", "crds", "plan", "explain", "sim", "controller", "speaker"] as const
export type CommandName = (typeof commandNames)[number]

const isCommandName = (arg: string): arg is CommandName => (commandNames as ReadonlyArray<string>).includes(arg)

/**
 * The first argument that names a command, or undefined (help, version, no or an unknown command: the
 * caller loads every command). Only global flags may come before the command, and none of their values
 * is a command's name (--log-format json|text, --log-level), so the first match is the command itself;
 * arguments after `--` are operands, never the command.
 */
export const commandToRun = (args: ReadonlyArray<string>): CommandName | undefined => {
  for (const arg of args) {
    if (arg === "--") return undefined
    if (isCommandName(arg)) return arg
  }
  return undefined
}
