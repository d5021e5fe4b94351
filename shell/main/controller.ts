// `metallb-ts controller`: the Deployment's process. Leader election on a Lease (two replicas, one
// active), the controller loop (shell/kube/controller.ts), the memberlist Secret the speakers encrypt
// with, and health endpoints. Flags and environment follow manifests/base/controller.yaml.
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"
import { hostname } from "node:os"
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node"
import { Effect, Option, Ref } from "effect"
import { Command, Flag } from "effect/cli"
import { runController } from "../kube/controller.ts"
import { electLeader } from "../kube/leader.ts"

export const leaseName = "metallb-ts-controller"

const loadKubeConfig = (path: string | undefined): KubeConfig => {
  const kc = new KubeConfig()
  if (path === undefined) kc.loadFromDefault()
  else kc.loadFromFile(path)
  return kc
}

/** The memberlist key (16 random bytes, MetalLB's Secret `memberlist`, key `secretkey`), created once. */
const ensureMemberlistSecret = (kc: KubeConfig, namespace: string, name: string) =>
  Effect.tryPromise(async () => {
    const core = kc.makeApiClient(CoreV1Api)
    try {
      await core.readNamespacedSecret({ name, namespace })
      return "exists"
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error
    }
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name }, type: "Opaque", data: { secretkey: randomBytes(16).toString("base64") } },
    }).catch((error: unknown) => {
      if ((error as { code?: number }).code !== 409) throw error // another replica made it first
    })
    return "created"
  }).pipe(
    Effect.tap((result) => Effect.logInfo(`memberlist secret ${namespace}/${name}: ${result}`)),
    Effect.catch((error) => Effect.logWarning(`memberlist secret ${namespace}/${name} not ensured: ${String(error)}`)),
  )

const healthServer = (port: number, ready: Effect.Effect<boolean>) =>
  Effect.acquireRelease(
    Effect.callback<ReturnType<typeof createServer>>((resume) => {
      const server = createServer((req, res) => {
        if (req.url === "/healthz") {
          res.writeHead(200).end("ok")
          return
        }
        if (req.url === "/readyz") {
          Effect.runPromise(ready).then((isReady) => res.writeHead(isReady ? 200 : 503).end(isReady ? "ready" : "not ready"))
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
    metricsPort: Flag.Int("metrics-port").pipe(Flag.withDefault(9120), Flag.withDescription("port of /metrics")),
    memberlistSecretName: Flag.String("memberlist-secret-name").pipe(Flag.withDefault("memberlist"), Flag.withDescription("Secret holding the speakers' membership key")),
    leaderElection: Flag.Boolean("leader-election").pipe(Flag.withDefault(true), Flag.withDescription("lead through a Lease (two replicas, one active)")),
    leaseDurationSeconds: Flag.Int("lease-duration-seconds").pipe(Flag.withDefault(15), Flag.withDescription("how long a silent leader keeps the Lease")),
  },
  (flags) =>
    Effect.gen(function* () {
      const kubeConfig = loadKubeConfig(Option.getOrUndefined(flags.kubeconfig))
      const namespace = Option.getOrUndefined(flags.namespace) ?? process.env["METALLB_NAMESPACE"] ?? "metallb-system"
      const identity = process.env["METALLB_POD_NAME"] ?? `${hostname()}-${process.pid}`
      const lbClass = Option.getOrUndefined(flags.lbClass)
      yield* Effect.logInfo(`controller ${identity} starting in namespace ${namespace}${lbClass === undefined ? "" : ` for loadBalancerClass ${lbClass}`}`)
      const started = yield* Ref.make(false)
      if (flags.healthPort > 0) yield* healthServer(flags.healthPort, Ref.get(started))
      yield* ensureMemberlistSecret(kubeConfig, namespace, flags.memberlistSecretName)
      const isLeader = flags.leaderElection
        ? yield* electLeader({
          kubeConfig,
          namespace,
          name: leaseName,
          identity,
          leaseDurationSeconds: flags.leaseDurationSeconds,
          renewDeadlineMs: Math.round(flags.leaseDurationSeconds * 2000 / 3),
          retryPeriodMs: Math.max(500, Math.round(flags.leaseDurationSeconds * 1000 / 7)),
        })
        : undefined
      yield* Ref.set(started, true)
      return yield* runController({
        kubeConfig,
        namespace,
        instance: identity,
        ...(lbClass === undefined ? {} : { loadBalancerClass: lbClass }),
        ...(isLeader === undefined ? {} : { isLeader }),
      })
    }).pipe(Effect.scoped),
).pipe(Command.withDescription("Assign addresses to LoadBalancer Services (the Deployment's process)."))
