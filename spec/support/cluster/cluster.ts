// A real 3-node Kubernetes cluster on this machine (see README "Try it on a real cluster"): the
// control plane in the root namespace on the root link's address (control-plane.ts), three node
// namespaces with containerd, kubelet and kube-proxy (node.ts) on one bridge segment, pod routes
// between the nodes and from the root namespace, a router namespace running FRR (bgpd + bfdd, ECMP
// into its kernel) linked to a client namespace, which also sits on the nodes' segment. Everything it
// makes is named after the owning process (namespaces `mlbt-<pid>-…`, directories and cgroups
// `mlbt-cluster-<pid>…`), removed by `close()`, and swept by `sweepStaleClusters()` when that
// process died. Machine-wide settings the kubelet changes are written back (host-state.ts).
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { type ApiServer, apiServerSkipReason, kubeBinDir } from "../apiserver.ts"
import { leaseRootSubnet, startPeerRouter } from "../lab.ts"
import { type Host, isAlive, Lab, rootSkipReason, run, type Segment, sleep, sweepStaleLabs } from "../netns.ts"
import type { FrrRouter } from "../routers/index.ts"
import { type ControlPlane, startControlPlane } from "./control-plane.ts"
import { cgroupRootsNamed, recordKernelTunables, removeCgroupRoot, removeTree, restoreKernelTunables } from "./host-state.ts"
import { buildTestImages } from "./images.ts"
import { type NodeRuntime, type ProxyMode, shimPids, startNodeRuntime } from "./node.ts"
import { type ClusterPlan, clusterPlan, nodeCount, nodeName } from "./plan.ts"

export interface ClusterNode {
  readonly index: number
  readonly name: string
  readonly host: Host
  readonly ip4: string
  readonly ip6: string
  readonly mac: string
  readonly proxyMode: ProxyMode
  /** The veth port on the segment's bridge: down is a pulled cable. */
  readonly port: string
  readonly runtime: NodeRuntime
}

export interface Cluster extends AsyncDisposable {
  readonly plan: ClusterPlan
  readonly dir: string
  readonly api: ApiServer
  readonly kubeconfigPath: string
  readonly kubectl: (args: ReadonlyArray<string>, input?: string) => string
  readonly nodes: ReadonlyArray<ClusterNode>
  readonly segment: Segment
  readonly client: Host
  readonly router: FrrRouter
  readonly close: () => Promise<void>
}

export interface ClusterOptions {
  /** kube-proxy's mode per node index; default iptables on node-1 and node-2, nftables on node-3, so both are exercised. */
  readonly proxyMode?: (index: number) => ProxyMode
  /** More image tarballs (OCI layout) for every node's containerd: the metallb-ts image (the web pods run its Node too). */
  readonly images?: ReadonlyArray<string>
  readonly log?: (line: string) => void
  /** How long each node may take to register and become Ready. */
  readonly nodeReadyTimeoutMs?: number
}

const varDir = "/var/tmp"
const runDir = "/run"
const clusterPrefix = "mlbt-cluster-"

const clusterName = (pid: number) => `${clusterPrefix}${pid}`
const controlPlaneFile = "control-plane.json"

