// A real Kubernetes control plane for tests: etcd + kube-apiserver on loopback, random free ports,
// generated certificates, RBAC on. There is no kubelet, scheduler or controller-manager: tests create
// Nodes, EndpointSlices and Namespaces themselves. Binaries come from `.ci/kube-binaries` (cached).
import { execFileSync } from "node:child_process"
import { appendFileSync, closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs"
import { request } from "node:https"
import { createServer } from "node:net"
import { homedir, tmpdir } from "node:os"
import { join } from "node:path"
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node"
import { parseAllDocuments } from "yaml"
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"

const repoRoot = new URL("../..", import.meta.url).pathname

/** The Kubernetes version the testbed builds; read from the tool module so the two never disagree. */
export const kubeVersion = (): string => {
  const goMod = readFileSync(join(repoRoot, "spec/support/kubebin/go.mod"), "utf8")
  const match = /^require k8s\.io\/kubernetes (v\S+)$/m.exec(goMod)
  if (match?.[1] === undefined) throw new Error("spec/support/kubebin/go.mod names no k8s.io/kubernetes version")
  return match[1]
}

/** Where the cached kube-apiserver and kubectl live (same rule as .ci/kube-binaries). */
export const kubeBinDir = (): string =>
  process.env["METALLB_TS_KUBE_BIN"] ??
  join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "metallb-ts", `kube-${kubeVersion()}`)

/** Why API-server tests cannot run here, or undefined when they can. */
export const apiServerSkipReason = (): string | undefined => {
  const dir = kubeBinDir()
  if (!existsSync(join(dir, "kube-apiserver"))) return `no kube-apiserver in ${dir}: run \`bash .ci/kube-binaries\``
  if (!hasCommand("etcd")) return "no etcd on PATH: apt-get install etcd-server"
  if (!hasCommand("openssl")) return "no openssl on PATH"
  return undefined
}

