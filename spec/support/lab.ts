// The end-to-end lab: a small cluster made of real parts. The testbed's kube-apiserver (with the
// manifests' CRDs and RBAC) listens on an address of the root namespace's veth into the lab's bridge
// segment; N node namespaces, a router namespace (FRR: bgpd + bfdd, routes installed with ECMP) and a
// client namespace sit on that segment. The real `metallb-ts controller` runs in the root namespace
// and one real `metallb-ts speaker` per node namespace, each with its ServiceAccount's token, as in a
// cluster. In each node namespace a tiny HTTP server stands in for kube-proxy and the pods: the pools'
// addresses are routed locally (`local` routes on lo) and arp_ignore/arp_announce keep the kernel
// from answering or advertising them, so only the speaker answers ARP/NDP. Nodes and EndpointSlices
// are created here, as the kubelet and the EndpointSlice controller would. Every namespace, link and
// process has the lab's unique prefix and goes away in `close()`; the root link's subnet is leased
// through a lock file, so labs of concurrent test files never share it. On request a second Layer 2
// segment joins every node (its eth1) and the client (its eth2), with a pool of its own, for failover of
// one interface while the node's other links stay up.
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CoreV1Api, DiscoveryV1Api, type V1Service } from "@kubernetes/client-node"
import { Result } from "effect"
import { parseAllDocuments } from "yaml"
import { decodeFrame, type Frame } from "../../core/l2/frame.ts"
import { type ApiServer, apiServerSkipReason, metricsReaderToken, startApiServer } from "./apiserver.ts"
import { eventually, type Host, type HostProcess, Lab, rootSkipReason, run, type Segment, sleep } from "./netns.ts"
import { type FrrRouter, startFrr } from "./routers/index.ts"

export const repoRoot = new URL("../..", import.meta.url).pathname
export const metallbNamespace = "metallb-system"

/**
 * The Node/V8 flags the speaker DaemonSet sets (NODE_OPTIONS in manifests/base/speaker.yaml): the lab's
 * speakers run with them, so what the lab and bench/speaker measure is what a node runs (issue 17: the
 * young generation's semi-space size alone moves the RSS by tens of MiB).
 */
export const speakerNodeOptions = (): string => {
  const file = join(repoRoot, "manifests/base/speaker.yaml")
  for (const document of parseAllDocuments(readFileSync(file, "utf8"))) {
    const env = document.getIn(["spec", "template", "spec", "containers", 0, "env"])
    const items = (env as { toJSON?: () => unknown } | undefined)?.toJSON?.()
    if (!Array.isArray(items)) continue
    const option = items.find((e: { name?: unknown }) => e.name === "NODE_OPTIONS") as { value?: unknown } | undefined
    if (typeof option?.value === "string") return option.value
  }
  throw new Error(`${file}: the speaker container sets no NODE_OPTIONS (the lab runs its speakers with the DaemonSet's flags)`)
}

/** The lab's fixed addressing (only the root link's subnet varies per lab). */
export const plan = {
  lan4Prefix: 24,
  lan6Prefix: 64,
  router4: "198.51.100.1",
  router6: "2001:db8:100::1",
  client4: "198.51.100.100",
  client6: "2001:db8:100::100",
  node4: (index: number) => `198.51.100.${10 + index}`,
  node6: (index: number) => `2001:db8:100::${(10 + index).toString(16)}`,
  /** The point-to-point link between client and router (the "outside" for BGP). */
  wanRouter4: "203.0.113.1",
  wanClient4: "203.0.113.2",
  wanRouter6: "2001:db8:203::1",
  wanClient6: "2001:db8:203::2",
  /** Layer 2 pool: inside the LAN's subnets, so the client resolves its addresses with ARP/NDP. */
  l2Pool4: "198.51.100.200-198.51.100.215",
  l2Pool6: "2001:db8:100::200-2001:db8:100::20f",
  /** What the nodes route locally for the Layer 2 pool (covers it, and any growth of it in tests). */
  l2Local4: "198.51.100.192/27",
  l2Local6: "2001:db8:100::200/120",
  /** BGP pool: routed to the client through the router only. */
  bgpPool4: "192.0.2.0/28",
  bgpLocal4: "192.0.2.0/24",
  routerAsn: 64512,
  nodeAsn: 64513,
  memberlistPort: 7946,
  /**
   * The second Layer 2 segment (E2eLabOptions.secondSegment): 198.19.0.0/24, which no root link leases
   * (they take 198.19.1-254.0/24), and 2001:db8:201::/64; every node's eth1 and the client's eth2.
   */
  lan2ClientInterface: "eth2",
  lan2Client4: "198.19.0.100",
  lan2Client6: "2001:db8:201::100",
  lan2Node4: (index: number) => `198.19.0.${10 + index}`,
  lan2Node6: (index: number) => `2001:db8:201::${(10 + index).toString(16)}`,
  l2Pool2v4: "198.19.0.200-198.19.0.215",
  l2Pool2v6: "2001:db8:201::200-2001:db8:201::20f",
  l2Local2v4: "198.19.0.192/27",
  l2Local2v6: "2001:db8:201::200/120",
} as const

