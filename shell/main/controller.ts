// `metallb-ts controller`: the Deployment's process. Leader election on a Lease (two replicas, one
// active), the controller loop (shell/controller/controller.ts), the memberlist Secret the speakers encrypt
// with, health endpoints and Prometheus metrics (plain HTTP, or HTTPS with the scraper's token checked
// by the API server). Flags and environment follow manifests/base/controller.yaml.
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"
import { hostname } from "node:os"
import type { V1Secret } from "@kubernetes/client-node"
import { Effect, Option, Ref } from "effect"
import { Command, Flag } from "effect/cli"
import { runController } from "../controller/controller.ts"
import { kubeAccessReview } from "../kube/access-review.ts"
import { apiErrorText } from "../kube/api-error.ts"
import { KubeApi, resources } from "../kube/kube-api.ts"
import { apiObjectSource } from "../kube/webhook/source.ts"
import { runWebhooks } from "../kube/webhooks.ts"
import { makeControllerMetrics } from "../kube/controller-metrics.ts"
import { loadKubeConfig } from "../kube/kube-config.ts"
import { electLeader } from "../kube/leader.ts"
import { serveMetrics, type TlsCertificate } from "../metrics/server.ts"
import { certificateFromFiles } from "../metrics/tls-sources.ts"

export const leaseName = "metallb-ts-controller"

/** The memberlist key (16 random bytes, MetalLB's Secret `memberlist`, key `secretkey`), created once. */
const ensureMemberlistSecret = (namespace: string, name: string) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const exists = yield* api.get(resources.secrets, { namespace, name }).pipe(
      Effect.as(true),
      Effect.catchIf((error) => error.status === 404, () => Effect.succeed(false)),
    )
    if (exists) return "exists"
    yield* api.create(resources.secrets, namespace, { metadata: { name }, type: "Opaque", data: { secretkey: randomBytes(16).toString("base64") } }).pipe(
      Effect.catchIf((error) => error.status === 409, () => Effect.void), // another replica made it first
    )
    return "created"
  }).pipe(
    Effect.tap((result) => Effect.logInfo(`memberlist secret ${namespace}/${name}: ${result}`)),
    Effect.catch((error) => Effect.logWarning(`memberlist secret ${namespace}/${name} not ensured: ${apiErrorText(error)}`)),
  )

/** The metrics certificate: from files when given, else the webhook's Secret (tls.crt, tls.key) once it exists. */
const metricsCertificate = (api: KubeApi["Service"], namespace: string, files: { readonly cert?: string; readonly key?: string }, secretName: string): Effect.Effect<TlsCertificate | undefined> => {
  if (files.cert !== undefined && files.key !== undefined) return certificateFromFiles(files.cert, files.key)
  return api.get<V1Secret>(resources.secrets, { namespace, name: secretName }).pipe(
    Effect.map((secret) => {
      const cert = secret.data?.["tls.crt"]
      const key = secret.data?.["tls.key"]
      return cert === undefined || key === undefined ? undefined : { certPem: Buffer.from(cert, "base64").toString(), keyPem: Buffer.from(key, "base64").toString() }
    }),
    Effect.catch((error) => Effect.logDebug(`metrics: Secret ${namespace}/${secretName} not readable: ${apiErrorText(error)}`).pipe(Effect.as(undefined))),
  )
}