const hasCommand = (name: string): boolean => {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

export interface ServiceAccountCredentials {
  readonly token: string
  /** A KubeConfig that authenticates as the ServiceAccount (as a pod in the cluster would). */
  readonly kubeConfig: KubeConfig
}

export interface ApiServer {
  /** https://127.0.0.1:<port> */
  readonly url: string
  /** Cluster-admin (system:masters) client configuration. */
  readonly kubeConfig: KubeConfig
  /** Path of a kubeconfig file for kubectl and for processes under test. */
  readonly kubeConfigPath: string
  /** PEM of the CA that signed the serving certificate (for webhook caBundles, clients). */
  readonly caPem: string
  /** ca.crt/ca.key (the client CA too), admin.crt/admin.key, sa.key/sa.pub: for a cluster's other components. */
  readonly pkiDir: string
  readonly kubectl: (args: ReadonlyArray<string>, input?: string) => string
  /**
   * Kills kube-apiserver (SIGKILL: every watch breaks mid-stream) and starts it again on the same port
   * with the same etcd, certificates and flags, after `downMs` (default 0); resolves once it is ready again.
   */
  readonly restartApiServer: (options?: { readonly downMs?: number }) => Promise<void>
  /** Creates the ServiceAccount if needed and returns a token for it (TokenRequest API). */
  readonly serviceAccountToken: (
    namespace: string,
    name: string,
    options?: { readonly expirationSeconds?: number },
  ) => Promise<ServiceAccountCredentials>
  /** Process ids of etcd and kube-apiserver (so a supervisor can end them if this process dies first). */
  readonly processIds: () => ReadonlyArray<number>
  readonly stop: () => Promise<void>
  [Symbol.asyncDispose]: () => Promise<void>
}

export interface ApiServerOptions {
  /** Bring-up deadline. */
  readonly timeoutMs?: number
  /** Extra kube-apiserver flags. */
  readonly extraArgs?: ReadonlyArray<string>
  /**
   * The address the API server listens on (default 127.0.0.1), e.g. a lab address that network
   * namespaces reach; the serving certificate names it, and `url` uses it.
   */
  readonly bindAddress?: string
  /** --authorization-mode (default RBAC; a cluster with kubelets needs Node,RBAC). */
  readonly authorizationMode?: string
  /** More subjectAltName entries for the serving certificate (e.g. `IP:<the kubernetes Service's ClusterIP>`). */
  readonly subjectAltNames?: ReadonlyArray<string>
}

/** Service cluster IPs: documentation/benchmark ranges only (TESTBED.md); dual-stack so tests get both families. */
export const serviceClusterIpRanges = "198.18.0.0/16,2001:db8:ffff::/112"

export const startApiServer = async (options: ApiServerOptions = {}): Promise<ApiServer> => {
  const skip = apiServerSkipReason()
  if (skip !== undefined) throw new Error(`startApiServer: ${skip}`)
  const binDir = kubeBinDir()
  const bindAddress = options.bindAddress ?? "127.0.0.1"
  const dir = mkdtempSync(join(tmpdir(), "mlbt-apiserver-"))
  const processes: Array<ChildProcess> = []
  const logs = new Map<string, string>()
  const stop = async () => {
    await Promise.all(processes.reverse().map(terminate))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const pki = generatePki(dir, bindAddress, options.subjectAltNames ?? [])
    const [etcdClientPort, etcdPeerPort, securePort] = await freePorts(3)
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`
    processes.push(
      launch("etcd", "etcd", [
        "--name=default",
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
        "--log-level=error",
      ], logs, dir),
    )
    processes.push(
      launch(join(binDir, "kube-apiserver"), "kube-apiserver", [
        `--etcd-servers=${etcdUrl}`,
        `--bind-address=${bindAddress}`,
        `--advertise-address=${bindAddress}`,
        `--secure-port=${securePort}`,
        `--cert-dir=${join(dir, "certs")}`,
        `--tls-cert-file=${pki.servingCert}`,
        `--tls-private-key-file=${pki.servingKey}`,
        `--client-ca-file=${pki.caCert}`,
        // How it authenticates to kubelets (spec/support/cluster: logs, exec); unused without nodes.
        `--kubelet-client-certificate=${pki.adminCert}`,
        `--kubelet-client-key=${pki.adminKey}`,
        `--service-account-key-file=${pki.saPublic}`,
        `--service-account-signing-key-file=${pki.saPrivate}`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--api-audiences=https://kubernetes.default.svc.cluster.local",
        `--authorization-mode=${options.authorizationMode ?? "RBAC"}`,
        `--service-cluster-ip-range=${serviceClusterIpRanges}`,
        // Loopback cannot be the `kubernetes` Service's endpoint; nothing here needs that Service.
        "--endpoint-reconciler-type=none",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
        "--v=0",
        ...(options.extraArgs ?? []),
      ], logs, dir),
    )
    const url = `https://${bindAddress.includes(":") ? `[${bindAddress}]` : bindAddress}:${securePort}`
    const tls = { ca: readFileSync(pki.caCert), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey) }
    await waitReady(url, tls, options.timeoutMs ?? 60_000, processes, logs)

    const kubeConfig = makeKubeConfig(url, tls.ca.toString(), { certData: tls.cert.toString(), keyData: tls.key.toString() })
    const kubeConfigPath = join(dir, "admin.kubeconfig")
    writeFileSync(kubeConfigPath, kubeConfig.exportConfig())
    const kubectl = (args: ReadonlyArray<string>, input?: string) =>
      execFileSync(join(binDir, "kubectl"), [`--kubeconfig=${kubeConfigPath}`, ...args], {
        encoding: "utf8",
        timeout: 60_000,
        ...(input === undefined ? {} : { input }),
      })
    const restartApiServer = async (restartOptions: { readonly downMs?: number } = {}) => {
      const index = processes.findIndex((p) => p.spawnargs[0] === join(binDir, "kube-apiserver"))
      const old = processes[index]
      if (old === undefined) throw new Error("restartApiServer: no kube-apiserver process")
      if (old.exitCode === null && old.signalCode === null) {
        const exited = new Promise((resolve) => old.once("exit", resolve))
        old.kill("SIGKILL")
        await exited
      }
      await new Promise((resolve) => setTimeout(resolve, restartOptions.downMs ?? 0))
      const [command, ...args] = old.spawnargs
      processes[index] = launch(command ?? join(binDir, "kube-apiserver"), "kube-apiserver", args, logs, dir)
      await waitReady(url, tls, options.timeoutMs ?? 60_000, processes, logs)
    }
    const core = kubeConfig.makeApiClient(CoreV1Api)
    const serviceAccountToken = async (
      namespace: string,
      name: string,
      tokenOptions: { readonly expirationSeconds?: number } = {},
    ): Promise<ServiceAccountCredentials> => {
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } }).catch((error: unknown) => {
        if ((error as { code?: number }).code !== 409) throw error
      })
      const request = await core.createNamespacedServiceAccountToken({
        namespace,
        name,
        body: { spec: { audiences: [], expirationSeconds: tokenOptions.expirationSeconds ?? 3600 } },
      })
      const token = request.status?.token
      if (token === undefined) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`)
      return { token, kubeConfig: makeKubeConfig(url, tls.ca.toString(), { token }) }
    }
    return {
      url,
      kubeConfig,
      kubeConfigPath,
      caPem: tls.ca.toString(),
      pkiDir: dir,
      kubectl,
      restartApiServer,
      serviceAccountToken,
      processIds: () => processes.flatMap((p) => (p.pid === undefined || p.exitCode !== null || p.signalCode !== null ? [] : [p.pid])),
      stop,
      [Symbol.asyncDispose]: stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}

const makeKubeConfig = (
  server: string,
  caPem: string,
  user: { readonly certData?: string; readonly keyData?: string; readonly token?: string },
): KubeConfig => {
  const kc = new KubeConfig()
  const b64 = (s: string) => Buffer.from(s).toString("base64")
  kc.loadFromOptions({
    clusters: [{ name: "testbed", server, caData: b64(caPem), skipTLSVerify: false }],
    users: [
      {
        name: "user",
        ...(user.certData === undefined ? {} : { certData: b64(user.certData) }),
        ...(user.keyData === undefined ? {} : { keyData: b64(user.keyData) }),
        ...(user.token === undefined ? {} : { token: user.token }),
      },
    ],
    contexts: [{ name: "testbed", cluster: "testbed", user: "user" }],
    currentContext: "testbed",
  })
  return kc
}

interface Pki {
  readonly caCert: string
  readonly servingCert: string
  readonly servingKey: string
  readonly adminCert: string
  readonly adminKey: string
  readonly saPublic: string
  readonly saPrivate: string
}

/** A CA, a serving certificate for 127.0.0.1 (and the bind address), a system:masters client certificate and the SA signing key. */
const generatePki = (dir: string, bindAddress: string, subjectAltNames: ReadonlyArray<string>): Pki => {
  const openssl = (...args: Array<string>) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" })
  const key = (name: string) => openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name)
  key("ca.key")
  openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=metallb-ts-testbed-ca", "-days", "2", "-out", "ca.crt")
  const sign = (name: string, subject: string, extensions: string) => {
    key(`${name}.key`)
    openssl("req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`)
    writeFileSync(join(dir, `${name}.ext`), extensions)
    openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
      "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.crt`)
  }
  sign("serving", "/CN=kube-apiserver",
    `subjectAltName=IP:127.0.0.1,${bindAddress === "127.0.0.1" ? "" : `IP:${bindAddress},`}${subjectAltNames.map((n) => `${n},`).join("")}DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n`)
  sign("admin", "/O=system:masters/CN=testbed-admin", "extendedKeyUsage=clientAuth\n")
  openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key")
  openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub")
  const at = (name: string) => join(dir, name)
  return {
    caCert: at("ca.crt"),
    servingCert: at("serving.crt"),
    servingKey: at("serving.key"),
    adminCert: at("admin.crt"),
    adminKey: at("admin.key"),
    saPublic: at("sa.pub"),
    saPrivate: at("sa.key"),
  }
}

