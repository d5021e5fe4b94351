// `metallb-ts explain` (and `kubectl metallb explain`): reads the cluster once (live or a dump,
// shell/cli/cluster-state.ts), hands it to core/explain and prints why each Service has the addresses
// it has, or none, and who announces them. Exit status 0 when explained, 1 when the cluster or the
// Service could not be read.
import { readFileSync } from "node:fs"
import { Console, Effect, Result } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { explain } from "../../core/explain/explain.ts"
import { formatExplanationText } from "../../core/explain/text.ts"
import { couldRead } from "../../core/snapshot/cluster-state.ts"
import { clusterSourceArgs, clusterSourceFlags } from "./cluster-flags.ts"
import { readClusterState } from "./cluster-state.ts"

export interface ExplainArgs {
  readonly services: ReadonlyArray<string>
  readonly namespace: string
  readonly all: boolean
  readonly kubeconfig?: string
  readonly clusterState?: string
  readonly metallbNamespace: string
  readonly lbClass?: string
  readonly ignoreExcludeLb: boolean
  readonly output: "text" | "json"
}

const fail = (message: string) => Console.error(`error: ${message}`).pipe(Effect.as(1 as const))

/** SERVICE as namespace/name, or a bare name in -n's namespace (kubectl's convention). */
export const serviceKeyOf = (arg: string, namespace: string): string => (arg.includes("/") ? arg : `${namespace}/${arg}`)

/** Runs the command; prints the explanation (stdout) or what stopped it (stderr); returns the exit status. */
export const runExplain = (args: ExplainArgs, readFile: (path: string) => string = (p) => readFileSync(p, "utf8")): Effect.Effect<0 | 1> =>
  Effect.gen(function* () {
    if (args.all && args.services.length > 0) return yield* fail("--all explains every LoadBalancer Service: give no SERVICE")
    if (!args.all && args.services.length === 0) return yield* fail("give a SERVICE to explain (name, or namespace/name), or --all")
    const cluster = yield* readClusterState(
      { ...(args.kubeconfig === undefined ? {} : { kubeconfig: args.kubeconfig }), ...(args.clusterState === undefined ? {} : { clusterState: args.clusterState }) },
      { metallbNamespace: args.metallbNamespace, sessionStates: true, ...(args.lbClass === undefined ? {} : { loadBalancerClass: args.lbClass }) },
      readFile,
    ).pipe(Effect.result)
    if (cluster._tag === "Failure") return yield* fail(cluster.failure.message)
    const state = cluster.success
    if (!couldRead(state, "Service")) {
      const why = state.unreadable.find((u) => u.kind === "Service")
      return yield* fail(`cannot read Services from ${state.source}: ${why?.reason ?? "unknown"}`)
    }
    const selection = args.all ? { all: true as const } : { keys: args.services.map((s) => serviceKeyOf(s, args.namespace)) }
    const result = explain(state, selection, { ignoreExcludeLb: args.ignoreExcludeLb })
    if (Result.isFailure(result)) return yield* fail(result.failure.message)
    yield* Console.log(args.output === "json" ? JSON.stringify(result.success, null, 2) : formatExplanationText(result.success))
    return 0
  })

export const explainCommand = Command.make(
  "explain",
  {
    services: Argument.String("service").pipe(
      Argument.variadic(),
      Argument.withDescription("the Service(s) to explain: name (in -n's namespace) or namespace/name"),
    ),
    namespace: Flag.String("namespace").pipe(Flag.withAlias("n"), Flag.withDefault("default"), Flag.withDescription("the namespace of a SERVICE given by name (default: default)")),
    all: Flag.Boolean("all").pipe(Flag.withDefault(false), Flag.withDescription("explain every LoadBalancer Service")),
    ...clusterSourceFlags,
    metallbNamespace: Flag.String("metallb-namespace").pipe(Flag.withDefault("metallb-system"), Flag.withDescription("the namespace metallb-ts runs in (default: metallb-system)")),
    ignoreExcludeLb: Flag.Boolean("ignore-exclude-lb").pipe(Flag.withDefault(false), Flag.withDescription("the speakers run with --ignore-exclude-lb")),
    output: Flag.Literals("output", ["text", "json"]).pipe(Flag.withAlias("o"), Flag.withDefault("text" as const), Flag.withDescription("text, or json (the structured explanation)")),
  },
  (input) =>
    Effect.gen(function* () {
      const code = yield* runExplain({
        services: input.services,
        namespace: input.namespace,
        all: input.all,
        metallbNamespace: input.metallbNamespace,
        ignoreExcludeLb: input.ignoreExcludeLb,
        output: input.output,
        ...clusterSourceArgs(input),
      })
      process.exitCode = code
    }),
).pipe(
  Command.withDescription(
    "Explain why a Service has the addresses it has, or none, and who announces them: the pool and how the addresses were chosen " +
      "(requested, kept from status, annotated pool, pool order, shared with which Services on which ports), or why none (not " +
      "LoadBalancer, another loadBalancerClass, each pool and the rule that excluded it, requested address outside every pool or " +
      "in use and by whom, sharing conflicts, invalid configuration); Layer 2: the announcing node, the election order with each " +
      "node's reason, the interfaces; BGP: per node and peer, the routes with communities and local-pref, or why not. Computed by " +
      "the controller's and speakers' own decisions; needs only read access (the metallb-system:explain ClusterRole) and says what " +
      "it could not read. Also runs as `kubectl metallb explain`. Exit status: 0 explained, 1 the cluster or a Service could not be read.",
  ),
  Command.withExamples([
    { command: "metallb-ts explain -n shop web", description: "why Service shop/web has (or lacks) its address, from the current kubeconfig's cluster" },
    { command: "kubectl metallb explain shop/web", description: "the same as a kubectl plugin" },
    { command: "metallb-ts explain --all -o json", description: "every LoadBalancer Service, as JSON" },
    { command: "metallb-ts explain --cluster-state dump.yaml -n shop web", description: "offline, from a dump" },
  ]),
)
