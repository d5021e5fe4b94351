// `npm run cluster -- up|status|down`: a real 3-node Kubernetes cluster on this machine (containerd,
// kubelet and kube-proxy per node namespace; spec/support/cluster/) with metallb-ts installed from
// manifests/ (kustomize) and two demo Services, one Layer 2 dual-stack and one BGP (through the FRR
// router), left running in a background process; prints the kubeconfig and how to curl them from the
// client namespace. `down` stops it and removes everything it made. The e2e tests use the same
// background process (`serve <slot> --owner <vitest pid>`), one per test run (spec/support/cluster/shared.ts).
import { rmSync } from "node:fs"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { buildImage } from "../../shell/image/image.ts"
import { kubeBinDir } from "./apiserver.ts"
import { isAlive } from "./netns.ts"
import { startCluster } from "./cluster/cluster.ts"
import { applyWithWebhook, clusterConfigYaml, installKustomize, lbServiceYaml, repoRoot, waitIngress, waitRollout, webDeploymentYaml } from "./cluster/metallb.ts"
import { spawnServe, stopSlot, waitReady } from "./cluster/slot.ts"
import { type ClusterState, logPath, readState, readyState, statePath, writeState } from "./cluster/state.ts"

const cliSlot = "cli"

const describe = (state: ClusterState): string => {
  const kubectl = `${join(kubeBinDir(), "kubectl")} --kubeconfig ${state.kubeconfig}`
  const client = state.clientNetns ?? "<client>"
  const [l2v4 = "", l2v6 = ""] = state.services?.["demo-l2"] ?? []
  const [bgp = ""] = state.services?.["demo-bgp"] ?? []
  return [
    `metallb-ts on a real 3-node cluster (pid ${state.pid}), API server ${state.apiServer}`,
    "",
    `kubeconfig (cluster-admin): ${state.kubeconfig}`,
    `  ${kubectl} get nodes -o wide`,
    `  ${kubectl} -n metallb-system get pods -o wide`,
    `  ${kubectl} get services,ipaddresspools -A`,
    "",
    "namespaces (ip netns exec <name> ...):",
    `  client   ${client}`,
    `  router   ${state.routerNetns}`,
    ...(state.nodes ?? []).map((n) => `  ${n.name.padEnd(8)} ${n.netns} (${n.ip4}, ${n.ip6}; logs ${Object.values(n.logs).join(", ")})`),
    "",
    "from the client, outside the cluster:",
    `  ip netns exec ${client} curl -s http://${l2v4}/            # demo-l2 over ARP`,
    `  ip netns exec ${client} curl -s -g http://[${l2v6}]/   # demo-l2 over NDP`,
    `  ip netns exec ${client} curl -s http://${bgp}/              # demo-bgp through the router (ECMP)`,
    `  vtysh --vty_socket ${state.frrDir} -d bgpd -c "show bgp ipv4 unicast"     # the router's view`,
    "",
    `log: ${logPath(state.slot)}`,
    "stop and remove everything: npm run cluster -- down",
  ].join("\n")
}

/** The background process: brings the cluster up, holds it until SIGTERM/SIGINT or until `owner` exits. */
const serve = async (slot: string, owner: number | undefined, demo: boolean): Promise<void> => {
  const base: ClusterState = { pid: process.pid, slot, phase: "starting", ...(owner === undefined ? {} : { owner }) }
  writeState(base)
  const log = (line: string) => console.log(`[cluster] ${line}`)
  const image = buildImage({ repoRoot })
  log(`image ${image.reference.full} at ${image.path} (${(image.elapsedMs / 1000).toFixed(1)} s)`)
  const cluster = await startCluster({ images: [image.path], log })
  let closing: Promise<void> | undefined
  const stop = () => {
    closing ??= cluster.close().finally(() => {
      rmSync(statePath(slot), { force: true })
      process.exit(0)
    })
  }
  process.on("SIGTERM", stop)
  process.on("SIGINT", stop)
  if (owner !== undefined) {
    // A test run that died (killed, crashed) takes its cluster with it.
    setInterval(() => {
      if (!isAlive(owner)) stop()
    }, 1_000).unref()
  }
  let state = readyState(base, cluster, image.path)
  if (demo) {
    const kubeletTail = (name: string) => cluster.nodes.find((n) => n.name === name)?.runtime.kubelet().tail(20) ?? ""
    try {
      await installKustomize(cluster.kubectl, kubeletTail)
      log("metallb-ts installed (kubectl apply --server-side -k manifests/)")
      await applyWithWebhook(cluster.kubectl, clusterConfigYaml(cluster.plan))
      cluster.kubectl(["apply", "-f", "-"], webDeploymentYaml("web", { replicas: 2 }))
      await waitRollout(cluster.kubectl, "deployment/web", "default", "app=web", kubeletTail)
      cluster.kubectl(["apply", "-f", "-"], lbServiceYaml({ name: "demo-l2", app: "web", pool: "l2", families: "dual" }))
      cluster.kubectl(["apply", "-f", "-"], lbServiceYaml({ name: "demo-bgp", app: "web", pool: "bgp", families: "IPv4" }))
      state = { ...state, services: { "demo-l2": await waitIngress(cluster.kubectl, "demo-l2", 2), "demo-bgp": await waitIngress(cluster.kubectl, "demo-bgp", 1) } }
    } catch (error) {
      await cluster.close()
      throw error
    }
  }
  writeState(state)
  log("ready")
  await new Promise(() => undefined)
}

const up = async (): Promise<number> => {
  const existing = readState(cliSlot)
  if (existing !== undefined && isAlive(existing.pid)) {
    console.log(existing.phase === "ready" ? `already running\n\n${describe(existing)}` : `a cluster is ${existing.phase} (pid ${existing.pid}); see ${logPath(cliSlot)}, or: npm run cluster -- down`)
    return existing.phase === "ready" ? 0 : 1
  }
  const pid = spawnServe(cliSlot, ["--demo"])
  console.log(`starting the cluster (pid ${pid}, log ${logPath(cliSlot)}) ...`)
  try {
    const state = await waitReady(cliSlot, pid, 600_000)
    console.log(`\n${describe(state)}`)
    return 0
  } catch (error) {
    console.error(String(error))
    await stopSlot(cliSlot)
    return 1
  }
}

const command = process.argv[2] ?? "up"
switch (command) {
  case "up":
    process.exitCode = await up()
    break
  case "down": {
    const state = await stopSlot(cliSlot)
    console.log(state === undefined ? "no cluster was running (stale leftovers swept)" : `cluster ${state.pid} stopped and removed`)
    break
  }
  case "status": {
    const state = readState(cliSlot)
    if (state === undefined || !isAlive(state.pid)) {
      console.log("no cluster running")
      process.exitCode = 1
    } else {
      console.log(state.phase === "ready" ? describe(state) : `cluster ${state.pid} is ${state.phase}; log ${logPath(cliSlot)}`)
    }
    break
  }
  case "serve": {
    const { values, positionals } = parseArgs({ args: process.argv.slice(3), options: { owner: { type: "string" }, demo: { type: "boolean" } }, allowPositionals: true })
    const slot = positionals[0] ?? cliSlot
    await serve(slot, values.owner === undefined ? undefined : Number(values.owner), values.demo === true).catch((error: unknown) => {
      console.error(`[cluster] failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`)
      writeState({ pid: process.pid, slot, phase: "failed", error: String(error) })
      process.exit(1)
    })
    break
  }
  default:
    console.error("usage: npm run cluster [-- up|status|down]")
    process.exitCode = 2
}
