// The controller at scale against the real API server (issue 7): 5,000 LoadBalancer Services created at
// once (64 requests in flight) while the real `metallb-ts controller` process runs as its ServiceAccount
// with the manifests' RBAC and one /16 pool. Prints the time from each Service's creation (its create
// call returning) to its address showing in status, as seen through a watch: p50, p99, max; the
// controller's CPU seconds (/proc/<pid>/stat) and peak RSS (VmHWM); and what its own metrics say.
// METALLB_TS_BENCH_CPU_PROF=<dir> also writes the controller's V8 CPU profile there.
import { readFileSync } from "node:fs"
import { request } from "node:http"
import { CoreV1Api, makeInformer, type V1Service } from "@kubernetes/client-node"
import { withConnectionReuse } from "../shell/kube/kube-config.ts"
import { apiServerSkipReason } from "../spec/support/apiserver.ts"
import { applyYaml, ingressOf, poolYaml, startControllerTestbed } from "../spec/support/controller-process.ts"
import { eventually } from "../spec/support/netns.ts"

const services = 5_000
const inFlight = 64
const namespace = "bench"
const deadlineMs = 150_000
const clockTicksPerSecond = 100 // USER_HZ on Linux

const cpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond
}
const peakRssMiB = (pid: number): number => {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return Number(match?.[1] ?? 0) / 1024
}
const scrape = (port: number): Promise<string> =>
  new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port, path: "/metrics" }, (res) => {
      let body = ""
      res.on("data", (c: Buffer) => (body += c.toString()))
      res.on("end", () => resolve(body))
    }).on("error", reject).end()
  })
const sample = (body: string, name: string) => Number(/^(\S+) (\S+)$/m.exec(body.split("\n").find((l) => l.startsWith(`${name} `)) ?? "")?.[2] ?? Number.NaN)
const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

export const run = async (): Promise<void> => {
  const skip = apiServerSkipReason()
  if (skip !== undefined) {
    console.log(`  skipped: ${skip}`)
    return
  }
  const bed = await startControllerTestbed()
  try {
    applyYaml(bed.api, poolYaml("bench", ["198.19.0.0/16"]))
    await bed.core.createNamespace({ body: { metadata: { name: namespace } } })
    const profileDir = process.env["METALLB_TS_BENCH_CPU_PROF"]
    if (profileDir !== undefined) process.env["NODE_OPTIONS"] = `--cpu-prof --cpu-prof-dir=${profileDir}`
    const controller = await bed.start("bench-controller", [], { metrics: true, logLevel: "info" })
    if (profileDir !== undefined) delete process.env["NODE_OPTIONS"]
    const pid = controller.child.pid ?? 0
    await eventually("the controller's configuration", async () => {
      const body = await scrape(controller.metricsPort).catch(() => "")
      return sample(body, "metallb_k8s_client_config_loaded_bool") === 1 && sample(body, "metallb_ts_controller_leader_bool") === 1 ? true : undefined
    }, { timeoutMs: 60_000 })
    const cpuAtStart = cpuSeconds(pid)
    const rssAtStartMiB = peakRssMiB(pid)

    const createdAt = new Map<string, number>()
    const addressedAt = new Map<string, number>()
    const addresses = new Map<string, string>()
    const informer = makeInformer(bed.api.kubeConfig, `/api/v1/namespaces/${namespace}/services`, () => bed.core.listNamespacedService({ namespace }))
    const seen = (s: V1Service) => {
      const name = s.metadata?.name ?? ""
      const ips = ingressOf(s)
      if (ips.length > 0 && !addressedAt.has(name)) {
        addressedAt.set(name, performance.now())
        addresses.set(name, ips.join(","))
      }
    }
    informer.on("add", seen)
    informer.on("update", seen)
    await informer.start()

    // The load generator pools its connections too (client-node would open one per request).
    const client = withConnectionReuse(bed.api.kubeConfig).makeApiClient(CoreV1Api)
    const startMs = performance.now()
    let next = 0
    const worker = async () => {
      while (next < services) {
        const name = `svc-${next++}`
        await client.createNamespacedService({
          namespace,
          body: {
            metadata: { name },
            // The NodePort range holds 2,768 ports; a load balancer does not need them.
            spec: { type: "LoadBalancer", allocateLoadBalancerNodePorts: false, selector: { app: name }, ports: [{ port: 80, protocol: "TCP" }] },
          },
        })
        createdAt.set(name, performance.now())
      }
    }
    await Promise.all(Array.from({ length: inFlight }, worker))
    const createdMs = performance.now() - startMs
    await eventually(`${services} addresses`, async () => (addressedAt.size >= services ? true : undefined), { timeoutMs: deadlineMs, intervalMs: 250 })
    const allMs = performance.now() - startMs
    await informer.stop()

    const cpu = cpuSeconds(pid) - cpuAtStart
    const latenciesMs = [...createdAt].map(([name, at]) => Math.max(0, (addressedAt.get(name) ?? Number.NaN) - at)).sort((a, b) => a - b)
    const distinct = new Set(addresses.values()).size
    const body = await scrape(controller.metricsPort)
    const passes = sample(body, "metallb_ts_controller_reconcile_duration_seconds_count")
    const passSeconds = sample(body, "metallb_ts_controller_reconcile_duration_seconds_sum")

    console.log(`\nController: ${services.toLocaleString("en-US")} Services created at once (${inFlight} in flight) against kube-apiserver, one /16 pool`)
    console.log(`  created in ${(createdMs / 1000).toFixed(1)} s; every address in status after ${(allMs / 1000).toFixed(1)} s; ${distinct.toLocaleString("en-US")} distinct addresses`)
    console.log(`  creation -> address in status: p50 ${percentile(latenciesMs, 50).toFixed(0)} ms, p99 ${percentile(latenciesMs, 99).toFixed(0)} ms, max ${(latenciesMs[latenciesMs.length - 1] ?? 0).toFixed(0)} ms`)
    console.log(`  controller CPU: ${cpu.toFixed(1)} s during the burst (${(cpu / services * 1000).toFixed(2)} ms per Service); peak RSS (VmHWM) ${peakRssMiB(pid).toFixed(0)} MiB (${rssAtStartMiB.toFixed(0)} MiB before the burst); V8 heap in use at the end ${(sample(body, "nodejs_heap_used_bytes") / 2 ** 20).toFixed(0)} MiB`)
    console.log(`  controller metrics: ${passes} reconcile passes, ${passSeconds.toFixed(1)} s in them; ${sample(body, "metallb_k8s_client_updates_total")} API writes, ${sample(body, "metallb_k8s_client_update_errors_total")} failed`)
    if (distinct !== services) console.log(`  WARNING: ${services - distinct} addresses given twice`)
    if (profileDir !== undefined) {
      // The profile is written at a graceful exit only.
      const exited = new Promise((r) => controller.child.once("exit", r))
      controller.child.kill("SIGTERM")
      await exited
      console.log(`  controller CPU profile in ${profileDir}`)
    }
  } finally {
    await bed.stop()
  }
}