const hasCommand = (name: string): boolean => {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/** Why the lab cannot run on this machine, or undefined when it can. */
export const labSkipReason = (): string | undefined => {
  const missing = ["vtysh", "/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd", "tcpdump", "arping", "ndisc6", "ping"].filter((c) => !hasCommand(c))
  return rootSkipReason() ?? apiServerSkipReason() ?? (missing.length > 0 ? `missing ${missing.join(", ")} (bash .ci/setup)` : undefined)
}

export interface LabNode {
  /** The Node object's name, the speaker's --node-name, and what its backend answers. */
  readonly name: string
  readonly index: number
  readonly host: Host
  readonly lan4: string
  readonly lan6: string
  /** Its address in the root link's subnet (the API server's side). */
  readonly api4: string
  readonly mac: string
}

export interface E2eLabOptions {
  /** Node namespaces (default 3). */
  readonly nodes?: number
  readonly label?: string
  /** The speakers' --hand-over-ms (default 1000). */
  readonly handOverMs?: number
  /** A second Layer 2 segment: every node's eth1 and the client's eth2 (plan.lan2*, plan.l2Pool2*). */
  readonly secondSegment?: boolean
  /** Extra arguments for every speaker (e.g. a membership profile). */
  readonly speakerArgs?: ReadonlyArray<string>
  /** The program the speakers and the controller run, relative to the repository: shell/main/cli.ts (default) or the image's bundle (build/metallb-ts.mjs). */
  readonly entry?: string
  readonly log?: (line: string) => void
}

export interface E2eLab extends AsyncDisposable {
  readonly lab: Lab
  readonly api: ApiServer
  readonly segment: Segment
  readonly nodes: ReadonlyArray<LabNode>
  readonly router: FrrRouter
  readonly client: Host
  /** The admin kubeconfig (kubectl --kubeconfig). */
  readonly kubeconfigPath: string
  /** The lab's scratch directory (kubeconfigs, key, captures). */
  readonly dir: string
  /** The API server's address on the root link. */
  readonly apiAddress: string
  readonly kubectl: (args: ReadonlyArray<string>, input?: string) => string
  readonly apply: (yaml: string) => string
  readonly startSpeaker: (node: LabNode) => HostProcess
  readonly speaker: (node: LabNode) => HostProcess | undefined
  /** Signals the node's speaker; resolves with the wall-clock instant of the signal once it exited. */
  readonly stopSpeaker: (node: LabNode, signal: "SIGKILL" | "SIGTERM") => Promise<{ readonly signalledAtMs: number; readonly exitedAtMs: number }>
  /** Waits until the speaker synced its caches and sees every running speaker as a member. */
  readonly waitSpeakersReady: (timeoutMs?: number) => Promise<void>
  readonly startBackend: (node: LabNode) => Promise<HostProcess>
  readonly stopBackend: (node: LabNode) => Promise<void>
  /** Takes the node's LAN link down (the node goes dark) or up again (its routes restored). */
  readonly setNodeLink: (node: LabNode, up: boolean) => Promise<void>
  readonly startController: () => ChildProcess
  readonly killController: () => Promise<void>
  readonly controllerOutput: () => string
  /** Processes of the root namespace (etcd, kube-apiserver, the controller): what a supervisor ends if this process dies. */
  readonly processIds: () => ReadonlyArray<number>
  /** The node's speaker's /metrics, scraped over HTTPS with a metrics reader's token as Prometheus would. */
  readonly scrapeSpeaker: (node: LabNode) => Promise<string | undefined>
  /** The Pod object each speaker runs as (no kubelet here: it stays Pending), owner of its status objects. */
  readonly speakerPod: (node: LabNode) => { readonly name: string; readonly uid: string }
  readonly close: () => Promise<void>
}

// --- the stand-ins for pods, kube-proxy and a client -----------------------------------------

/** The backend: answers every request on every local address (the pools are routed locally) with the node's name. */
const backendScript = `
import { createServer } from "node:http"
const name = process.env.MLBT_NODE_NAME ?? "?"
const server = createServer((req, res) => { res.setHeader("content-type", "text/plain"); res.end(name) })
server.listen({ port: 80, host: "::", ipv6Only: false }, () => console.log("listening"))
`

/** The client's probe loop: one fresh connection per request, short timeouts, one JSON line each. */
const probeScript = `
import { request } from "node:http"
const config = JSON.parse(process.env.MLBT_PROBE)
const deadline = Date.now() + config.durationMs
const once = (url) => new Promise((resolve) => {
  const t0 = Date.now()
  let done = false
  const finish = (result) => { if (!done) { done = true; resolve({ t0, t1: Date.now(), ...result }) } }
  const req = request(url, { agent: false, timeout: config.timeoutMs }, (res) => {
    let body = ""
    res.setEncoding("utf8")
    res.on("data", (chunk) => { body += chunk })
    res.on("end", () => finish({ ok: res.statusCode === 200, body }))
    res.on("error", (error) => finish({ ok: false, error: error.message }))
  })
  req.on("timeout", () => req.destroy(new Error("timeout")))
  req.on("error", (error) => finish({ ok: false, error: error.message }))
  req.end()
})
console.log(JSON.stringify({ started: Date.now() }))
await Promise.all(config.urls.map(async (url) => {
  while (Date.now() < deadline) {
    const result = await once(url)
    console.log(JSON.stringify({ url, ...result }))
    await new Promise((r) => setTimeout(r, config.gapMs))
  }
}))
`

export interface ProbeResult {
  readonly url: string
  readonly t0: number
  readonly t1: number
  readonly ok: boolean
  readonly body?: string
  readonly error?: string
}

export interface Probe {
  /** Resolves once the probe process has started sending. */
  readonly started: Promise<void>
  /** Resolves with every attempt when the probe's duration is over. */
  readonly results: () => Promise<ReadonlyArray<ProbeResult>>
}

/** Starts HTTP requests in a loop from `host` to each URL (concurrently per URL) for `durationMs`. */
export const startProbe = (
  host: Host,
  urls: ReadonlyArray<string>,
  options: { readonly durationMs: number; readonly timeoutMs?: number; readonly gapMs?: number },
): Probe => {
  const config = { urls, durationMs: options.durationMs, timeoutMs: options.timeoutMs ?? 250, gapMs: options.gapMs ?? 20 }
  const process_ = host.spawn(process.execPath, ["--input-type=module", "-e", probeScript], { env: { MLBT_PROBE: JSON.stringify(config) } })
  const lines = () => process_.output().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>)
  const started = eventually("the probe to start", async () => (lines().some((l) => "started" in l) ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 }).then(() => undefined)
  return {
    started,
    results: async () => {
      const bound = setTimeout(() => void process_.stop(), config.durationMs + 10_000)
      await process_.exited
      clearTimeout(bound)
      return lines().filter((l) => "url" in l) as unknown as ReadonlyArray<ProbeResult>
    },
  }
}

