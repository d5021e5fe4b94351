// The real `metallb-ts controller` process against the real API server, authenticated as its
// ServiceAccount with the manifests' RBAC: addresses in status, the pool annotation, events, pool
// status and ConfigurationState; a restart keeps every address; an invalid configuration costs no
// service its address; two replicas elect one leader and fail over.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CoreV1Api, CustomObjectsApi, EventsV1Api, CoordinationV1Api } from "@kubernetes/client-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ApiServer, apiServerSkipReason, startApiServer } from "../support/apiserver.ts"
import { eventually } from "../support/netns.ts"
import { skipUnlessCi } from "../support/skip.ts"

const ns = "metallb-system"
const repo = new URL("../..", import.meta.url).pathname

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("metallb-ts controller against the real API server", () => {
  let api: ApiServer
  let kubeconfigPath: string
  const running = new Set<ChildProcess>()
  const output = new Map<ChildProcess, string>()

  const startController = (name: string) => {
    const child = spawn(process.execPath, ["shell/main/cli.ts", "controller", "--kubeconfig", kubeconfigPath, "--health-port", "0", "--lease-duration-seconds", "3", "--log-level", "debug"], {
      cwd: repo,
      env: { ...process.env, METALLB_NAMESPACE: ns, METALLB_POD_NAME: name },
      stdio: ["ignore", "pipe", "pipe"],
    })
    output.set(child, "")
    const keep = (chunk: Buffer) => output.set(child, (output.get(child) ?? "") + chunk.toString())
    child.stdout?.on("data", keep)
    child.stderr?.on("data", keep)
    running.add(child)
    child.once("exit", () => running.delete(child))
    return child
  }
  const kill = async (child: ChildProcess) => {
    if (child.exitCode !== null) return
    const exited = new Promise((r) => child.once("exit", r))
    child.kill("SIGKILL")
    await exited
  }

  beforeAll(async () => {
    api = await startApiServer()
    api.kubectl(["apply", "--server-side", "-f", "manifests/base/namespace.yaml"])
    api.kubectl(["apply", "--server-side", "-k", "manifests/base/crds/"])
    api.kubectl(["apply", "--server-side", "-f", "manifests/base/rbac.yaml"])
    await eventually("CRDs established", async () => api.kubectl(["get", "crd", "ipaddresspools.metallb.io", "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"]) === "True" || undefined)
    const sa = await api.serviceAccountToken(ns, "controller")
    kubeconfigPath = join(mkdtempSync(join(tmpdir(), "mlbt-controller-")), "kubeconfig")
    writeFileSync(kubeconfigPath, sa.kubeConfig.exportConfig())
  }, 120_000)

  afterAll(async () => {
    for (const child of running) await kill(child)
    await api?.stop()
  })

  const core = () => api.kubeConfig.makeApiClient(CoreV1Api)
  const ingressOf = async (name: string) => (await core().readNamespacedService({ name, namespace: "default" })).status?.loadBalancer?.ingress?.map((i) => i.ip) ?? []
  const createService = (name: string) =>
    core().createNamespacedService({ namespace: "default", body: { metadata: { name }, spec: { type: "LoadBalancer", selector: { app: name }, ports: [{ port: 80 }] } } })

  it("assigns addresses, writes status, annotation, events, pool status and ConfigurationState; keeps them across a restart and an invalid edit", async () => {
    api.kubectl(["apply", "-f", "spec/fixtures/config/valid-pool-cidr.yaml"])
    const controller = startController("controller-a")
    await createService("web")
    const web = await eventually("web's address", async () => (await ingressOf("web"))[0], { timeoutMs: 30_000 })
    expect(web).toBe("192.0.2.0")
    const service = await core().readNamespacedService({ name: "web", namespace: "default" })
    expect(service.metadata?.annotations?.["metallb.io/ip-allocated-from-pool"]).toBe("first-pool")
    const events = api.kubeConfig.makeApiClient(EventsV1Api)
    await eventually("the IPAllocated event", async () =>
      (await events.listNamespacedEvent({ namespace: "default" })).items.some((e) => e.reason === "IPAllocated" && e.regarding?.name === "web") || undefined)
    const custom = api.kubeConfig.makeApiClient(CustomObjectsApi)
    await eventually("pool status", async () => {
      const pool = (await custom.getNamespacedCustomObject({ group: "metallb.io", version: "v1beta1", namespace: ns, plural: "ipaddresspools", name: "first-pool" })) as { status?: { assignedIPv4?: number; availableIPv4?: number } }
      return pool.status?.assignedIPv4 === 1 && pool.status.availableIPv4 === 255 ? true : undefined
    })
    await eventually("ConfigurationState Valid", async () => {
      const state = (await custom.getNamespacedCustomObject({ group: "metallb.io", version: "v1beta1", namespace: ns, plural: "configurationstates", name: "controller" })) as { status?: { result?: string } }
      return state.status?.result === "Valid" ? true : undefined
    })

    // A restart, with a new service created while the controller is down.
    await kill(controller)
    await createService("api")
    startController("controller-b")
    const apiAddress = await eventually("api's address", async () => (await ingressOf("api"))[0], { timeoutMs: 30_000 })
    expect(apiAddress).toBe("192.0.2.1")
    expect(await ingressOf("web")).toEqual(["192.0.2.0"])

    // An invalid configuration: reported, and nobody loses an address.
    api.kubectl(["apply", "-f", "-"], "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: clash\n  namespace: metallb-system\nspec:\n  addresses: [192.0.2.128/25]\n")
    await eventually("ConfigurationState Invalid", async () => {
      const state = (await custom.getNamespacedCustomObject({ group: "metallb.io", version: "v1beta1", namespace: ns, plural: "configurationstates", name: "controller" })) as { status?: { result?: string; errorSummary?: string } }
      return state.status?.result === "Invalid" && state.status.errorSummary?.includes("overlaps") ? true : undefined
    })
    expect(await ingressOf("web")).toEqual(["192.0.2.0"])
    expect(await ingressOf("api")).toEqual(["192.0.2.1"])
    api.kubectl(["delete", "ipaddresspool", "clash", "-n", ns])
  }, 120_000)

  it("runs two replicas with one leader, and the other takes over when the leader dies", async () => {
    for (const child of [...running]) await kill(child)
    const a = startController("replica-a")
    const b = startController("replica-b")
    const leases = api.kubeConfig.makeApiClient(CoordinationV1Api)
    const holder = async () => (await leases.readNamespacedLease({ name: "metallb-ts-controller", namespace: ns })).spec?.holderIdentity
    const first = await eventually("a leader", async () => {
      const h = await holder()
      return h === "replica-a" || h === "replica-b" ? h : undefined
    }, { timeoutMs: 20_000 })
    await createService("during-leadership")
    await eventually("an address from the leader", async () => (await ingressOf("during-leadership"))[0], { timeoutMs: 30_000 })
    await kill(first === "replica-a" ? a : b)
    const second = await eventually("the other replica leads", async () => {
      const h = await holder()
      return h !== first ? h : undefined
    }, { timeoutMs: 30_000 })
    expect(second).toBe(first === "replica-a" ? "replica-b" : "replica-a")
    await createService("after-failover")
    expect(await eventually("an address from the new leader", async () => (await ingressOf("after-failover"))[0], { timeoutMs: 30_000 })).toMatch(/^192\.0\.2\./)
    const all = await Promise.all(["web", "api", "during-leadership", "after-failover"].map(ingressOf))
    expect(new Set(all.flat()).size).toBe(4)
  }, 120_000)
})
