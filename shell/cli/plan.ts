// `metallb-ts plan`: reads the cluster once (live or a dump, shell/cli/cluster-state.ts) and the FILEs,
// hands both to core/plan, prints the plan and returns its exit status (0 nothing changes for any
// Service, 2 something does, 1 invalid or unreadable), so it can gate a GitOps pipeline.
import { readFileSync } from "node:fs"
import { Console, Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import type { Document } from "../../core/config/decode.ts"
import type { ConfigError } from "../../core/config/errors.ts"
import { formatPlanJson, formatPlanText } from "../../core/plan/format.ts"
import { exitCodeOf, plan } from "../../core/plan/plan.ts"
import { readDocuments } from "../main/validate.ts"
import { clusterSourceArgs, clusterSourceFlags } from "./cluster-flags.ts"
import { readClusterState } from "./cluster-state.ts"

export interface PlanArgs {
  readonly files: ReadonlyArray<string>
  readonly fromLive: boolean
  readonly prune: boolean
  readonly kubeconfig?: string
  readonly clusterState?: string
  readonly namespace: string
  readonly lbClass?: string
  readonly output: "text" | "json"
}

const fail = (message: string) => Console.error(`error: ${message}`).pipe(Effect.as(1 as const))

/** Runs the command; prints the plan (stdout) or what stopped it (stderr); returns the exit status. */
export const runPlan = (args: PlanArgs, readFile: (path: string) => string = (p) => readFileSync(p, "utf8")): Effect.Effect<0 | 1 | 2> =>
  Effect.gen(function* () {
    if (args.fromLive && args.files.length > 0) return yield* fail("--from-live plans the live configuration as it is: give no FILE")
    if (!args.fromLive && args.files.length === 0) return yield* fail("give the configuration FILEs to plan, or --from-live")
    if (args.fromLive && args.prune) return yield* fail("--prune applies to FILEs, not to --from-live")
    const documents: Array<Document> = []
    const fileErrors: Array<ConfigError> = []
    for (const path of args.files) {
      let text: string
      try {
        text = readFile(path)
      } catch (e) {
        return yield* fail(`cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`)
      }
      const read = readDocuments({ path, text })
      documents.push(...read.documents)
      fileErrors.push(...read.errors)
    }
    const cluster = yield* readClusterState(
      { ...(args.kubeconfig === undefined ? {} : { kubeconfig: args.kubeconfig }), ...(args.clusterState === undefined ? {} : { clusterState: args.clusterState }) },
      { metallbNamespace: args.namespace, ...(args.lbClass === undefined ? {} : { loadBalancerClass: args.lbClass }) },
      readFile,
    ).pipe(Effect.result)
    if (cluster._tag === "Failure") return yield* fail(cluster.failure.message)
    const result = plan({ cluster: cluster.success, ...(args.fromLive ? {} : { files: documents, prune: args.prune, fileErrors }) })
    yield* Console.log(args.output === "json" ? formatPlanJson(result) : formatPlanText(result))
    return exitCodeOf(result)
  })

export const planCommand = Command.make(
  "plan",
  {
    files: Argument.String("file").pipe(
      Argument.variadic(),
      Argument.withDescription("YAML files with metallb.io objects (and Secrets they name); each replaces the live object of the same kind and name, others stay"),
    ),
    fromLive: Flag.Boolean("from-live").pipe(
      Flag.withDefault(false),
      Flag.withDescription("no FILE: predict what metallb-ts's controller does when it takes over this cluster (MetalLB's configuration and addresses as they are)"),
    ),
    prune: Flag.Boolean("prune").pipe(Flag.withDefault(false), Flag.withDescription("the FILEs are the whole configuration: live metallb.io objects not in them are removed")),
    ...clusterSourceFlags,
    // Secrets too: a BGPPeer's passwordSecret is part of the configuration resolved.
    clusterState: Flag.String("cluster-state").pipe(
      Flag.optional,
      Flag.withDescription("read the cluster from this dump instead of the API (kubectl get services,endpointslices,nodes,namespaces,pods,secrets,ipaddresspools,l2advertisements,bgpadvertisements,bgppeers,bfdprofiles,communities -A -o yaml)"),
    ),
    namespace: Flag.String("namespace").pipe(Flag.withDefault("metallb-system"), Flag.withDescription("the namespace metallb-ts (or MetalLB) runs in")),
    output: Flag.Literals("output", ["text", "json"]).pipe(Flag.withAlias("o"), Flag.withDefault("text" as const), Flag.withDescription("plan format")),
  },
  (input) =>
    Effect.gen(function* () {
      const code = yield* runPlan({
        files: input.files,
        fromLive: input.fromLive,
        prune: input.prune,
        namespace: input.namespace,
        output: input.output,
        ...clusterSourceArgs(input),
      })
      process.exitCode = code
    }),
).pipe(
  Command.withDescription(
    "Show what applying a configuration would do before it is applied: Services that would lose their address or get another " +
      "(and why: pool removed, shrank, renamed, split, avoidBuggyIPs, no longer serving them), Services that would get one, " +
      "Layer 2 and BGP announcements appearing or disappearing per node and peer, and the configuration's errors and warnings. " +
      "Computed by the controller's and speakers' own decisions. Exit status: 0 nothing changes for any Service, 2 something " +
      "does, 1 invalid configuration or unreadable input.",
  ),
  Command.withExamples([
    { command: "metallb-ts plan pools.yaml", description: "what applying pools.yaml to the current kubeconfig's cluster would do" },
    { command: "metallb-ts plan --cluster-state dump.yaml -o json config/*.yaml", description: "the same offline, for CI, as JSON" },
    { command: "metallb-ts plan --prune config/*.yaml", description: "a GitOps sync that prunes: the FILEs are the whole configuration" },
    { command: "metallb-ts plan --from-live --kubeconfig metallb-cluster.conf", description: "before replacing MetalLB: does every Service keep its address?" },
  ]),
)