export interface Recovery {
  /** The first answer that came from another node than `previousOwner` (after `fromMs`). */
  readonly firstNew: ProbeResult | undefined
  /** From `fromMs` until that answer arrived. */
  readonly recoveryMs: number | undefined
  /** Between the last good answer before the first failure after `fromMs` and the first good answer after it. */
  readonly gapMs: number | undefined
  readonly failures: number
}

/** How the client saw a change of owner that began at `fromMs`. */
export const recoveryOf = (results: ReadonlyArray<ProbeResult>, fromMs: number, previousOwner: string): Recovery => {
  const after = results.filter((r) => r.t0 >= fromMs)
  const firstNew = after.find((r) => r.ok && r.body !== previousOwner)
  const failures = after.filter((r) => !r.ok && (firstNew === undefined || r.t0 < firstNew.t1)).length
  const firstFailure = results.find((r) => r.t1 >= fromMs && !r.ok)
  const lastGood = firstFailure === undefined ? undefined : results.filter((r) => r.ok && r.t1 <= firstFailure.t0).at(-1)
  const nextGood = firstFailure === undefined ? undefined : results.find((r) => r.ok && r.t0 >= firstFailure.t0)
  return {
    firstNew,
    recoveryMs: firstNew === undefined ? undefined : firstNew.t1 - fromMs,
    gapMs: firstFailure === undefined ? 0 : lastGood === undefined || nextGood === undefined ? undefined : nextGood.t1 - lastGood.t1,
    failures,
  }
}

const getScript = `
import { request as http } from "node:http"
import { request as https } from "node:https"
const url = process.env.MLBT_URL
const headers = process.env.MLBT_TOKEN ? { authorization: "Bearer " + process.env.MLBT_TOKEN } : {}
// As the ServiceMonitor scrapes the speakers: their certificates are self-signed.
const request = url.startsWith("https:") ? https : http
const req = request(url, { agent: false, timeout: Number(process.env.MLBT_TIMEOUT_MS), headers, rejectUnauthorized: false }, (res) => {
  let body = ""
  res.setEncoding("utf8")
  res.on("data", (chunk) => { body += chunk })
  res.on("end", () => { process.stdout.write(body); process.exit(res.statusCode === 200 ? 0 : 1) })
})
req.on("timeout", () => req.destroy(new Error("timeout")))
req.on("error", (error) => { console.error(error.message); process.exit(1) })
req.end()
`

/**
 * One HTTP(S) request from `host` (Node's http, a fresh connection, a bearer token if given); the body,
 * or undefined when it failed or answered other than 200.
 */
export const httpGet = async (host: Host, url: string, timeoutMs = 2_000, token?: string): Promise<string | undefined> =>
  host.run("env", [`MLBT_URL=${url}`, `MLBT_TIMEOUT_MS=${timeoutMs}`, ...(token === undefined ? [] : [`MLBT_TOKEN=${token}`]), process.execPath, "--input-type=module", "-e", getScript], { timeoutMs: timeoutMs + 10_000 })
    .then((r) => r.stdout, () => undefined)

export const urlOf = (address: string) => (address.includes(":") ? `http://[${address}]/` : `http://${address}/`)

/**
 * Polls `probe` until it returns a value, bounded by wall-clock time (unlike `eventually`, which counts
 * attempts and so runs long when one attempt is slow, like an arping).
 */