const requiredBinaries = ["kube-apiserver", "kubectl", "kubelet", "kube-proxy", "kube-controller-manager", "kube-scheduler"]
const requiredCommands = ["containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "nft", "conntrack", "gcc", "go", "nsenter", "vtysh"]

const hasCommand = (name: string): Promise<boolean> => run("sh", ["-c", `command -v ${name}`]).then(() => true, () => false)

/** Why the cluster cannot start on this machine (each missing piece named), or undefined. */
export const clusterSkipReason = async (): Promise<string | undefined> => {
  const reasons = [rootSkipReason(), apiServerSkipReason()].filter((r) => r !== undefined)
  const missing = requiredBinaries.filter((b) => !existsIn(kubeBinDir(), b))
  if (missing.length > 0) reasons.push(`no ${missing.join(", ")} in ${kubeBinDir()}: run \`bash .ci/kube-binaries\``)
  const commands = (await Promise.all(requiredCommands.map(async (c) => ((await hasCommand(c)) ? undefined : c)))).filter((c) => c !== undefined)
  if (commands.length > 0) reasons.push(`no ${commands.join(", ")} on PATH: run \`bash .ci/setup\``)
  if (!existsIn("/usr/lib/cni", "bridge")) reasons.push("no CNI plugins in /usr/lib/cni: apt-get install containernetworking-plugins")
  return reasons.length === 0 ? undefined : reasons.join("; ")
}

const existsIn = (dir: string, name: string) => {
  try {
    return readdirSync(dir).includes(name)
  } catch {
    return false
  }
}

export const defaultProxyMode = (index: number): ProxyMode => (index === nodeCount ? "nftables" : "iptables")

const sysctl = (host: Host, ...settings: ReadonlyArray<string>) => host.run("sysctl", ["-qw", ...settings])

export const startCluster = async (options: ClusterOptions = {}): Promise<Cluster> => {
  const log = options.log ?? (() => undefined)
  const reason = await clusterSkipReason()
  if (reason !== undefined) throw new Error(`startCluster: ${reason}`)
  await sweepStaleClusters()
  const started = performance.now()
  const since = () => `${((performance.now() - started) / 1000).toFixed(1)} s`
  const name = clusterName(process.pid)
  const dir = join(varDir, name)
  const stateDir = join(runDir, name)
  mkdirSync(dir, { recursive: true })
  const lab = await Lab.create("cluster")
  const subnet = leaseRootSubnet()
  const plan = clusterPlan(subnet.third)
  let controlPlane: ControlPlane | undefined
  const runtimes: Array<NodeRuntime> = []
  let router: FrrRouter | undefined
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      const stepStarted = performance.now()
      const step = async (what: string, body: () => Promise<unknown>) => {
        const at = performance.now()
        await body().catch((error: unknown) => log(`close: ${what} failed: ${String(error)}`))
        log(`close: ${what} in ${((performance.now() - at) / 1000).toFixed(1)} s`)
      }
      await step("node runtimes stopped", () => Promise.allSettled(runtimes.map((r) => r.stop())))
      await step("router stopped", async () => router?.stop())
      await step("node cgroups removed", () => Promise.allSettled(runtimes.map((r) => removeCgroupRoot(r.cgroupRoot))))
      await step("namespaces removed", () => lab.close())
      await step("control plane stopped", async () => controlPlane?.stop())
      subnet.release()
      await step("state and directories removed", async () => {
        await removeTree(stateDir)
        await removeTree(dir)
      })
      if (liveClusters().length === 0) {
        const restored = restoreKernelTunables()
        if (restored.length > 0) log(`kernel tunables restored: ${restored.join(", ")}`)
      }
      log(`closed in ${((performance.now() - stepStarted) / 1000).toFixed(1)} s`)
    })()
    return closing
  }
  try {
    recordKernelTunables()
    const imagesBuilt = buildTestImages(join(dir, "images"))
    imagesBuilt.catch(() => undefined)
    const segment = await lab.segment("lan")
    await lab.attachRoot(segment, { addresses: [`${plan.api4}/24`] })
    const controlPlaneStarted = startControlPlane(plan, dir)
    controlPlaneStarted.catch(() => undefined)

    const router_ = await lab.host("router")
    const client = await lab.host("client")
    await lab.attach(router_, segment, { name: "eth0", addresses: [`${plan.router4}/24`, `${plan.router6}/64`] })
    await lab.attach(client, segment, { name: "eth0", addresses: [`${plan.client4}/24`, `${plan.client6}/64`] })
    await lab.link(router_, client, { aName: "eth1", bName: "eth1", aAddresses: [`${plan.wanRouter4}/24`], bAddresses: [`${plan.wanClient4}/24`] })
    await sysctl(router_, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1", "net.ipv4.fib_multipath_hash_policy=1")
    await client.run("ip", ["route", "add", plan.bgpRoute4, "via", plan.wanRouter4])

    const hosts: Array<{ index: number; host: Host; port: string }> = []
    for (let index = 1; index <= nodeCount; index++) {
      const host = await lab.host(nodeName(index))
      await lab.attach(host, segment, { name: "eth0", addresses: [`${plan.node4(index)}/24`, `${plan.node6(index)}/64`] })
      const port = await portOf(segment, host)
      await sysctl(host, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1", "net.ipv4.conf.all.route_localnet=1",
        // IPv6 forwarding turns router advertisements off; the default route below is static anyway.
        "net.ipv6.conf.all.keep_addr_on_down=1")
      await host.run("ip", ["route", "add", "default", "via", plan.router4])
      await host.run("ip", ["-6", "route", "add", "default", "via", plan.router6])
      hosts.push({ index, host, port })
    }
    // Pod routes: every node reaches the others' pods; the root namespace (kube-apiserver calling webhooks) too.
    for (const { index, host } of hosts) {
      for (const other of hosts.filter((h) => h.index !== index)) {
        await host.run("ip", ["route", "add", plan.podCidr4(other.index), "via", plan.node4(other.index)])
        await host.run("ip", ["-6", "route", "add", plan.podCidr6(other.index), "via", plan.node6(other.index)])
      }
      await run("ip", ["route", "add", plan.podCidr4(index), "via", plan.node4(index)])
    }
    await run("modprobe", ["br_netfilter"]).catch(() => undefined)
    for (const { host } of hosts) await sysctl(host, "net.bridge.bridge-nf-call-iptables=1", "net.bridge.bridge-nf-call-ip6tables=1")
    log(`network up (${plan.api4}/24, pods ${plan.clusterCidr4}) in ${since()}`)

    router = await startPeerRouter(router_, { routerId: plan.router4, asn: plan.routerAsn, nodeAsn: plan.nodeAsn, nodes: hosts.map(({ index }) => plan.node4(index)) })
    log(`FRR router up in ${since()}`)

    controlPlane = await controlPlaneStarted
    const api = controlPlane.api
    // For the stale sweep, should this process die without closing: they live outside the namespaces.
    writeFileSync(join(dir, controlPlaneFile), JSON.stringify({
      pids: [...api.processIds(), ...controlPlane.daemons.map((d) => d.pid)],
      apiServerDir: api.pkiDir,
    }))
    log(`control plane up (${api.url}) in ${since()}`)
    const images = [...(await imagesBuilt), ...(options.images ?? [])]
    log(`images built in ${since()}`)

    await Promise.all(hosts.map(async ({ index, host }) => {
      const cgroupRoot = `${name}-n${index}`
      runtimes.push(await startNodeRuntime({
        plan, api, dir: join(dir, `n${index}`), stateDir: join(stateDir, `n${index}`), cgroupRoot,
        proxyMode: (options.proxyMode ?? defaultProxyMode)(index), images,
      }, host, index))
    }))
    log(`containerd, kubelet and kube-proxy started on ${nodeCount} nodes in ${since()}`)
    await waitNodesReady(api, runtimes, options.nodeReadyTimeoutMs ?? 120_000)
    log(`${nodeCount} nodes Ready in ${since()}`)

    const nodes: Array<ClusterNode> = []
    for (const { index, host, port } of hosts) {
      const runtime = runtimes.find((r) => r.index === index)
      if (runtime === undefined) throw new Error(`no runtime for ${nodeName(index)}`)
      nodes.push({ index, name: nodeName(index), host, ip4: plan.node4(index), ip6: plan.node6(index), mac: await host.mac("eth0"), proxyMode: runtime.proxyMode, port, runtime })
    }
    const routerInstance = router
    return {
      plan,
      dir,
      api,
      kubeconfigPath: api.kubeConfigPath,
      kubectl: (args, input) => api.kubectl(args, input),
      nodes,
      segment,
      client,
      router: routerInstance,
      close,
      [Symbol.asyncDispose]: close,
    }
  } catch (error) {
    await close()
    throw error
  }
}

