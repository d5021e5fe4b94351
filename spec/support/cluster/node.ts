// One node: a network namespace (made by the cluster, on the nodes' segment) running its own
// containerd (own root, state, socket and runc root; pod network namespaces under its state dir),
// a kubelet (own root dir, cgroup root `/<cluster>-n<i>` on cgroup v1 or v2, cgroupfs driver) and a kube-proxy
// (iptables or nftables mode). Pods get addresses from the node's pod /26 through the CNI bridge plugin.
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { type ApiServer, kubeBinDir } from "../apiserver.ts"
import { type Host, run, sleep } from "../netns.ts"
import { type Daemon, startDaemon } from "./daemon.ts"
import { createCgroupRoot } from "./host-state.ts"
import { pauseImage } from "./images.ts"
import { issueClientCertificate, writeKubeconfig } from "./pki.ts"
import { type ClusterPlan, nodeName } from "./plan.ts"

export type ProxyMode = "iptables" | "nftables"

export interface NodeRuntime {
  readonly index: number
  readonly name: string
  readonly host: Host
  readonly cgroupRoot: string
  readonly proxyMode: ProxyMode
  /** containerd's socket (`ctr -a <socket> -n k8s.io ...`). */
  readonly socket: string
  readonly daemons: () => ReadonlyArray<Daemon>
  readonly kubelet: () => Daemon
  /** Runs `ctr` against this node's containerd. */
  readonly ctr: (args: ReadonlyArray<string>, timeoutMs?: number) => Promise<string>
  /** Kills kube-proxy, the kubelet, every container and containerd (SIGKILL: the state is thrown away). */
  readonly stop: () => Promise<void>
}

export interface NodeContext {
  readonly plan: ClusterPlan
  readonly api: ApiServer
  /** This node's directory (containerd root, kubelet root, configs, logs). */
  readonly dir: string
  /** This node's runtime state directory (containerd state and socket, runc root, pod netns). */
  readonly stateDir: string
  readonly cgroupRoot: string
  readonly proxyMode: ProxyMode
  readonly images: ReadonlyArray<string>
}

const containerdConfig = (ctx: NodeContext, socket: string): string => `version = 2
root = "${join(ctx.dir, "containerd")}"
state = "${join(ctx.stateDir, "containerd")}"
[grpc]
  address = "${socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pauseImage}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # The pods' network namespaces under the state dir, not /run/netns: removed with the node.
  netns_mounts_under_state_dir = true
  # Without CAP_SYS_RESOURCE in the bounding set (this machine kind), a negative oom_score_adj (the
  # kubelet asks -998 for sandboxes) makes runc init fail ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${join(ctx.stateDir, "runc")}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${join(ctx.dir, "cni")}"
[plugins."io.containerd.internal.v1.opt"]
  path = "${join(ctx.dir, "containerd-opt")}"
`

const cniConfig = (ctx: NodeContext, index: number) => ({
  cniVersion: "1.0.0",
  name: "mlbt-pods",
  plugins: [
    {
      type: "bridge",
      bridge: "cni0",
      isGateway: true,
      ipMasq: false,
      hairpinMode: true,
      ipam: {
        type: "host-local",
        ranges: [[{ subnet: ctx.plan.podCidr4(index) }], [{ subnet: ctx.plan.podCidr6(index) }]],
        routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }],
        dataDir: join(ctx.dir, "cni-ipam"),
      },
    },
    { type: "portmap", capabilities: { portMappings: true } },
  ],
})

