// `metallb-ts speaker`: the DaemonSet's process. Flags and environment follow
// manifests/base/speaker.yaml: the node name, the membership bind address (membership is off without
// it), port and key file, the other speakers found by pod labels (and/or listed as seeds), the
// interfaces excluded from Layer 2, and health endpoints.
import { readFileSync } from "node:fs"
import { createServer } from "node:http"
import { hostname } from "node:os"
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node"
import { loadKubeConfig } from "../kube/kube-config.ts"
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { parse } from "yaml"
import { runSpeaker } from "../kube/speaker.ts"
import { makeRegistry } from "../metrics/registry.ts"
import { serveMetrics } from "../metrics/server.ts"
import { defaultExcludePatterns } from "../speaker/interfaces.ts"
import { formatHostPort, membershipKey } from "../speaker/membership.ts"

/** MetalLB's metallb-excludel2 ConfigMap, mounted as a file: `announcedInterfacesToExclude: [regex, ...]`. */
const excludePatternsFrom = (path: string | undefined): ReadonlyArray<string> => {
  if (path === undefined) return defaultExcludePatterns
  try {
    const parsed = parse(readFileSync(path, "utf8")) as { announcedInterfacesToExclude?: unknown }
    const list = parsed?.announcedInterfacesToExclude
    return Array.isArray(list) ? list.filter((p): p is string => typeof p === "string") : defaultExcludePatterns
  } catch {
    return defaultExcludePatterns
  }
}

/** The other speakers: pods with the memberlist labels in our namespace, at their pod IPs. */
const podSeeds = (kc: KubeConfig, namespace: string, labels: string, port: number) =>
  Effect.tryPromise({
    try: async () => {
      const pods = await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: labels })
      return pods.items.flatMap((p) => (p.status?.podIP ? [formatHostPort(p.status.podIP, port)] : []))
    },
    catch: (error) => error,
  }).pipe(Effect.catch((error) => Effect.logWarning(`listing speaker pods failed: ${String(error)}`).pipe(Effect.as([] as Array<string>))))

const healthServer = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<ReturnType<typeof createServer>>((resume) => {
      const server = createServer((req, res) => {
        if (req.url === "/healthz" || req.url === "/readyz") res.writeHead(200).end("ok")
        else res.writeHead(404).end()
      })
      server.listen(port, () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.callback<void>((resume) => { server.close(() => resume(Effect.void)) }),
  )

export const speakerCommand = Command.make(
  "speaker",
  {
    kubeconfig: Flag.String("kubeconfig").pipe(Flag.optional, Flag.withDescription("kubeconfig file (default: in-cluster or KUBECONFIG)")),
    namespace: Flag.String("namespace").pipe(Flag.optional, Flag.withDescription("namespace of the configuration (default: $METALLB_NAMESPACE or metallb-system)")),
    nodeName: Flag.String("node-name").pipe(Flag.optional, Flag.withDescription("this node (default: $METALLB_NODE_NAME or the host name)")),
    lbClass: Flag.String("lb-class").pipe(Flag.optional, Flag.withDescription("serve only Services of this loadBalancerClass")),
    ignoreExcludeLb: Flag.Boolean("ignore-exclude-lb").pipe(Flag.withDefault(false), Flag.withDescription("announce from nodes labelled exclude-from-external-load-balancers")),
    healthPort: Flag.Int("health-port").pipe(Flag.withDefault(17472), Flag.withDescription("HTTP port of /healthz and /readyz (0: off)")),
    metricsPort: Flag.Int("metrics-port").pipe(Flag.withDefault(9120), Flag.withDescription("port of /metrics")),
    memberlistPort: Flag.Int("memberlist-port").pipe(Flag.withDefault(7946), Flag.withDescription("UDP port of the membership protocol")),
    memberlistLabels: Flag.String("memberlist-labels").pipe(Flag.withDefault("app=metallb,component=speaker"), Flag.withDescription("labels of the speaker pods to join")),
    memberlistKeyFile: Flag.String("memberlist-key-file").pipe(Flag.optional, Flag.withDescription("file with the membership key (the memberlist Secret's secretkey)")),
    memberlistSeeds: Flag.String("memberlist-seeds").pipe(Flag.optional, Flag.withDescription("comma-separated ip:port of other speakers (besides the labelled pods)")),
    excludel2File: Flag.String("excludel2-file").pipe(Flag.optional, Flag.withDescription("the metallb-excludel2 ConfigMap's excludel2.yaml")),
    handOverMs: Flag.Int("hand-over-ms").pipe(Flag.withDefault(2_000), Flag.withDescription("on SIGTERM, how long to keep answering after leaving the membership")),
  },
  (flags) =>
    Effect.gen(function* () {
      const kubeConfig = loadKubeConfig(Option.getOrUndefined(flags.kubeconfig))
      const namespace = Option.getOrUndefined(flags.namespace) ?? process.env["METALLB_NAMESPACE"] ?? "metallb-system"
      const nodeName = Option.getOrUndefined(flags.nodeName) ?? process.env["METALLB_NODE_NAME"] ?? hostname()
      const lbClass = Option.getOrUndefined(flags.lbClass)
      const bindAddress = process.env["METALLB_ML_BIND_ADDR"]
      const hostAddress = process.env["METALLB_HOST"]
      if (flags.healthPort > 0) yield* healthServer(flags.healthPort)
      const registry = makeRegistry()
      if (flags.metricsPort > 0) {
        // Plain HTTP on the node's network; a bind failure is logged, not fatal (metrics are not worth the addresses).
        yield* serveMetrics({ port: flags.metricsPort, render: registry.render }).pipe(
          Effect.catch((error) => Effect.logError(`metrics: not served on port ${flags.metricsPort}: ${error.message}`)),
          Effect.forkScoped,
        )
      }
      const keyFile = Option.getOrUndefined(flags.memberlistKeyFile)
      // The file's bytes as they are, as MetalLB reads the mounted Secret key.
      const key = keyFile === undefined ? undefined : membershipKey(readFileSync(keyFile))
      const staticSeeds = (Option.getOrUndefined(flags.memberlistSeeds) ?? "").split(",").map((s) => s.trim()).filter(Boolean)
      const seeds = bindAddress === undefined ? [] : [...staticSeeds, ...(yield* podSeeds(kubeConfig, namespace, flags.memberlistLabels, flags.memberlistPort))]
      yield* Effect.logInfo(`speaker ${nodeName} starting in namespace ${namespace}; membership ${bindAddress === undefined ? "off" : `on ${formatHostPort(bindAddress, flags.memberlistPort)} with ${seeds.length} seeds${key === undefined ? ", unencrypted" : ""}`}`)
      return yield* runSpeaker({
        kubeConfig,
        namespace,
        nodeName,
        ...(lbClass === undefined ? {} : { loadBalancerClass: lbClass }),
        ignoreExcludeLb: flags.ignoreExcludeLb,
        excludePatterns: excludePatternsFrom(Option.getOrUndefined(flags.excludel2File)),
        handOverMs: flags.handOverMs,
        registry,
        ...(hostAddress === undefined || hostAddress === "" ? {} : { hostAddress }),
        ...(bindAddress === undefined ? {} : { membership: { bindAddress, port: flags.memberlistPort, ...(key === undefined ? {} : { key }), seeds } }),
      })
    }).pipe(Effect.scoped),
).pipe(Command.withDescription("Announce the Services' addresses from this node over Layer 2 and BGP (the DaemonSet's process)."))