/** The bridge port (in the segment's namespace) whose peer is `host`'s eth0. */
const portOf = async (segment: Segment, host: Host): Promise<string> => {
  const { stdout } = await host.run("ip", ["-j", "link", "show", "eth0"])
  const [link] = JSON.parse(stdout) as Array<{ link_index?: number }>
  const { stdout: ports } = await segment.host.run("ip", ["-j", "link", "show", "master", segment.bridge])
  const port = (JSON.parse(ports) as Array<{ ifindex: number; ifname: string }>).find((p) => p.ifindex === link?.link_index)
  if (port === undefined) throw new Error(`no bridge port for ${host.netns}'s eth0`)
  return port.ifname
}

interface NodeList {
  readonly items: ReadonlyArray<{ metadata: { name: string }; status?: { conditions?: ReadonlyArray<{ type: string; status: string; message?: string }> } }>
}

/** Waits until every node is registered and Ready; a kubelet that died or never got there is named with its log. */
const waitNodesReady = async (api: ApiServer, runtimes: ReadonlyArray<NodeRuntime>, timeoutMs: number): Promise<void> => {
  const deadline = performance.now() + timeoutMs
  let notReady: ReadonlyArray<NodeRuntime> = runtimes
  let states = new Map<string, string>()
  while (performance.now() < deadline) {
    const dead = runtimes.flatMap((r) => r.daemons().filter((d) => !d.alive()).map((d) => ({ r, d })))
    if (dead.length > 0) {
      throw new Error(dead.map(({ r, d }) => `${r.name}: ${d.name} exited (${d.logPath}):\n${d.tail(30)}`).join("\n"))
    }
    const list = JSON.parse(api.kubectl(["get", "nodes", "-o", "json"])) as NodeList
    states = new Map(list.items.map((n) => {
      const ready = n.status?.conditions?.find((c) => c.type === "Ready")
      return [n.metadata.name, ready === undefined ? "no Ready condition" : `Ready=${ready.status} (${ready.message ?? ""})`]
    }))
    notReady = runtimes.filter((r) => states.get(r.name)?.startsWith("Ready=True") !== true)
    if (notReady.length === 0) return
    await sleep(250)
  }
  throw new Error(notReady.map((r) => {
    const state = states.get(r.name) ?? "never registered"
    return `${r.name}: the kubelet did not make the node Ready in ${timeoutMs} ms (${state}); kubelet log ${r.kubelet().logPath}:\n${r.kubelet().tail(30)}`
  }).join("\n"))
}

