// What several cluster e2e files do: bring metallb-ts to a known state (none, or installed with
// kustomize and configured), find the node announcing a Layer 2 address, and read the pods' memory.
import { join } from "node:path"
import { arpingReplies } from "../failover.ts"
import { run } from "../netns.ts"
import { parseFrrBfdPeers, parseFrrNeighbors } from "../routers/index.ts"
import { cgroupMemory } from "./host-state.ts"
import {
  applyWithWebhook,
  clusterConfigYaml,
  deleteConfig,
  helmRelease,
  installKustomize,
  metallbNamespace,
  pods,
  uninstallHelm,
  uninstallKustomize,
} from "./metallb.ts"
import type { SharedCluster, SharedNode } from "./shared.ts"

const helmInstalled = (cluster: SharedCluster): boolean =>
  cluster.kubectl(["get", "secrets", "-n", metallbNamespace, "-l", `owner=helm,name=${helmRelease}`, "-o", "name", "--ignore-not-found"]).trim() !== ""

/** Uninstalls metallb-ts however it was installed, and its CRDs (Helm keeps them), so an install starts clean. */
export const removeMetallb = async (cluster: SharedCluster): Promise<void> => {
  cluster.kubectl(["delete", "services", "-n", "default", "-l", "mlbt-test", "--ignore-not-found"])
  const crdsPresent = cluster.kubectl(["get", "crd", "bgppeers.metallb.io", "-o", "name", "--ignore-not-found"]).trim() !== ""
  if (crdsPresent) deleteConfig(cluster.kubectl)
  if (helmInstalled(cluster)) uninstallHelm(cluster.kubeconfig)
  uninstallKustomize(cluster.kubectl)
  const crds = cluster.kubectl(["get", "crd", "-o", "name"]).split("\n").filter((n) => n.endsWith(".metallb.io"))
  if (crds.length > 0) cluster.kubectl(["delete", ...crds, "--wait=true"])
}

/** metallb-ts installed from manifests/ (kustomize) with the tests' configuration applied. */
export const ensureMetallb = async (cluster: SharedCluster): Promise<void> => {
  const installed = cluster.kubectl(["get", "deployment/controller", "daemonset/speaker", "-n", metallbNamespace, "-o", "name", "--ignore-not-found"]).trim().split("\n").length === 2
  if (!installed || helmInstalled(cluster)) {
    await removeMetallb(cluster)
    await installKustomize(cluster.kubectl, cluster.kubeletTail)
  }
  await applyWithWebhook(cluster.kubectl, clusterConfigYaml(cluster.plan))
}

/** The node whose MAC answers ARP for `address` at the client (a Layer 2 announcer), if exactly one does. */
export const announcerOf = async (cluster: SharedCluster, address: string): Promise<SharedNode | undefined> => {
  const macs = [...new Set(await arpingReplies(cluster.client, address))]
  if (macs.length !== 1) return undefined
  return cluster.nodes.find((n) => n.mac === macs[0])
}

/** The ServiceL2Status objects' nodes for a Service in the default namespace. */
export const l2StatusNodes = (cluster: SharedCluster, service: string): ReadonlyArray<string> =>
  cluster.kubectl(["get", "servicel2statuses", "-n", metallbNamespace, "-l", `metallb.io/service-name=${service},metallb.io/service-namespace=default`,
    "-o", "jsonpath={.items[*].status.node}"]).split(" ").filter(Boolean).sort()

/** Each metallb-ts pod's memory (its cgroup's usage and RSS; cgroup v1 or v2), for the compass. */
export const metallbMemory = (cluster: SharedCluster): ReadonlyArray<string> =>
  pods(cluster.kubectl, metallbNamespace, "app=metallb").map((pod) => {
    const node = cluster.nodes.find((n) => n.name === pod.spec.nodeName)
    const uid = (JSON.parse(cluster.kubectl(["get", "pod", pod.metadata.name, "-n", metallbNamespace, "-o", "json"])) as { metadata: { uid: string } }).metadata.uid
    // cgroupfs driver: <cgroupRoot>/kubepods/<qos>/pod<uid> (Guaranteed pods sit directly under kubepods).
    const memory = ["burstable", "besteffort", ""].map((qos) => cgroupMemory(join(node?.cgroupRoot ?? "", "kubepods", qos, `pod${uid}`))).find((m) => m !== undefined)
    if (memory === undefined) return `${pod.metadata.name}@${pod.spec.nodeName}: no memory cgroup found`
    return `${pod.metadata.name}@${pod.spec.nodeName}: ${(memory.usageBytes / 2 ** 20).toFixed(1)} MiB in use, RSS ${(memory.rssBytes / 2 ** 20).toFixed(1)} MiB`
  })

const vtysh = async (cluster: SharedCluster, daemon: "bgpd" | "bfdd", command: string) =>
  (await run("vtysh", ["--vty_socket", cluster.frrDir, "-d", daemon, "-c", command])).stdout

/** The FRR router's BGP sessions (neighbor address -> state) and BFD sessions (peer -> state). */
export const routerSessions = async (cluster: SharedCluster): Promise<{ readonly bgp: Readonly<Record<string, string>>; readonly bfd: Readonly<Record<string, string>> }> => ({
  bgp: Object.fromEntries(parseFrrNeighbors(await vtysh(cluster, "bgpd", "show bgp neighbors json")).map((n) => [n.address, n.state])),
  bfd: Object.fromEntries(parseFrrBfdPeers(await vtysh(cluster, "bfdd", "show bfd peers json")).map((s) => [s.peer, s.state])),
})

/** The next hops of the router's kernel route to `address` (several: ECMP), sorted; none when it has no route. */
export const routerNextHops = async (cluster: SharedCluster, address: string): Promise<ReadonlyArray<string>> => {
  const { stdout } = await cluster.router.run("ip", ["-j", "route", "show", `${address}/32`])
  const routes = JSON.parse(stdout || "[]") as Array<{ gateway?: string; nexthops?: Array<{ gateway?: string }> }>
  return routes.flatMap((r) => (r.nexthops ?? [r]).flatMap((h) => (h.gateway === undefined ? [] : [h.gateway]))).sort()
}
