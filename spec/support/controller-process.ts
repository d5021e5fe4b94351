// The real `metallb-ts controller` process for e2e tests and the controller benchmark: a testbed API
// server with the manifests' namespace, CRDs and RBAC applied, a kubeconfig that authenticates as the
// controller's ServiceAccount (as the Deployment's pod would), and controller processes started and
// killed on demand with their output kept for failure messages.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CoreV1Api, CustomObjectsApi, EventsV1Api, type V1Service } from "@kubernetes/client-node"
import { type ApiServer, freePorts, startApiServer } from "./apiserver.ts"
import { eventually } from "./netns.ts"

export const metallbNamespace = "metallb-system"
const repo = new URL("../..", import.meta.url).pathname

export interface ControllerProcess {
  readonly child: ChildProcess
  readonly name: string
  /** Port of /metrics (0 when off). */
  readonly metricsPort: number
  readonly output: () => string
  /** SIGKILL, resolved once it exited. */
  readonly kill: () => Promise<void>
}

export interface StartOptions {
  /** Serve /metrics on a free port (plain HTTP unless extraArgs say otherwise). */
  readonly metrics?: boolean
  /** Default debug. */
  readonly logLevel?: string
  /** The program, relative to the repository: shell/main/cli.ts (default) or the image's bundle (build/metallb-ts.mjs). */
  readonly entry?: string
}

export interface ControllerTestbed {
  readonly api: ApiServer
  /** Kubeconfig file of the controller's ServiceAccount. */
  readonly kubeconfigPath: string
  readonly core: CoreV1Api
  readonly custom: CustomObjectsApi
  readonly events: EventsV1Api
  readonly start: (name: string, extraArgs?: ReadonlyArray<string>, options?: StartOptions) => Promise<ControllerProcess>
  readonly stop: () => Promise<void>
}

export const startControllerTestbed = async (): Promise<ControllerTestbed> => {
  const api = await startApiServer()
  const running = new Set<ControllerProcess>()
  try {
    api.kubectl(["apply", "--server-side", "-f", "manifests/base/namespace.yaml"])
    api.kubectl(["apply", "--server-side", "-k", "manifests/base/crds/"])
    api.kubectl(["apply", "--server-side", "-f", "manifests/base/rbac.yaml"])
    await eventually("CRDs established", async () =>
      api.kubectl(["get", "crd", "ipaddresspools.metallb.io", "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"]) === "True" || undefined)
    const sa = await api.serviceAccountToken(metallbNamespace, "controller", { expirationSeconds: 24 * 3600 })
    const kubeconfigPath = join(mkdtempSync(join(tmpdir(), "mlbt-controller-")), "kubeconfig")
    writeFileSync(kubeconfigPath, sa.kubeConfig.exportConfig())

    const start = async (name: string, extraArgs: ReadonlyArray<string> = [], options: StartOptions = {}): Promise<ControllerProcess> => {
      const [metricsPort] = options.metrics === true ? await freePorts(1) : [0]
      const child = spawn(process.execPath, [
        options.entry ?? "shell/main/cli.ts", "controller", "--kubeconfig", kubeconfigPath,
        // /readyz only where a caller asks for it (the footprint bench times a restart to it).
        ...(extraArgs.includes("--health-port") ? [] : ["--health-port", "0"]),
        // A short lease (failover tests wait less) unless the caller sets one (the footprint bench: the default).
        ...(extraArgs.includes("--lease-duration-seconds") ? [] : ["--lease-duration-seconds", "3"]),
        "--metrics-port", String(metricsPort ?? 0), "--log-level", options.logLevel ?? "debug",
        // The webhooks (and their certificate Secret) only where a test asks for them.
        ...(extraArgs.includes("--webhook-port") ? [] : ["--webhook-port", "0"]),
        ...extraArgs,
      ], {
        cwd: repo,
        env: { ...process.env, METALLB_NAMESPACE: metallbNamespace, METALLB_POD_NAME: name },
        stdio: ["ignore", "pipe", "pipe"],
      })
      let output = ""
      const keep = (chunk: Buffer) => {
        output += chunk.toString()
      }
      child.stdout?.on("data", keep)
      child.stderr?.on("data", keep)
      const kill = async () => {
        running.delete(handle)
        if (child.exitCode !== null || child.signalCode !== null) return
        const exited = new Promise((r) => child.once("exit", r))
        child.kill("SIGKILL")
        await exited
      }
      const handle: ControllerProcess = { child, name, metricsPort: metricsPort ?? 0, output: () => output, kill }
      running.add(handle)
      return handle
    }
    const stop = async () => {
      for (const c of [...running]) await c.kill()
      await api.stop()
    }
    return {
      api,
      kubeconfigPath,
      core: api.kubeConfig.makeApiClient(CoreV1Api),
      custom: api.kubeConfig.makeApiClient(CustomObjectsApi),
      events: api.kubeConfig.makeApiClient(EventsV1Api),
      start,
      stop,
    }
  } catch (error) {
    await api.stop()
    throw error
  }
}

/** The addresses in a Service's status. */
export const ingressOf = (service: V1Service | undefined): ReadonlyArray<string> =>
  (service?.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip === undefined ? [] : [i.ip]))

/** Applies metallb.io objects (YAML) as the admin. */
export const applyYaml = (api: ApiServer, yaml: string): string => api.kubectl(["apply", "-f", "-"], yaml)

export const poolYaml = (name: string, addresses: ReadonlyArray<string>, extra = ""): string =>
  `apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: ${name}\n  namespace: ${metallbNamespace}\nspec:\n  addresses: [${addresses.join(", ")}]\n${extra}`