export const until = async <A>(
  what: string,
  probe: () => Promise<A | undefined>,
  options: { readonly timeoutMs: number; readonly intervalMs?: number },
): Promise<A> => {
  const deadline = Date.now() + options.timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      lastError = error
    }
    await sleep(options.intervalMs ?? 200)
  }
  throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`)
}

// --- captures --------------------------------------------------------------------------------

export interface CapturedFrame {
  /** Kernel timestamp, wall clock, in ms. */
  readonly atMs: number
  readonly frame: Frame
}

export interface Capture {
  readonly stop: () => Promise<ReadonlyArray<CapturedFrame>>
}

/** Captures ARP and ICMPv6 on `host`'s interface with tcpdump (kernel timestamps), decoded by core/l2. */
export const startCapture = async (host: Host, interfaceName: string, dir: string): Promise<Capture> => {
  const path = join(dir, `capture-${host.name}-${Date.now()}-${randomBytes(3).toString("hex")}.pcap`)
  const tcpdump = host.spawn("tcpdump", ["-i", interfaceName, "-n", "-U", "--immediate-mode", "-Z", "root", "-w", path, "arp or icmp6"])
  await eventually(`tcpdump on ${host.name}/${interfaceName} to listen`, async () => {
    if (tcpdump.child.exitCode !== null) throw new Error(`tcpdump exited: ${tcpdump.output()}`)
    return tcpdump.output().includes("listening on") ? true : undefined
  }, { timeoutMs: 10_000, intervalMs: 20 })
  return {
    stop: async () => {
      await sleep(50)
      await tcpdump.stop()
      const frames = parsePcap(readFileSync(path))
      rmSync(path, { force: true })
      return frames
    },
  }
}

/** A pcap file's records (either byte order, micro- or nanosecond timestamps) decoded as L2 frames. */
export const parsePcap = (bytes: Uint8Array): ReadonlyArray<CapturedFrame> => {
  if (bytes.length < 24) return []
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const magicLe = view.getUint32(0, true)
  const little = magicLe === 0xa1b2c3d4 || magicLe === 0xa1b23c4d
  const magic = view.getUint32(0, little)
  const nanos = magic === 0xa1b23c4d
  const frames: Array<CapturedFrame> = []
  for (let at = 24; at + 16 <= bytes.length;) {
    const seconds = view.getUint32(at, little)
    const fraction = view.getUint32(at + 4, little)
    const length = view.getUint32(at + 8, little)
    const start = at + 16
    if (start + length > bytes.length) break
    const decoded = decodeFrame(bytes.subarray(start, start + length))
    if (Result.isSuccess(decoded)) frames.push({ atMs: seconds * 1000 + (nanos ? fraction / 1e6 : fraction / 1e3), frame: decoded.success })
    at = start + length
  }
  return frames
}

// --- the root link's subnet ----------------------------------------------------------------

const subnetLockDir = join(tmpdir(), "mlbt-lab-subnets")

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Leases 198.19.<n>.0/24 for this lab's root link; the lock file names the owning process. */
export const leaseRootSubnet = (): { readonly third: number; readonly release: () => void } => {
  mkdirSync(subnetLockDir, { recursive: true })
  // Subnets the machine already uses are never leased.
  const inUse = execFileSync("ip", ["-4", "-o", "address", "show"], { encoding: "utf8" })
  for (let attempt = 0; attempt < 254; attempt++) {
    const third = 1 + ((process.pid + attempt) % 254)
    const path = join(subnetLockDir, `198.19.${third}`)
    if (inUse.includes(` 198.19.${third}.`)) continue
    try {
      writeFileSync(path, String(process.pid), { flag: "wx" })
      return { third, release: () => rmSync(path, { force: true }) }
    } catch {
      const owner = Number(readFileSync(path, "utf8").trim())
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) continue
      try {
        // Renaming is atomic: of two processes clearing the same stale lock, one wins.
        const stale = `${path}.stale-${process.pid}`
        renameSync(path, stale)
        rmSync(stale, { force: true })
        writeFileSync(path, String(process.pid), { flag: "wx" })
        return { third, release: () => rmSync(path, { force: true }) }
      } catch {
        continue
      }
    }
  }
  throw new Error("no free 198.19.x.0/24 subnet for the lab's root link")
}

/** Removes subnet leases whose owning process is gone (they are reclaimed lazily anyway). */
export const sweepSubnetLeases = (): void => {
  let names: Array<string> = []
  try {
    names = readdirSync(subnetLockDir)
  } catch {
    return
  }
  for (const name of names) {
    const path = join(subnetLockDir, name)
    try {
      const owner = Number(readFileSync(path, "utf8").trim())
      if (!(Number.isInteger(owner) && owner > 0 && isAlive(owner))) rmSync(path, { force: true })
    } catch {
      // gone meanwhile
    }
  }
}

// --- configuration ---------------------------------------------------------------------------

export interface MetallbTestConfig {
  readonly l2Addresses: ReadonlyArray<string>
  readonly bgpAddresses: ReadonlyArray<string>
  readonly nodeAsn: number
  readonly routerAsn: number
  readonly router4: string
}

/**
 * A Layer 2 pool and a BGP pool (not auto-assigned) with a BFD-backed peer, the router: the metallb.io
 * configuration of the lab and of the real cluster (spec/support/cluster/).
 */
export const metallbConfigYaml = (config: MetallbTestConfig): string => `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: l2, namespace: ${metallbNamespace} }
spec:
  addresses: [${config.l2Addresses.join(", ")}]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: { name: l2, namespace: ${metallbNamespace} }