const kubeletConfig = (ctx: NodeContext, index: number, socket: string) => ({
  apiVersion: "kubelet.config.k8s.io/v1beta1",
  kind: "KubeletConfiguration",
  // This machine kind mounts cgroup v1, which kubelet 1.35 refuses unless told (a v2 machine ignores
  // it). Either way the cgroupfs driver, under the node's own root (host-state.ts makes it, v1 or v2).
  failCgroupV1: false,
  cgroupDriver: "cgroupfs",
  cgroupRoot: `/${ctx.cgroupRoot}`,
  containerRuntimeEndpoint: `unix://${socket}`,
  address: ctx.plan.node4(index),
  readOnlyPort: 0,
  healthzBindAddress: "127.0.0.1",
  authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: join(ctx.api.pkiDir, "ca.crt") } },
  authorization: { mode: "AlwaysAllow" },
  clusterDomain: "cluster.local",
  // No DNS in this cluster; the pods get an empty resolv.conf, not the machine's.
  resolvConf: "",
  podLogsDir: join(ctx.dir, "pod-logs"),
  failSwapOn: false,
  maxPods: 30,
  serializeImagePulls: false,
  // The machine's disk and memory are shared by three kubelets and everything else: evict late.
  evictionHard: { "memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%" },
  imageGCHighThresholdPercent: 100,
  imageGCLowThresholdPercent: 99,
  nodeStatusReportFrequency: "10s",
})

const kubeProxyConfig = (ctx: NodeContext, index: number, kubeconfig: string) => ({
  apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
  kind: "KubeProxyConfiguration",
  mode: ctx.proxyMode,
  clientConnection: { kubeconfig },
  hostnameOverride: nodeName(index),
  clusterCIDR: `${ctx.plan.clusterCidr4},${ctx.plan.clusterCidr6}`,
  healthzBindAddress: "127.0.0.1:10256",
  metricsBindAddress: "127.0.0.1:10249",
  // 0: leave the conntrack table size alone (machine-wide before Linux 6.x namespacing).
  conntrack: { maxPerCore: 0, min: 0 },
})

/** Starts containerd, imports the images, starts the kubelet and kube-proxy. Registration is awaited by the caller. */
export const startNodeRuntime = async (ctx: NodeContext, host: Host, index: number): Promise<NodeRuntime> => {
  const name = nodeName(index)
  const logDir = join(ctx.dir, "logs")
  for (const sub of ["cni", "kubelet", "pod-logs", "containerd", "logs"]) mkdirSync(join(ctx.dir, sub), { recursive: true })
  mkdirSync(ctx.stateDir, { recursive: true })
  const socket = join(ctx.stateDir, "containerd.sock")
  const daemons: Array<Daemon> = []
  const ctr = async (args: ReadonlyArray<string>, timeoutMs = 60_000) =>
    (await run("ctr", ["-a", socket, "-n", "k8s.io", ...args], { timeoutMs })).stdout
  const stop = async () => {
    const [containerd, ...rest] = daemons
    await Promise.allSettled(rest.map((d) => d.stop({ signal: "SIGKILL" })))
    if (containerd?.alive() === true) {
      const tasks = await ctr(["tasks", "ls", "-q"], 10_000).catch(() => "")
      await Promise.allSettled(tasks.split("\n").filter(Boolean).map((t) => ctr(["tasks", "kill", "-a", "-s", "SIGKILL", t], 10_000)))
    }
    await containerd?.stop({ signal: "SIGKILL" })
    // The shims (in this namespace, their own sessions) outlive containerd: end them by their socket.
    for (const pid of shimPids(socket)) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // gone
      }
    }
  }
  try {
    const configPath = join(ctx.dir, "containerd.toml")
    writeFileSync(configPath, containerdConfig(ctx, socket))
    writeFileSync(join(ctx.dir, "cni", "10-mlbt.conflist"), JSON.stringify(cniConfig(ctx, index), null, 2))
    const containerd = startDaemon("containerd", ["containerd", "--config", configPath], { logDir, netnsPath: host.netnsPath })
    daemons.push(containerd)
    for (let i = 0; !existsSync(socket); i++) {
      if (!containerd.alive() || i > 300) throw new Error(`${name}: containerd did not open ${socket}:\n${containerd.tail()}`)
      await sleep(100)
    }
    for (const image of ctx.images) await ctr(["images", "import", image], 300_000)

    const nodeCert = issueClientCertificate(ctx.api.pkiDir, `node-${index}`, `/O=system:nodes/CN=system:node:${name}`)
    const server = `https://${ctx.plan.api4}:${new URL(ctx.api.url).port}`
    const ca = join(ctx.api.pkiDir, "ca.crt")
    const kubeletKubeconfig = writeKubeconfig(join(ctx.dir, "kubelet.kubeconfig"), server, ca, nodeCert)
    const kubeletConfigPath = join(ctx.dir, "kubelet.json")
    writeFileSync(kubeletConfigPath, JSON.stringify(kubeletConfig(ctx, index, socket), null, 2))
    createCgroupRoot(ctx.cgroupRoot)
    await oneKubeletAtATime(async () => {
      const startedMs = Date.now()
      const kubelet = startDaemon("kubelet", [join(kubeBinDir(), "kubelet"),
        `--config=${kubeletConfigPath}`, `--kubeconfig=${kubeletKubeconfig}`,
        `--root-dir=${join(ctx.dir, "kubelet")}`, `--cert-dir=${join(ctx.dir, "kubelet", "pki")}`,
        `--hostname-override=${name}`, `--node-ip=${ctx.plan.node4(index)},${ctx.plan.node6(index)}`, "--v=1",
      ], { logDir, netnsPath: host.netnsPath })
      daemons.push(kubelet)
      await deviceManagerStarted(kubelet, startedMs)
    })

    const proxyCert = issueClientCertificate(ctx.api.pkiDir, `kube-proxy-${index}`, "/CN=system:kube-proxy")
    const proxyKubeconfig = writeKubeconfig(join(ctx.dir, "kube-proxy.kubeconfig"), server, ca, proxyCert)
    const proxyConfigPath = join(ctx.dir, "kube-proxy.json")
    writeFileSync(proxyConfigPath, JSON.stringify(kubeProxyConfig(ctx, index, proxyKubeconfig), null, 2))
    daemons.push(startDaemon("kube-proxy", [join(kubeBinDir(), "kube-proxy"), `--config=${proxyConfigPath}`, "--v=1"],
      { logDir, netnsPath: host.netnsPath }))
  } catch (error) {
    await stop()
    throw error
  }
  return {
    index,
    name,
    host,
    cgroupRoot: ctx.cgroupRoot,
    proxyMode: ctx.proxyMode,
    socket,
    daemons: () => daemons,
    kubelet: () => daemons[1] as Daemon,
    ctr,
    stop,
  }
}