const healthServer = (port: number, ready: Ref.Ref<boolean>) =>
  Effect.acquireRelease(
    Effect.callback<ReturnType<typeof createServer>>((resume) => {
      const server = createServer((req, res) => {
        if (req.url === "/healthz") {
          res.writeHead(200).end("ok")
          return
        }
        if (req.url === "/readyz") {
          // Read in the request's callback: a plain read of the flag, no fiber to start.
          const isReady = Ref.getUnsafe(ready)
          res.writeHead(isReady ? 200 : 503).end(isReady ? "ready" : "not ready")
          return
        }
        res.writeHead(404).end()
      })
      server.listen(port, () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.callback<void>((resume) => { server.close(() => resume(Effect.void)) }),
  )

export const controllerCommand = Command.make(
  "controller",
  {
    kubeconfig: Flag.String("kubeconfig").pipe(Flag.optional, Flag.withDescription("kubeconfig file (default: in-cluster or KUBECONFIG)")),
    namespace: Flag.String("namespace").pipe(Flag.optional, Flag.withDescription("namespace of the configuration (default: $METALLB_NAMESPACE or metallb-system)")),
    lbClass: Flag.String("lb-class").pipe(Flag.optional, Flag.withDescription("serve only Services of this loadBalancerClass")),
    healthPort: Flag.Int("health-port").pipe(Flag.withDefault(17472), Flag.withDescription("HTTP port of /healthz and /readyz (0: off)")),
    webhookPort: Flag.Int("webhook-port").pipe(Flag.withDefault(9443), Flag.withDescription("HTTPS port of the admission and conversion webhooks")),
    webhookCertIps: Flag.String("webhook-cert-ips").pipe(Flag.optional, Flag.withDescription("comma-separated extra IP addresses in the webhook certificate (for webhook configurations that call by URL)")),
    metricsPort: Flag.Int("metrics-port").pipe(Flag.withDefault(9120), Flag.withDescription("port of /metrics (0: off)")),
    metricsTls: Flag.Boolean("metrics-tls").pipe(Flag.withDefault(false), Flag.withDescription("serve /metrics over HTTPS and admit only bearer tokens allowed to GET /metrics (TokenReview + SubjectAccessReview)")),
    metricsTlsCertFile: Flag.String("metrics-tls-cert-file").pipe(Flag.optional, Flag.withDescription("PEM certificate for /metrics (default: the webhook certificate's Secret)")),
    metricsTlsKeyFile: Flag.String("metrics-tls-key-file").pipe(Flag.optional, Flag.withDescription("PEM key for --metrics-tls-cert-file")),
    metricsTlsSecret: Flag.String("metrics-tls-secret").pipe(Flag.withDefault("metallb-webhook-cert"), Flag.withDescription("Secret (tls.crt, tls.key) serving /metrics when no files are given")),
    memberlistSecretName: Flag.String("memberlist-secret-name").pipe(Flag.withDefault("memberlist"), Flag.withDescription("Secret holding the speakers' membership key")),
    leaderElection: Flag.Boolean("leader-election").pipe(Flag.withDefault(true), Flag.withDescription("lead through a Lease (two replicas, one active)")),
    leaseDurationSeconds: Flag.Int("lease-duration-seconds").pipe(Flag.withDefault(15), Flag.withDescription("how long a silent leader keeps the Lease")),
  },
  (flags) =>
    Effect.suspend(() => {
      // Every API call below goes through KubeApi, over this one kubeconfig (one connection pool).
      const kubeConfig = loadKubeConfig(Option.getOrUndefined(flags.kubeconfig))
      return Effect.gen(function* () {
        const namespace = Option.getOrUndefined(flags.namespace) ?? process.env["METALLB_NAMESPACE"] ?? "metallb-system"
        const identity = process.env["METALLB_POD_NAME"] ?? `${hostname()}-${process.pid}`
        const lbClass = Option.getOrUndefined(flags.lbClass)
        yield* Effect.logInfo(`controller ${identity} starting in namespace ${namespace}${lbClass === undefined ? "" : ` for loadBalancerClass ${lbClass}`}`)
        const started = yield* Ref.make(false)
        if (flags.healthPort > 0) yield* healthServer(flags.healthPort, started)
        const metrics = makeControllerMetrics()
        if (flags.metricsPort > 0) {
          const files = { ...Option.match(flags.metricsTlsCertFile, { onNone: () => ({}), onSome: (cert) => ({ cert }) }), ...Option.match(flags.metricsTlsKeyFile, { onNone: () => ({}), onSome: (key) => ({ key }) }) }
          // Metrics are not worth the addresses: a port clash or a missing certificate is logged, not fatal.
          yield* serveMetrics({
            port: flags.metricsPort,
            render: metrics.registry.render,
            ...(flags.metricsTls
              ? { tls: { load: metricsCertificate(yield* KubeApi, namespace, files, flags.metricsTlsSecret), reloadMs: 60_000 }, authorize: yield* kubeAccessReview() }
              : {}),
          }).pipe(
            Effect.catch((error) => Effect.logError(`metrics: not served on port ${flags.metricsPort}: ${error.message}`)),
            Effect.forkScoped,
          )
        }
        yield* ensureMemberlistSecret(namespace, flags.memberlistSecretName)
        if (flags.webhookPort > 0) {
          // Every replica serves the webhooks (the API server may call any of them). They judge a change
          // against the objects listed fresh from the API, so a multi-document apply is judged whole.
          // The first certificate pass retries until it succeeds; the controller does not wait for it.
          const ipAddresses = (Option.getOrUndefined(flags.webhookCertIps) ?? "").split(",").map((ip) => ip.trim()).filter(Boolean)
          yield* runWebhooks({
            api: yield* KubeApi,
            namespace,
            objects: apiObjectSource(yield* KubeApi, namespace),
            port: flags.webhookPort,
            ...(ipAddresses.length === 0 ? {} : { certificates: { ipAddresses } }),
          }).pipe(
            Effect.tap((server) => Effect.logInfo(`webhooks: serving on port ${server.port}`)),
            Effect.catch((error) => Effect.logError(`webhooks: not served on port ${flags.webhookPort}: ${error.message}`)),
            Effect.forkScoped,
          )
        }
        const isLeader = flags.leaderElection
          ? yield* electLeader({
            namespace,
            name: leaseName,
            identity,
            leaseDurationSeconds: flags.leaseDurationSeconds,
          })
          : undefined
        yield* Ref.set(started, true)
        return yield* runController({
          namespace,
          instance: identity,
          metrics,
          ...(lbClass === undefined ? {} : { loadBalancerClass: lbClass }),
          ...(isLeader === undefined ? {} : { isLeader }),
        })
      }).pipe(Effect.scoped, Effect.provide(KubeApi.layer(kubeConfig)))
    }),
).pipe(Command.withDescription("Assign addresses to LoadBalancer Services (the Deployment's process)."))