spec:
  ipAddressPools: [l2]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: bgp, namespace: ${metallbNamespace} }
spec:
  addresses: [${config.bgpAddresses.join(", ")}]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: { name: fast, namespace: ${metallbNamespace} }
spec:
  receiveInterval: 100
  transmitInterval: 100
  detectMultiplier: 3
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: router, namespace: ${metallbNamespace} }
spec:
  myASN: ${config.nodeAsn}
  peerASN: ${config.routerAsn}
  peerAddress: ${config.router4}
  holdTime: 9s
  keepaliveTime: 3s
  connectTime: 2s
  bfdProfile: fast
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: bgp, namespace: ${metallbNamespace} }
spec:
  ipAddressPools: [bgp]
`

/** The lab's metallb.io configuration. */
export const labConfigYaml = (): string =>
  metallbConfigYaml({ l2Addresses: [plan.l2Pool4, plan.l2Pool6], bgpAddresses: [plan.bgpPool4], nodeAsn: plan.nodeAsn, routerAsn: plan.routerAsn, router4: plan.router4 })

export interface ServiceSpec {
  readonly name: string
  readonly namespace?: string
  readonly pool: string
  readonly families: "IPv4" | "IPv6" | "dual"
  readonly externalTrafficPolicy?: "Cluster" | "Local"
  /** Nodes with a serving endpoint (one EndpointSlice per address family). */
  readonly endpointNodes: ReadonlyArray<LabNode>
  /** Default true; false for more Services than the NodePort range's 2,768 ports (the speaker bench). */
  readonly allocateLoadBalancerNodePorts?: boolean
}

/** Creates a LoadBalancer Service without selector and its EndpointSlices, as the cluster would. */
export const createService = async (api: ApiServer, spec: ServiceSpec): Promise<void> => {
  const namespace = spec.namespace ?? "default"
  const core = api.kubeConfig.makeApiClient(CoreV1Api)
  const discovery = api.kubeConfig.makeApiClient(DiscoveryV1Api)
  const families = spec.families === "dual" ? ["IPv4", "IPv6"] : [spec.families]
  await core.createNamespacedService({
    namespace,
    body: {
      metadata: { name: spec.name, annotations: { "metallb.io/address-pool": spec.pool } },
      spec: {
        type: "LoadBalancer",
        ports: [{ name: "http", port: 80, protocol: "TCP" }],
        ipFamilies: families,
        ipFamilyPolicy: spec.families === "dual" ? "RequireDualStack" : "SingleStack",
        externalTrafficPolicy: spec.externalTrafficPolicy ?? "Cluster",
        ...(spec.allocateLoadBalancerNodePorts === false ? { allocateLoadBalancerNodePorts: false } : {}),
      },
    },
  })
  for (const family of families) {
    await discovery.createNamespacedEndpointSlice({
      namespace,
      body: {
        metadata: {
          name: `${spec.name}-${family.toLowerCase()}`,
          labels: { "kubernetes.io/service-name": spec.name, "endpointslice.kubernetes.io/managed-by": "metallb-ts-lab" },
        },
        addressType: family,
        ports: [{ name: "http", port: 80, protocol: "TCP" }],
        endpoints: spec.endpointNodes.map((node) => ({
          // Pod addresses are bookkeeping here: the backend listens on the node itself.
          addresses: [family === "IPv4" ? `198.18.200.${node.index}` : `2001:db8:ffff:200::${node.index}`],
          nodeName: node.name,
          conditions: { ready: true, serving: true, terminating: false },
        })),
      },
    })
  }
}

/** The Service's ingress addresses once the controller has written them. */
export const waitForIngress = async (api: ApiServer, name: string, count: number, namespace = "default", timeoutMs = 30_000): Promise<ReadonlyArray<string>> => {
  const core = api.kubeConfig.makeApiClient(CoreV1Api)
  return eventually(`${namespace}/${name}'s ${count} address(es)`, async () => {
    const service: V1Service = await core.readNamespacedService({ name, namespace })
    const ips = (service.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : []))
    return ips.length >= count ? ips : undefined
  }, { timeoutMs, intervalMs: 100 })
}

/**
 * FRR as the nodes' BGP peer: passive sessions to every node (9 s hold, BFD at 100 ms x 3), learned
 * routes installed in the kernel with equal-cost multipath over every node that announces them.
 */
export const startPeerRouter = async (
  router: Host,
  options: { readonly routerId: string; readonly asn: number; readonly nodeAsn: number; readonly nodes: ReadonlyArray<string> },
): Promise<FrrRouter> => {
  const instance = await startFrr(router, {
    routerId: options.routerId,
    asn: options.asn,
    installRoutes: true,
    neighbors: options.nodes.map((address) => ({
      address,
      asn: options.nodeAsn,
      passive: true,
      holdTimeSeconds: 9,
      keepaliveSeconds: 3,
      bfd: { receiveIntervalMs: 100, transmitIntervalMs: 100, detectMultiplier: 3 },
    })),
  })
  await run("vtysh", ["--vty_socket", instance.dir, "-d", "bgpd", "-c", "configure terminal", "-c", `router bgp ${options.asn}`,
    "-c", "address-family ipv4 unicast", "-c", "maximum-paths 16"])
  return instance
}

