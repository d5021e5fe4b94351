// metallb-ts on the real cluster, as a user installs it: `kubectl apply --server-side -k manifests/`
// or `helm install` of manifests/charts/metallb-ts, waiting for the controller's two replicas and a
// Ready speaker per node; uninstalling and finding what was left behind; the configuration, the web
// backends and the LoadBalancer Services the tests and `npm run cluster` use. A rollout that does not
// finish names each pod that is not Ready, why (ContainerCreating, CrashLoopBackOff, ...), its events
// and the tail of its node's kubelet log.
import { execFileSync } from "node:child_process"
import { join } from "node:path"
import { imageReference } from "../../../shell/image/image.ts"
import { kubeBinDir } from "../apiserver.ts"
import { metallbConfigYaml } from "../lab.ts"
import { sleep } from "../netns.ts"
import type { ClusterPlan } from "./plan.ts"

export const repoRoot = new URL("../../..", import.meta.url).pathname
export const metallbNamespace = "metallb-system"
export const helmRelease = "metallb-ts"

export type Kubectl = (args: ReadonlyArray<string>, input?: string) => string

/** Where diagnostics find a node's kubelet log tail. */
export type KubeletTail = (nodeName: string) => string

interface PodList {
  readonly items: ReadonlyArray<{
    readonly metadata: { readonly name: string; readonly namespace: string; readonly deletionTimestamp?: string }
    readonly spec: { readonly nodeName?: string }
    readonly status: {
      readonly phase?: string
      readonly conditions?: ReadonlyArray<{ readonly type: string; readonly status: string }>
      readonly containerStatuses?: ReadonlyArray<{
        readonly name: string
        readonly ready: boolean
        readonly restartCount: number
        readonly state?: Readonly<Record<string, { readonly reason?: string; readonly message?: string }>>
      }>
    }
  }>
}

export const pods = (kubectl: Kubectl, namespace: string, selector?: string): PodList["items"] =>
  (JSON.parse(kubectl(["get", "pods", "-n", namespace, ...(selector === undefined ? [] : ["-l", selector]), "-o", "json"])) as PodList).items

const isReady = (pod: PodList["items"][number]) => pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true

/** Every pod of `selector` that is not Ready, with its state, events and its node's kubelet log tail. */
export const diagnosePods = (kubectl: Kubectl, namespace: string, selector: string, kubeletTail: KubeletTail): string => {
  const notReady = pods(kubectl, namespace, selector).filter((p) => !isReady(p))
  if (notReady.length === 0) return `every pod of ${selector} is Ready`
  return notReady.map((pod) => {
    const states = (pod.status.containerStatuses ?? []).map((c) => {
      const [state, detail] = Object.entries(c.state ?? {})[0] ?? ["unknown", {}]
      return `${c.name}: ${state}${detail.reason === undefined ? "" : ` ${detail.reason}`}${detail.message === undefined ? "" : ` (${detail.message})`}, restarts ${c.restartCount}`
    })
    const reason = states.length === 0 ? `${pod.status.phase ?? "no phase"} (ContainerCreating: no container started yet)` : states.join("; ")
    let events = ""
    try {
      events = kubectl(["get", "events", "-n", namespace, "--field-selector", `involvedObject.name=${pod.metadata.name}`,
        "-o", "custom-columns=REASON:.reason,MESSAGE:.message", "--no-headers"]).trim().split("\n").slice(-8).join("\n    ")
    } catch (error) {
      events = `(events unreadable: ${String(error)})`
    }
    const node = pod.spec.nodeName
    return `pod ${namespace}/${pod.metadata.name} on ${node ?? "no node"} not Ready: ${reason}\n  events:\n    ${events}` +
      (node === undefined ? "" : `\n  kubelet log of ${node} (tail):\n${kubeletTail(node)}`)
  }).join("\n")
}

/**
 * Waits until `selector`'s pods in `namespace` number `count` and are all Ready (a rollout: no pod of
 * an older template counts, as only Ready pods of the current generation are listed by `rollout status`).
 */