// The kubelet's device plugin socket is /var/lib/kubelet/device-plugins/kubelet.sock whatever its
// --root-dir, and the kubelets share the mount namespace: each removes the socket it finds and binds a
// new one, so two starting at once fail ("bind: address already in use"). They start one at a time.
const devicePluginSocket = "/var/lib/kubelet/device-plugins/kubelet.sock"
let kubeletQueue: Promise<unknown> = Promise.resolve()

const oneKubeletAtATime = (start: () => Promise<void>): Promise<void> => {
  const next = kubeletQueue.then(start)
  kubeletQueue = next.catch(() => undefined)
  return next
}

/** Until the kubelet bound its device plugin socket (created after `sinceMs`), or died, or 60 s passed. */
const deviceManagerStarted = async (kubelet: Daemon, sinceMs: number): Promise<void> => {
  for (let i = 0; i < 600; i++) {
    if (!kubelet.alive()) throw new Error(`the kubelet exited at start (${kubelet.logPath}):\n${kubelet.tail(30)}`)
    try {
      if (statSync(devicePluginSocket).mtimeMs >= sinceMs) return
    } catch {
      // not there yet
    }
    await sleep(100)
  }
  throw new Error(`the kubelet did not start its device manager (${devicePluginSocket}) in 60 s (${kubelet.logPath}):\n${kubelet.tail(30)}`)
}

/** containerd-shim processes started by the containerd listening on `socket`. */
export const shimPids = (socket: string): ReadonlyArray<number> => {
  try {
    const out = execFileSync("pgrep", ["-f", `containerd-shim.*-address ${socket}`], { encoding: "utf8" })
    return out.split("\n").filter(Boolean).map(Number)
  } catch {
    return []
  }
}
