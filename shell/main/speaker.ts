// `metallb-ts speaker`: the DaemonSet's process. Flags and environment follow
// manifests/base/speaker.yaml: the node name, the membership bind address (membership is off without
// it), port and key file, the other speakers found by pod labels (and/or listed as seeds), the
// interfaces excluded from Layer 2, health endpoints, and /metrics (plain HTTP, or HTTPS with the
// scraper's token checked by the API server, with a self-signed certificate unless files are given).
import { readFileSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { isIP } from "node:net"
import { hostname } from "node:os"
import type { V1Pod } from "@kubernetes/client-node"
import { loadKubeConfig } from "../kube/kube-config.ts"
import { apiErrorText } from "../kube/api-error.ts"
import { KubeApi, resources } from "../kube/kube-api.ts"
import { Effect, Exit, FiberSet, Option, Scope } from "effect"
import { Command, Flag } from "effect/cli"
import { parse } from "yaml"
import type { PodOwner } from "../kube/service-status.ts"
import { runSpeaker } from "../speaker/speaker.ts"
import { callbackLog } from "../speaker/callback-log.ts"
import { findPredecessor, handOverAddress, listenForSuccessor, releaseSteps } from "../speaker/hand-over.ts"
import { makeRegistry } from "../metrics/registry.ts"
import { kubeAccessReview } from "../kube/access-review.ts"
import { serveMetrics } from "../metrics/server.ts"
import { certificateFromFiles, selfSignedCertificate } from "../metrics/tls-sources.ts"
import { defaultExcludePatterns } from "../../core/speaker/settings.ts"
import { formatHostPort, membershipKey } from "../speaker/membership.ts"
import { membershipProfiles } from "../../core/election/membership/config.ts"

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
const podSeeds = (namespace: string, labels: string, port: number) =>
  Effect.flatMap(Effect.service(KubeApi), (api) => api.list<V1Pod>(resources.pods, { namespace, labelSelector: labels })).pipe(
    Effect.map((pods) => pods.items.flatMap((p) => (p.status?.podIP ? [formatHostPort(p.status.podIP, port)] : []))),
    Effect.catch((error) => Effect.logWarning(`listing speaker pods failed: ${apiErrorText(error)}`).pipe(Effect.as([] as Array<string>))),
  )

/**
 * This speaker's pod (METALLB_POD_NAME, and METALLB_POD_UID or else the Pod read from the API), which
 * owns its status objects; undefined outside a pod, or when the Pod cannot be read (logged).
 */
const podOwner = (namespace: string) => {
  const name = process.env["METALLB_POD_NAME"]
  const uid = process.env["METALLB_POD_UID"]
  if (name === undefined || name === "") return Effect.succeed(undefined)
  if (uid !== undefined && uid !== "") return Effect.succeed<PodOwner | undefined>({ name, uid })
  return Effect.flatMap(Effect.service(KubeApi), (api) => api.get<V1Pod>(resources.pods, { namespace, name })).pipe(
    Effect.map((pod): PodOwner | undefined => (pod.metadata?.uid === undefined ? undefined : { name, uid: pod.metadata.uid })),
    Effect.catch((error) => Effect.logWarning(`speaker: pod ${namespace}/${name} not readable, status objects unowned: ${apiErrorText(error).slice(0, 200)}`).pipe(Effect.as(undefined))),
  )
}

/** How long a new speaker waits for the previous one of its node to release its sockets. */
const releaseTimeoutMs = 10_000

const healthServer = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<ReturnType<typeof createServer>>((resume) => {
      const server = createServer((req, res) => {
        if (req.url === "/healthz" || req.url === "/readyz") res.writeHead(200).end("ok")
        else res.writeHead(404).end()
      })
      // In use: the previous speaker of this node (a hand-over that timed out) may still hold it.
      let tries = 0
      server.on("error", (error: NodeJS.ErrnoException) => {
        if (error.code === "EADDRINUSE" && ++tries < 100) setTimeout(() => server.listen(port), 200)
        else resume(Effect.die(error))
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
    metricsPort: Flag.Int("metrics-port").pipe(Flag.withDefault(9120), Flag.withDescription("port of /metrics (0: off)")),
    metricsTls: Flag.Boolean("metrics-tls").pipe(Flag.withDefault(false), Flag.withDescription("serve /metrics over HTTPS and admit only bearer tokens allowed to GET /metrics (TokenReview + SubjectAccessReview)")),
    metricsTlsCertFile: Flag.String("metrics-tls-cert-file").pipe(Flag.optional, Flag.withDescription("PEM certificate for /metrics (default: a self-signed one for this node, renewed before expiry)")),
    metricsTlsKeyFile: Flag.String("metrics-tls-key-file").pipe(Flag.optional, Flag.withDescription("PEM key for --metrics-tls-cert-file")),
    memberlistPort: Flag.Int("memberlist-port").pipe(Flag.withDefault(7946), Flag.withDescription("UDP port of the membership protocol")),
    memberlistLabels: Flag.String("memberlist-labels").pipe(Flag.withDefault("app=metallb,component=speaker"), Flag.withDescription("labels of the speaker pods to join")),
    memberlistKeyFile: Flag.String("memberlist-key-file").pipe(Flag.optional, Flag.withDescription("file with the membership key (the memberlist Secret's secretkey)")),
    memberlistSeeds: Flag.String("memberlist-seeds").pipe(Flag.optional, Flag.withDescription("comma-separated ip:port of other speakers (besides the labelled pods)")),
    excludel2File: Flag.String("excludel2-file").pipe(Flag.optional, Flag.withDescription("the metallb-excludel2 ConfigMap's excludel2.yaml")),
    memberlistProfile: Flag.Literals("memberlist-profile", ["fast", "steady", "memberlist-lan"]).pipe(Flag.withDefault("fast" as const), Flag.withDescription("membership timings (core/election/membership/config.ts): fast (a dead node is known in ~0.3 s; a speaker stalled over ~240 ms may be declared dead), steady (~1 s; forgives ~800 ms stalls) or memberlist-lan (hashicorp/memberlist's LAN defaults, as MetalLB: ~5 s; forgives ~5 s)")),
    startedFile: Flag.String("started-file").pipe(Flag.optional, Flag.withDescription("written once this speaker serves on its own (after the hand-over from the previous speaker of the node): the pod's startup probe")),
    handOverMs: Flag.Int("hand-over-ms").pipe(Flag.withDefault(2_000), Flag.withDescription("on SIGTERM, how long to keep answering after leaving the membership")),
  },
  (flags) => {
    // Every watch and event goes through KubeApi over this one kubeconfig.
    const kubeConfig = loadKubeConfig(Option.getOrUndefined(flags.kubeconfig))
    return Effect.gen(function* () {
      const namespace = Option.getOrUndefined(flags.namespace) ?? process.env["METALLB_NAMESPACE"] ?? "metallb-system"
      const nodeName = Option.getOrUndefined(flags.nodeName) ?? process.env["METALLB_NODE_NAME"] ?? hostname()
      const lbClass = Option.getOrUndefined(flags.lbClass)
      const bindAddress = process.env["METALLB_ML_BIND_ADDR"]
      const hostAddress = process.env["METALLB_HOST"]
      const log = yield* callbackLog
      // The rolling update's hand-over (shell/speaker/hand-over.ts): the health and metrics ports are
      // this speaker's only once the previous one of this node released them.
      const address = handOverAddress(nodeName)
      const predecessor = yield* Effect.promise(() => findPredecessor(address))
      const steps = releaseSteps((name, error) => log("warning", `hand-over: releasing ${name} failed: ${String(error)}`))
      const ports = yield* Scope.fork(yield* Effect.scope)
      // The hand-over's steps and takeOver are callbacks (shell/speaker/hand-over.ts): what they run
      // in Effect is a fiber of this command's scope, interrupted if it closes first.
      const runPromise = yield* FiberSet.makeRuntimePromise<KubeApi>()
      steps.add("health and metrics ports", () => runPromise(Scope.close(ports, Exit.void)))
      const registry = makeRegistry()
      const servePorts = Effect.gen(function* () {
        if (flags.healthPort > 0) yield* healthServer(flags.healthPort)
        if (flags.metricsPort > 0) {
          // A bind failure is logged, not fatal (metrics are not worth the addresses).
          const certFile = Option.getOrUndefined(flags.metricsTlsCertFile)
          const keyFile = Option.getOrUndefined(flags.metricsTlsKeyFile)
          const certificate = certFile !== undefined && keyFile !== undefined
            ? certificateFromFiles(certFile, keyFile)
            : selfSignedCertificate({ commonName: nodeName, dnsNames: [nodeName], ipAddresses: hostAddress !== undefined && isIP(hostAddress) !== 0 ? [hostAddress] : [] })
          yield* serveMetrics({
            port: flags.metricsPort,
            render: registry.render,
            ...(flags.metricsTls ? { tls: { load: certificate, reloadMs: 60_000 }, authorize: yield* kubeAccessReview() } : {}),
          }).pipe(
            Effect.catch((error) => Effect.logError(`metrics: not served on port ${flags.metricsPort}: ${error.message}`)),
            Effect.forkScoped,
          )
        }
      }).pipe(Scope.provide(ports))
      if (predecessor === undefined) yield* servePorts
      const takeOver = async () => {
        if (predecessor !== undefined) {
          const asked = performance.now()
          await predecessor.release(releaseTimeoutMs).then(
            () => log("info", `hand-over: the previous speaker of ${nodeName} released its sockets in ${Math.round(performance.now() - asked)} ms`),
            (error: unknown) => log("warning", `hand-over: ${String(error)}; binding anyway`),
          )
          await runPromise(servePorts)
        }
        await listenForSuccessor(address, steps).catch((error: unknown) => log("warning", `hand-over: not listening for a successor: ${String(error)}`))
        const startedFile = Option.getOrUndefined(flags.startedFile)
        try {
          if (startedFile !== undefined) writeFileSync(startedFile, `${process.pid}\n`)
        } catch (error) {
          log("warning", `--started-file ${startedFile}: not written (${String(error)}); the pod's startup probe will fail`)
        }
      }
      const keyFile = Option.getOrUndefined(flags.memberlistKeyFile)
      // The file's bytes as they are, as MetalLB reads the mounted Secret key.
      const key = keyFile === undefined ? undefined : membershipKey(readFileSync(keyFile))
      const staticSeeds = (Option.getOrUndefined(flags.memberlistSeeds) ?? "").split(",").map((s) => s.trim()).filter(Boolean)
      const seeds = bindAddress === undefined ? [] : [...staticSeeds, ...(yield* podSeeds(namespace, flags.memberlistLabels, flags.memberlistPort))]
      yield* Effect.logInfo(`speaker ${nodeName} starting in namespace ${namespace}; membership ${bindAddress === undefined ? "off" : `on ${formatHostPort(bindAddress, flags.memberlistPort)} with ${seeds.length} seeds${key === undefined ? ", unencrypted" : ""}`}`)
      const pod = yield* podOwner(namespace)
      return yield* runSpeaker({
        namespace,
        nodeName,
        ...(lbClass === undefined ? {} : { loadBalancerClass: lbClass }),
        ignoreExcludeLb: flags.ignoreExcludeLb,
        excludePatterns: excludePatternsFrom(Option.getOrUndefined(flags.excludel2File)),
        handOverMs: flags.handOverMs,
        registry,
        ...(pod === undefined ? {} : { pod }),
        handOver: { takeOver, steps },
        ...(hostAddress === undefined || hostAddress === "" ? {} : { hostAddress }),
        ...(bindAddress === undefined ? {} : { membership: { bindAddress, port: flags.memberlistPort, ...(key === undefined ? {} : { key }), seeds, config: membershipProfiles[flags.memberlistProfile] } }),
      })
    }).pipe(Effect.scoped, Effect.provide(KubeApi.layer(kubeConfig)))
  },
).pipe(Command.withDescription("Announce the Services' addresses from this node over Layer 2 and BGP (the DaemonSet's process)."))
