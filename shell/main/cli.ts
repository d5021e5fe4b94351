#!/usr/bin/env node
// The metallb-ts command line: validate (configuration), crds (generated CRDs), plan and explain (operator
// tools), sim (the simulator), controller (the Deployment's process) and speaker (the DaemonSet's).
//
// A process loads only the module of the command it runs (issue 17): the controller's start does not
// evaluate the speaker, the simulator or the operator tools, and in the image's bundle each command is a
// chunk of its own (shell/image/bundle.ts). The command is the first argument naming one; without one
// (`--help`, `--version`, a mistyped command) every command is loaded so the help and the errors list them
// all, as before.
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import { Command, type GlobalFlag } from "effect/cli"
import { LogFormatFlag, withLogFormat } from "./logging.ts"
import { commandNames, type CommandName, commandToRun } from "./command-names.ts"

/** A command whose handler needs no more than Node's services and the global flags (checked per command below). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the commands' names and inputs differ; only what they require matters here
type Loaded = Command.Command<any, any, any, unknown, NodeServices.NodeServices | GlobalFlag.Setting.Identifier<"log-format">>

/** Each command's module, imported when it runs; the log format it defaults to. */
const loaders = {
  validate: () => import("./validate-command.ts").then((m) => withLogFormat("text")(m.validateCommand)),
  crds: () => import("./crds.ts").then((m) => withLogFormat("text")(m.crdsCommand)),
  plan: () => import("../cli/plan.ts").then((m) => withLogFormat("text")(m.planCommand)),
  explain: () => import("../cli/explain.ts").then((m) => withLogFormat("text")(m.explainCommand)),
  sim: () => import("./sim.ts").then((m) => withLogFormat("text")(m.simCommand)),
  controller: () => import("./controller.ts").then((m) => withLogFormat("json")(m.controllerCommand)),
  speaker: () => import("./speaker.ts").then((m) => withLogFormat("json")(m.speakerCommand)),
} satisfies Record<CommandName, () => Promise<Loaded>>

const chosen = commandToRun(process.argv.slice(2))
const subcommands: ReadonlyArray<Loaded> = await Promise.all((chosen === undefined ? commandNames : [chosen]).map((name) => loaders[name]()))

const cli = Command.make("metallb-ts").pipe(
  Command.withDescription("A MetalLB-compatible load balancer for bare-metal Kubernetes."),
  Command.withSubcommands(subcommands),
  Command.withGlobalFlags([LogFormatFlag]),
)

Command.run(cli, { version: "0.1.0" }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
