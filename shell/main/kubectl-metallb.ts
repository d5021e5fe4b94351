#!/usr/bin/env node
// The kubectl plugin: with this file on PATH as `kubectl-metallb`, `kubectl metallb explain ...` and
// `kubectl metallb plan ...` run the very commands `metallb-ts explain` and `metallb-ts plan` run.
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import { Command } from "effect/cli"
import { explainCommand } from "../cli/explain.ts"
import { planCommand } from "../cli/plan.ts"

const plugin = Command.make("kubectl-metallb").pipe(
  Command.withDescription("metallb-ts as a kubectl plugin: kubectl metallb explain | plan"),
  Command.withSubcommands([explainCommand, planCommand]),
)

Command.run(plugin, { version: "0.1.0" }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