export const waitRollout = async (
  kubectl: Kubectl,
  resource: string,
  namespace: string,
  selector: string,
  kubeletTail: KubeletTail,
  timeoutMs = 180_000,
): Promise<void> => {
  const deadline = performance.now() + timeoutMs
  let last = ""
  while (performance.now() < deadline) {
    try {
      kubectl(["rollout", "status", resource, "-n", namespace, "--timeout=5s"])
      return
    } catch (error) {
      last = String(error)
    }
    await sleep(250)
  }
  throw new Error(`${namespace}/${resource} did not roll out in ${timeoutMs} ms (${last.slice(0, 300)}):\n${diagnosePods(kubectl, namespace, selector, kubeletTail)}`)
}

export const controllerSelector = "app=metallb,component=controller"
export const speakerSelector = "app=metallb,component=speaker"

const waitMetallbReady = async (kubectl: Kubectl, kubeletTail: KubeletTail, timeoutMs: number) => {
  await waitRollout(kubectl, "deployment/controller", metallbNamespace, controllerSelector, kubeletTail, timeoutMs)
  await waitRollout(kubectl, "daemonset/speaker", metallbNamespace, speakerSelector, kubeletTail, timeoutMs)
}

export const installKustomize = async (kubectl: Kubectl, kubeletTail: KubeletTail, timeoutMs = 180_000): Promise<void> => {
  kubectl(["apply", "--server-side", "-k", join(repoRoot, "manifests")])
  await waitMetallbReady(kubectl, kubeletTail, timeoutMs)
}

export const uninstallKustomize = (kubectl: Kubectl): void => {
  kubectl(["delete", "-k", join(repoRoot, "manifests"), "--wait=true", "--timeout=120s", "--ignore-not-found"])
}

const helm = (kubeconfig: string, args: ReadonlyArray<string>, timeoutMs = 240_000) =>
  execFileSync(join(kubeBinDir(), "helm"), [`--kubeconfig=${kubeconfig}`, ...args], { encoding: "utf8", timeout: timeoutMs, stdio: "pipe" })

export const installHelm = async (kubectl: Kubectl, kubeconfig: string, kubeletTail: KubeletTail, timeoutMs = 180_000): Promise<void> => {
  helm(kubeconfig, ["install", helmRelease, join(repoRoot, "manifests/charts/metallb-ts"), "--namespace", metallbNamespace, "--create-namespace"])
  await waitMetallbReady(kubectl, kubeletTail, timeoutMs)
}

export const uninstallHelm = (kubeconfig: string): void => {
  helm(kubeconfig, ["uninstall", helmRelease, "--namespace", metallbNamespace, "--wait", "--timeout", "120s"])
}

/** What an uninstall must not leave: metallb-ts pods, webhook configurations, RBAC objects, ServiceAccounts. */
export const metallbLeftovers = (kubectl: Kubectl): ReadonlyArray<string> => {
  const names = (args: ReadonlyArray<string>) => kubectl([...args, "-o", "name", "--ignore-not-found"]).split("\n").filter(Boolean)
  return [
    ...names(["get", "pods", "-n", metallbNamespace, "-l", "app=metallb"]),
    ...names(["get", "validatingwebhookconfigurations"]).filter((n) => n.includes("metallb")),
    ...names(["get", "clusterroles,clusterrolebindings"]).filter((n) => n.includes("metallb")),
    ...names(["get", "roles,rolebindings,serviceaccounts", "-n", metallbNamespace]).filter((n) => !n.endsWith("/default")),
  ]
}

/** The address pools, advertisements, BFD profile and BGP peer (the router) the cluster tests use. */
export const clusterConfigYaml = (plan: ClusterPlan): string =>
  metallbConfigYaml({ l2Addresses: [plan.l2Pool4, plan.l2Pool6], bgpAddresses: [plan.bgpPool4], nodeAsn: plan.nodeAsn, routerAsn: plan.routerAsn, router4: plan.router4 })

/** Removes the metallb.io configuration; the peers first: the webhook refuses deleting a BFDProfile in use. */
export const deleteConfig = (kubectl: Kubectl): void => {
  kubectl(["delete", "bgppeers.metallb.io", "--all", "-n", metallbNamespace, "--wait=true", "--ignore-not-found"])
  kubectl(["delete", "ipaddresspools.metallb.io,l2advertisements.metallb.io,bgpadvertisements.metallb.io,bfdprofiles.metallb.io",
    "--all", "-n", metallbNamespace, "--wait=true", "--ignore-not-found"])
}