/** Pids of processes that own a cluster directory right now. */
const liveClusters = (): ReadonlyArray<number> =>
  readdirSync(varDir).flatMap((entry) => {
    const match = /^mlbt-cluster-(\d+)$/.exec(entry)
    return match !== null && isAlive(Number(match[1])) ? [Number(match[1])] : []
  })

/**
 * Removes what clusters of dead processes left: node processes and containers (by cgroup and by
 * containerd socket), mounts, cgroups, directories, namespaces; then the kernel tunables when no
 * cluster is alive.
 */
export const sweepStaleClusters = async (): Promise<void> => {
  const stale = new Set<string>()
  for (const base of [varDir, runDir]) {
    for (const entry of readdirSync(base)) {
      const match = /^mlbt-cluster-(\d+)$/.exec(entry)
      if (match !== null && !isAlive(Number(match[1]))) stale.add(entry)
      // A background deletion of a dead cluster's tree, perhaps cut short: once more, in the background too.
      const removing = /^mlbt-cluster-\d+\.removing-(\d+)-\d+$/.exec(entry)
      if (removing !== null && !isAlive(Number(removing[1]))) spawn("rm", ["-rf", join(base, entry)], { detached: true, stdio: "ignore" }).unref()
    }
  }
  for (const cgroup of cgroupRootsNamed(clusterPrefix)) {
    const match = /^mlbt-cluster-(\d+)-n\d+$/.exec(cgroup)
    if (match !== null && !isAlive(Number(match[1]))) stale.add(`${clusterPrefix}${match[1]}`)
  }
  // Their namespaces (and with them kubelet, containerd, kube-proxy, the shims) go with the labs of dead processes.
  await sweepStaleLabs()
  for (const name of stale) {
    const stateDir = join(runDir, name)
    const controlPlanePath = join(varDir, name, controlPlaneFile)
    if (existsSync(controlPlanePath)) {
      const recorded = JSON.parse(readFileSync(controlPlanePath, "utf8")) as { pids: ReadonlyArray<number>; apiServerDir: string }
      // Only processes still running with the dead cluster's API server directory in their command line.
      for (const pid of recorded.pids) {
        const cmdline = (() => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, "utf8")
          } catch {
            return ""
          }
        })()
        if (cmdline.includes(recorded.apiServerDir)) process.kill(pid, "SIGKILL")
      }
      rmSync(recorded.apiServerDir, { recursive: true, force: true })
    }
    for (let index = 1; index <= nodeCount; index++) {
      for (const pid of shimPids(join(stateDir, `n${index}`, "containerd.sock"))) {
        try {
          process.kill(pid, "SIGKILL")
        } catch {
          // gone
        }
      }
    }
    for (const cgroup of cgroupRootsNamed(`${name}-n`)) await removeCgroupRoot(cgroup)
    await removeTree(stateDir)
    await removeTree(join(varDir, name))
  }
  if (stale.size > 0 && liveClusters().length === 0) restoreKernelTunables()
}