/** Ports the kernel hands out as free right now (all held at once, so they are distinct). */
export const freePorts = async (count: number): Promise<Array<number>> => {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        const server = createServer()
        server.once("error", reject)
        server.listen(0, "127.0.0.1", () => resolve(server))
      })),
  )
  const ports = servers.map((s) => {
    const address = s.address()
    if (address === null || typeof address === "string") throw new Error("no port")
    return address.port
  })
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

/**
 * Starts a daemon with its output in a log file, not a pipe: a test blocked in a synchronous call
 * (kubectl) would stop draining a pipe, and a full pipe stalls the API server mid-request.
 */
const launch = (command: string, label: string, args: ReadonlyArray<string>, logs: Map<string, string>, dir: string): ChildProcess => {
  const logPath = join(dir, `${label}.log`)
  const fd = openSync(logPath, "a")
  const child = spawn(command, [...args], { stdio: ["ignore", fd, fd] })
  closeSync(fd)
  logs.set(label, logPath)
  child.once("error", (error) => appendFileSync(logPath, `spawn failed: ${error.message}\n`))
  return child
}

const logTail = (path: string, lines: number) => {
  try {
    return readFileSync(path, "utf8").split("\n").filter(Boolean).slice(-lines).join("\n")
  } catch {
    return "(no log)"
  }
}