/** Applies the configuration, retrying while the webhook is not reachable yet (just after a rollout). */
export const applyWithWebhook = async (kubectl: Kubectl, yaml: string, timeoutMs = 60_000): Promise<void> => {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    try {
      kubectl(["apply", "-f", "-"], yaml)
      return
    } catch (error) {
      if (performance.now() > deadline || !/webhook/i.test(String(error))) throw error
      await sleep(500)
    }
  }
}

/**
 * The web pods' server, run by the metallb-ts image's Node (the image every node already holds): it
 * answers every request with `<pod name> on <node>`. It replaced busybox httpd, which listens with a
 * backlog of 9 and forks per connection: on a busy machine a slow accept loop overflows that queue and
 * the client's SYN waits a second for its retransmission. Node's backlog here is 1,024, answers come from
 * one process with nothing to fork. It listens on both families ([::], not v6-only) and, as PID 1 (which
 * has no default SIGTERM action), exits on SIGTERM once its open connections are answered.
 */
const webServer = `
const { createServer } = require("node:http")
const body = require("node:os").hostname() + " on " + process.env.NODE + "\\n"
const server = createServer((request, response) => {
  request.resume()
  response.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) })
  response.end(body)
})
server.listen({ port: 8080, host: "::", backlog: 1024 })
process.on("SIGTERM", () => server.close(() => process.exit(0)))
`

/**
 * A web Deployment (the Node server above) answering `<pod name> on <node>`; `nodes` limits it to those
 * nodes (a required node affinity); never two pods on one node (anti-affinity).
 */
export const webDeploymentYaml = (name: string, options: { readonly replicas: number; readonly nodes?: ReadonlyArray<string> }): string => JSON.stringify({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name, namespace: "default" },
  spec: {
    replicas: options.replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        terminationGracePeriodSeconds: 1,
        securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: "RuntimeDefault" } },
        affinity: {
          ...(options.nodes === undefined ? {} : {
            nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: options.nodes }] }] } },
          }),
          podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: { app: name } } }] },
        },
        containers: [{
          name: "web",
          image: imageReference(repoRoot).short,
          imagePullPolicy: "Never",
          command: ["node", "--max-old-space-size=32", "-e", webServer],
          env: [{ name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } }],
          ports: [{ containerPort: 8080 }],
          // A generous timeout: on a loaded machine a 1 s probe fails now and then, and the endpoint's
          // flap changes the Service under the test.
          readinessProbe: { httpGet: { path: "/", port: 8080 }, periodSeconds: 1, timeoutSeconds: 5 },
          // Node's resident set is ~45 MiB.
          resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "128Mi" } },
          securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
        }],
      },
    },
  },
})

export interface LbServiceSpec {
  readonly name: string
  /** The Deployment (its `app` label) behind it. */
  readonly app: string
  readonly pool: string
  readonly families: "IPv4" | "dual"
  readonly externalTrafficPolicy?: "Cluster" | "Local"
}

export const lbServiceYaml = (spec: LbServiceSpec): string => JSON.stringify({
  apiVersion: "v1",
  kind: "Service",
  // The label lets a test run that starts over remove the Services earlier files left (scenarios.ts).
  metadata: { name: spec.name, namespace: "default", labels: { "mlbt-test": "true" }, annotations: { "metallb.io/address-pool": spec.pool } },
  spec: {
    type: "LoadBalancer",
    selector: { app: spec.app },
    ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
    ipFamilyPolicy: spec.families === "dual" ? "RequireDualStack" : "SingleStack",
    ipFamilies: spec.families === "dual" ? ["IPv4", "IPv6"] : ["IPv4"],
    externalTrafficPolicy: spec.externalTrafficPolicy ?? "Cluster",
  },
})

/** The Service's ingress addresses once the controller has written `count` of them. */
export const waitIngress = async (kubectl: Kubectl, name: string, count: number, timeoutMs = 60_000): Promise<ReadonlyArray<string>> => {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    const ips = kubectl(["get", "service", name, "-n", "default", "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}"]).split(" ").filter(Boolean)
    if (ips.length >= count) return ips
    await sleep(200)
  }
  throw new Error(`Service default/${name} got no ${count} ingress address(es) in ${timeoutMs} ms: ${kubectl(["describe", "service", name, "-n", "default"])}`)
}
