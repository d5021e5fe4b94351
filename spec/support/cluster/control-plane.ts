// The control plane in the root namespace, listening on the root link's address: the testbed's
// etcd + kube-apiserver (spec/support/apiserver.ts) with what a cluster with nodes needs on top (Node
// authorization, the `kubernetes` Service's endpoint, webhook calls straight to the pods, dual-stack
// Service ranges), kube-controller-manager and kube-scheduler.
import { join } from "node:path"
import { type ApiServer, kubeBinDir, startApiServer } from "../apiserver.ts"
import { eventually } from "../netns.ts"
import { type Daemon, startDaemon } from "./daemon.ts"
import type { ClusterPlan } from "./plan.ts"

export interface ControlPlane {
  readonly api: ApiServer
  readonly daemons: ReadonlyArray<Daemon>
  readonly stop: () => Promise<void>
}

export const startControlPlane = async (plan: ClusterPlan, logDir: string): Promise<ControlPlane> => {
  const api = await startApiServer({
    bindAddress: plan.api4,
    subjectAltNames: [`IP:${plan.kubernetesServiceIp}`, "DNS:kubernetes", "DNS:kubernetes.default", "DNS:kubernetes.default.svc.cluster.local"],
    authorizationMode: "Node,RBAC",
    extraArgs: [
      // Later flags win over startApiServer's own (single-valued flags).
      `--service-cluster-ip-range=${plan.serviceCidr4},${plan.serviceCidr6}`,
      "--endpoint-reconciler-type=lease",
      // Webhooks and aggregated APIs are called at the pod's address: the root namespace routes pods, not Services.
      "--enable-aggregator-routing=true",
      "--allow-privileged=true",
      "--kubelet-preferred-address-types=InternalIP",
    ],
  }).catch((error: unknown) => {
    throw new Error(`the cluster's kube-apiserver did not start: ${String(error)}`)
  })
  const daemons: Array<Daemon> = []
  const stop = async () => {
    await Promise.allSettled(daemons.map((d) => d.stop({ signal: "SIGKILL" })))
    await api.stop()
  }
  try {
    const kubeconfig = api.kubeConfigPath
    const common = [`--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      "--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false", "--profiling=false", "--v=1"]
    daemons.push(startDaemon("kube-controller-manager", [join(kubeBinDir(), "kube-controller-manager"), ...common,
      `--root-ca-file=${join(api.pkiDir, "ca.crt")}`,
      `--service-account-private-key-file=${join(api.pkiDir, "sa.key")}`,
      "--use-service-account-credentials=false",
      `--cluster-cidr=${plan.clusterCidr4},${plan.clusterCidr6}`,
      `--service-cluster-ip-range=${plan.serviceCidr4},${plan.serviceCidr6}`,
      // A node that stops reporting is NotReady after 20 s (default 50 s): the failure tests wait for it.
      "--node-monitor-grace-period=20s",
    ], { logDir }))
    daemons.push(startDaemon("kube-scheduler", [join(kubeBinDir(), "kube-scheduler"), ...common], { logDir }))
    await eventually("the default ServiceAccount (the controller-manager's serviceaccount controller)", async () => {
      const dead = daemons.find((d) => !d.alive())
      if (dead !== undefined) throw new Error(`${dead.name} exited:\n${dead.tail()}`)
      return api.kubectl(["get", "serviceaccount", "default", "-o", "name"]).trim() !== "" ? true : undefined
    }, { timeoutMs: 60_000, intervalMs: 250 }).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${daemons.map((d) => `--- ${d.name} (${d.logPath}) ---\n${d.tail()}`).join("\n")}`)
    })
    return { api, daemons, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