const terminate = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve()
    const kill = setTimeout(() => child.kill("SIGKILL"), 5_000)
    child.once("exit", () => {
      clearTimeout(kill)
      resolve()
    })
    child.kill("SIGTERM")
  })

const waitReady = async (
  url: string,
  tls: { readonly ca: Buffer; readonly cert: Buffer; readonly key: Buffer },
  timeoutMs: number,
  processes: ReadonlyArray<ChildProcess>,
  logs: Map<string, string>,
): Promise<void> => {
  const deadline = performance.now() + timeoutMs
  let last = ""
  while (performance.now() < deadline) {
    const dead = processes.find((p) => p.exitCode !== null || p.signalCode !== null)
    if (dead !== undefined) break
    last = await new Promise<string>((resolve) => {
      const req = request(`${url}/readyz`, { ...tls, timeout: 2_000 }, (res) => {
        let body = ""
        res.on("data", (c: Buffer) => (body += c.toString()))
        res.on("end", () => resolve(res.statusCode === 200 ? "ok" : `${res.statusCode}: ${body.slice(0, 500)}`))
      })
      req.on("error", (e) => resolve(e.message))
      req.on("timeout", () => req.destroy(new Error("timeout")))
      req.end()
    })
    if (last === "ok") return
    await new Promise((r) => setTimeout(r, 250))
  }
  const tail = [...logs].map(([name, path]) => `--- ${name} ---\n${logTail(path, 30)}`).join("\n")
  throw new Error(`kube-apiserver at ${url} not ready (last: ${last})\n${tail}`)
}

/**
 * Applies the Prometheus overlay's metrics-reader ClusterRole and its binding to
 * monitoring/prometheus-k8s (what the ServiceMonitors scrape as) and returns that ServiceAccount's token.
 */
export const metricsReaderToken = async (api: ApiServer): Promise<string> => {
  const overlay = parseAllDocuments(readFileSync(new URL("../../manifests/overlays/prometheus/monitoring.yaml", import.meta.url), "utf8"))
    .map((d) => d.toJS() as { kind: string })
  const rbac = overlay.filter((o) => o.kind === "ClusterRole" || o.kind === "ClusterRoleBinding")
  if (rbac.length !== 2) throw new Error(`the Prometheus overlay has ${rbac.length} RBAC objects, expected a ClusterRole and its binding`)
  api.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: rbac }))
  api.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "monitoring" } }))
  return (await api.serviceAccountToken("monitoring", "prometheus-k8s")).token
}