// --- bring-up --------------------------------------------------------------------------------

const sysctl = (host: Host, ...settings: ReadonlyArray<string>) => host.run("sysctl", ["-qw", ...settings])

/** A node's eth1 on the second segment, set up as its eth0 is for the first (see the node loop below). */
const joinSecondSegment = async (lab: Lab, segment: Segment, host: Host, index: number): Promise<void> => {
  await lab.attach(host, segment, { name: "eth1", addresses: [`${plan.lan2Node4(index)}/24`, `${plan.lan2Node6(index)}/64`] })
  await sysctl(host, "net.ipv4.conf.eth1.arp_ignore=1", "net.ipv4.conf.eth1.arp_announce=2", "net.ipv6.conf.eth1.keep_addr_on_down=1")
  await host.run("ip", ["route", "add", "local", plan.l2Local2v4, "dev", "lo"])
  await host.run("ip", ["-6", "route", "add", "local", plan.l2Local2v6, "dev", "lo"])
}

export const startE2eLab = async (options: E2eLabOptions = {}): Promise<E2eLab> => {
  const log = options.log ?? (() => undefined)
  const nodeCount = options.nodes ?? 3
  const handOverMs = options.handOverMs ?? 1_000
  const lab = await Lab.create(options.label ?? "e2e")
  const subnet = leaseRootSubnet()
  const dir = mkdtempSync(join(tmpdir(), "mlbt-lab-"))
  let api: ApiServer | undefined
  let controller: ChildProcess | undefined
  let controllerLog = ""
  const speakers = new Map<string, HostProcess>()
  const backends = new Map<string, HostProcess>()
  const killController = async () => {
    const child = controller
    controller = undefined
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once("exit", r))
    child.kill("SIGKILL")
    await exited
  }
  const close = async () => {
    await killController()
    await lab.close()
    await api?.stop()
    subnet.release()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const apiAddress = `198.19.${subnet.third}.1`
    const api4 = (index: number) => `198.19.${subnet.third}.${10 + index}`
    const segment = await lab.segment("lan")
    await lab.attachRoot(segment, { addresses: [`${apiAddress}/24`] })
    log(`root link up, API server address ${apiAddress}`)
    const apiStarted = startApiServer({ bindAddress: apiAddress })
    apiStarted.catch(() => undefined)

    const router = await lab.host("router")
    const client = await lab.host("client")
    await lab.attach(router, segment, { name: "eth0", addresses: [`${plan.router4}/24`, `${plan.router6}/64`] })
    await lab.attach(client, segment, { name: "eth0", addresses: [`${plan.client4}/24`, `${plan.client6}/64`] })
    await lab.link(router, client, { aName: "eth1", bName: "eth1", aAddresses: [`${plan.wanRouter4}/24`, `${plan.wanRouter6}/64`], bAddresses: [`${plan.wanClient4}/24`, `${plan.wanClient6}/64`] })
    await sysctl(router, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
    // Hash on ports too, so ECMP spreads the client's connections over the nodes.
    await sysctl(router, "net.ipv4.fib_multipath_hash_policy=1")
    await client.run("ip", ["route", "add", plan.bgpLocal4, "via", plan.wanRouter4])
    const segment2 = options.secondSegment === true ? await lab.segment("lan2") : undefined
    if (segment2 !== undefined) {
      await lab.attach(client, segment2, { name: plan.lan2ClientInterface, addresses: [`${plan.lan2Client4}/24`, `${plan.lan2Client6}/64`] })
    }

    const nodes: Array<LabNode> = []
    for (let index = 1; index <= nodeCount; index++) {
      const name = `node-${index}`
      const host = await lab.host(name)
      await lab.attach(host, segment, { name: "eth0", addresses: [`${plan.node4(index)}/24`, `${plan.node6(index)}/64`, `${api4(index)}/24`] })
      await sysctl(host,
        // Only the speaker answers for the pools' addresses: the kernel answers ARP only for addresses on
        // the asking interface, and never uses a pool address as the source of its own requests.
        "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.eth0.arp_ignore=1",
        "net.ipv4.conf.all.arp_announce=2", "net.ipv4.conf.eth0.arp_announce=2",
        "net.ipv6.conf.all.keep_addr_on_down=1", "net.ipv6.conf.eth0.keep_addr_on_down=1")
      // kube-proxy's part: every pool address is delivered locally (a route, not an address, so the
      // kernel neither answers ARP/NDP for it nor picks it as a source).
      await host.run("ip", ["route", "add", "local", plan.l2Local4, "dev", "lo"])
      await host.run("ip", ["route", "add", "local", plan.bgpLocal4, "dev", "lo"])
      await host.run("ip", ["-6", "route", "add", "local", plan.l2Local6, "dev", "lo"])
      await host.run("ip", ["route", "add", "default", "via", plan.router4])
      await host.run("ip", ["-6", "route", "add", "default", "via", plan.router6])
      if (segment2 !== undefined) await joinSecondSegment(lab, segment2, host, index)
      nodes.push({ name, index, host, lan4: plan.node4(index), lan6: plan.node6(index), api4: api4(index), mac: await host.mac("eth0") })
    }
    log(`${nodeCount} nodes, router and client on the segment`)

    api = await apiStarted
    const server = api
    log(`kube-apiserver at ${server.url}`)
    const kubectl = (args: ReadonlyArray<string>, input?: string) => server.kubectl(args, input)
    const apply = (yaml: string) => kubectl(["apply", "-f", "-"], yaml)
    kubectl(["apply", "--server-side", "-f", join(repoRoot, "manifests/base/namespace.yaml")])
    kubectl(["apply", "--server-side", "-k", join(repoRoot, "manifests/base/crds/")])
    kubectl(["apply", "--server-side", "-f", join(repoRoot, "manifests/base/rbac.yaml")])
    await eventually("the metallb.io CRDs to be established", async () => {
      const out = kubectl(["get", "crd", "-o", "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Established')].status}{\"\\n\"}{end}"])
      const lines = out.split("\n").filter(Boolean)
      return lines.length > 0 && lines.every((s) => s === "True") ? true : undefined
    }, { timeoutMs: 30_000 })

    const core = server.kubeConfig.makeApiClient(CoreV1Api)
    for (const node of nodes) {
      // The status PUT carries the labels too: its metadata replaces the object's (labels left out of it
      // are removed), and BGPPeer/L2Advertisement nodeSelectors select on them.
      const labels = { "kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux" }
      await core.createNode({ body: { metadata: { name: node.name, labels } } })
      await core.replaceNodeStatus({
        name: node.name,
        body: {
          metadata: { name: node.name, labels },
          status: {
            addresses: [{ type: "InternalIP", address: node.lan4 }, { type: "InternalIP", address: node.lan6 }, { type: "Hostname", address: node.name }],
            conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", message: "lab node", lastHeartbeatTime: new Date(), lastTransitionTime: new Date() }],
          },
        },
      })
    }

    const speakerCredentials = await server.serviceAccountToken(metallbNamespace, "speaker", { expirationSeconds: 24 * 3600 })
    const controllerCredentials = await server.serviceAccountToken(metallbNamespace, "controller", { expirationSeconds: 24 * 3600 })
    // The speakers' Pods, as the DaemonSet would make them; their names reach the speakers as
    // METALLB_POD_NAME (without METALLB_POD_UID: the speaker reads its Pod, as it does outside the manifests).
    const speakerPods = new Map<string, { readonly name: string; readonly uid: string }>()
    for (const node of nodes) {
      const pod = await core.createNamespacedPod({
        namespace: metallbNamespace,
        body: {
          metadata: { name: `speaker-${node.name}`, labels: { app: "metallb", component: "speaker" } },
          spec: { nodeName: node.name, serviceAccountName: "speaker", automountServiceAccountToken: false, containers: [{ name: "speaker", image: "metallb-ts" }] },
        },
      })
      speakerPods.set(node.name, { name: pod.metadata?.name ?? "", uid: pod.metadata?.uid ?? "" })
    }
    const metricsToken = await metricsReaderToken(server)
    const speakerKubeconfig = join(dir, "speaker.kubeconfig")
    const controllerKubeconfig = join(dir, "controller.kubeconfig")
    writeFileSync(speakerKubeconfig, speakerCredentials.kubeConfig.exportConfig(), { mode: 0o600 })
    writeFileSync(controllerKubeconfig, controllerCredentials.kubeConfig.exportConfig(), { mode: 0o600 })
    const keyFile = join(dir, "memberlist-key")
    writeFileSync(keyFile, randomBytes(16), { mode: 0o600 })

    const routerInstance = await startPeerRouter(router, { routerId: plan.router4, asn: plan.routerAsn, nodeAsn: plan.nodeAsn, nodes: nodes.map((n) => n.lan4) })
    log("FRR router up")

    const startBackend = async (node: LabNode) => {
      const backend = node.host.spawn(process.execPath, ["--input-type=module", "-e", backendScript], { env: { MLBT_NODE_NAME: node.name } })
      backends.set(node.name, backend)
      await eventually(`${node.name}'s backend to listen`, async () => {
        if (backend.child.exitCode !== null) throw new Error(`backend exited: ${backend.output()}`)
        return backend.output().includes("listening") ? true : undefined
      }, { timeoutMs: 10_000, intervalMs: 25 })
      return backend
    }
    const stopBackend = async (node: LabNode) => {
      const backend = backends.get(node.name)
      backends.delete(node.name)
      if (backend === undefined || backend.child.exitCode !== null || backend.child.signalCode !== null) return
      backend.child.kill("SIGKILL")
      await backend.exited
    }

    const speakerFlags = speakerNodeOptions()
    const startSpeaker = (node: LabNode) => {
      const seeds = nodes.filter((n) => n !== node).map((n) => `${n.lan4}:${plan.memberlistPort}`).join(",")
      // The DaemonSet's flags after any of the caller's own (a heap snapshot signal, say).
      const nodeOptions = [process.env["NODE_OPTIONS"], speakerFlags].filter((f) => f !== undefined && f !== "").join(" ")
      const speaker = node.host.spawn(process.execPath, [
        join(repoRoot, options.entry ?? "shell/main/cli.ts"), "speaker",
        "--kubeconfig", speakerKubeconfig,
        "--node-name", node.name,
        "--namespace", metallbNamespace,
        "--health-port", "0",
        "--memberlist-port", String(plan.memberlistPort),
        "--memberlist-key-file", keyFile,
        "--memberlist-seeds", seeds,
        "--hand-over-ms", String(handOverMs),
        "--log-level", "info",
        "--metrics-tls=true",
        ...(options.speakerArgs ?? []),
      ], { cwd: repoRoot, env: { NODE_OPTIONS: nodeOptions, METALLB_ML_BIND_ADDR: node.lan4, METALLB_HOST: node.lan4, METALLB_NAMESPACE: metallbNamespace, METALLB_POD_NAME: `speaker-${node.name}` } })
      speakers.set(node.name, speaker)
      return speaker
    }
    const stopSpeaker = async (node: LabNode, signal: "SIGKILL" | "SIGTERM") => {
      const speaker = speakers.get(node.name)
      if (speaker === undefined) throw new Error(`${node.name} runs no speaker`)
      speakers.delete(node.name)
      const signalledAtMs = Date.now()
      speaker.child.kill(signal)
      const bound = setTimeout(() => speaker.child.kill("SIGKILL"), 15_000)
      await speaker.exited
      clearTimeout(bound)
      return { signalledAtMs, exitedAtMs: Date.now() }
    }
    const waitSpeakersReady = async (timeoutMs = 60_000) => {
      const running = nodes.filter((n) => speakers.has(n.name))
      await eventually("every speaker synced and every member alive", async () => {
        for (const node of running) {
          const speaker = speakers.get(node.name)
          if (speaker === undefined) continue
          if (speaker.child.exitCode !== null || speaker.child.signalCode !== null) throw new Error(`${node.name}'s speaker exited:\n${speaker.output().slice(-3000)}`)
          const output = speaker.output()
          if (!output.includes("Layer 2 on")) throw new Error(`${node.name}'s speaker has not synced`)
          for (const other of running) {
            if (other === node) continue
            const alive = output.lastIndexOf(`membership: ${other.name} alive`)
            const gone = Math.max(output.lastIndexOf(`membership: ${other.name} dead`), output.lastIndexOf(`membership: ${other.name} left`))
            if (alive < 0 || gone > alive) throw new Error(`${node.name} does not see ${other.name} alive`)
          }
        }
        return true
      }, { timeoutMs, intervalMs: 100 })
    }

    const setNodeLink = async (node: LabNode, up: boolean) => {
      if (!up) {
        await node.host.run("ip", ["link", "set", "eth0", "down"])
        return
      }
      await node.host.run("ip", ["link", "set", "eth0", "up"])
      await node.host.run("ip", ["route", "replace", "default", "via", plan.router4])
      await eventually(`${node.name}'s IPv6 default route`, async () =>
        node.host.run("ip", ["-6", "route", "replace", "default", "via", plan.router6]).then(() => true), { timeoutMs: 5_000, intervalMs: 100 })
    }

    const startController = () => {
      const child = spawn(process.execPath, [
        join(repoRoot, options.entry ?? "shell/main/cli.ts"), "controller",
        "--kubeconfig", controllerKubeconfig,
        "--namespace", metallbNamespace,
        "--health-port", "0",
        "--metrics-port", "0",
        "--lease-duration-seconds", "3",
        "--log-level", "info",
      ], { cwd: repoRoot, env: { ...process.env, METALLB_NAMESPACE: metallbNamespace, METALLB_POD_NAME: "controller" }, stdio: ["ignore", "pipe", "pipe"] })
      const keep = (chunk: Buffer) => {
        if (controllerLog.length < 1_000_000) controllerLog += chunk.toString()
      }
      child.stdout?.on("data", keep)
      child.stderr?.on("data", keep)
      controller = child
      return child
    }

    for (const node of nodes) await startBackend(node)
    startController()
    for (const node of nodes) startSpeaker(node)
    await waitSpeakersReady()
    log("controller and speakers running")

    return {
      lab,
      api: server,
      segment,
      nodes,
      router: routerInstance,
      client,
      kubeconfigPath: server.kubeConfigPath,
      dir,
      apiAddress,
      kubectl,
      apply,
      startSpeaker,
      speaker: (node) => speakers.get(node.name),
      stopSpeaker,
      waitSpeakersReady,
      startBackend,
      stopBackend,
      setNodeLink,
      startController,
      killController,
      controllerOutput: () => controllerLog,
      processIds: () => [...server.processIds(), ...(controller?.pid === undefined || controller.exitCode !== null ? [] : [controller.pid])],
      scrapeSpeaker: (node) => httpGet(node.host, "https://127.0.0.1:9120/metrics", 5_000, metricsToken),
      speakerPod: (node) => {
        const pod = speakerPods.get(node.name)
        if (pod === undefined) throw new Error(`${node.name} has no speaker pod`)
        return pod
      },
      close,
      [Symbol.asyncDispose]: close,
    }
  } catch (error) {
    const tails = [...speakers].map(([name, p]) => `--- speaker ${name} ---\n${p.output().slice(-2000)}`).join("\n")
    await close()
    throw new Error(`${String(error)}${tails === "" ? "" : `\n${tails}`}${controllerLog === "" ? "" : `\n--- controller ---\n${controllerLog.slice(-2000)}`}`, { cause: error })
  }
}
