// The controller at scale against the real API server (issues 7 and 17): the real `metallb-ts controller`
// process runs as its ServiceAccount with the manifests' RBAC and one /16 pool; 5,000 LoadBalancer Services
// (METALLB_TS_BENCH_SERVICES=20000 for the large case, =5000,20000 for both on fresh API servers and
// the burst CPU per Service compared between them; it takes several minutes here) are created at
// once (64 requests in flight). One run prints every footprint figure of issue 17 against its target:
// start-up (RSS, CPU, wall time to /readyz), the burst (time from each create call returning to its address
// in status, seen through a watch; CPU per Service; peak RSS; watch MODIFIED events per Service, i.e. the
// API writes other clients see), idle CPU with the Services settled, a restart (CPU, time to /readyz,
// addresses changed) and the mass delete. CPU and memory come from /proc/<pid>; CPU seconds hold on a
// loaded machine, wall-clock figures (times to IP, to ready) vary with the load.
// METALLB_TS_BENCH_CPU_PROF=<dir> also writes the controller's V8 CPU profile there.
// METALLB_TS_BENCH_NODE_FLAGS="--max-semi-space-size=2 ..." runs the measured controller with those Node/V8
// flags (NODE_OPTIONS), as a manifest would set them; the .ts baseline runs without.
// The controller runs as the image runs it, from the bundle (shell/image/bundle.ts, built first); the
// start-up of the .ts entry (type stripping, every module linked) is measured in the same run as the baseline.
import { CoreV1Api, makeInformer, type V1Service } from "@kubernetes/client-node"
import { defaultLeaseDurationSeconds } from "../core/controller/leader.ts"
import { bundleFile, buildBundle } from "../shell/image/bundle.ts"
import { withConnectionReuse } from "../shell/kube/kube-config.ts"
import { apiServerSkipReason, freePorts } from "../spec/support/apiserver.ts"
import { applyYaml, type ControllerProcess, type ControllerTestbed, ingressOf, poolYaml, startControllerTestbed } from "../spec/support/controller-process.ts"
import { eventually, sleep } from "../spec/support/netns.ts"
import { printTarget } from "./harness.ts"
import { cpuSeconds, httpGet, peakRssMiB, rssMiB, sample } from "./proc.ts"

const sizes = (process.env["METALLB_TS_BENCH_SERVICES"] ?? "5000").split(",").map((text) => {
  const n = Number(text.trim())
  if (!Number.isInteger(n) || n < 1) throw new Error(`METALLB_TS_BENCH_SERVICES: ${JSON.stringify(text)} is not a positive whole number (e.g. 5000 or 5000,20000)`)
  return n
})
const inFlight = 64
const namespace = "bench"
/** Burst CPU per Service at the largest size over the smallest: "flat" allows this much. */
const flatRatio = 1.25
/** Idle CPU is measured over this window and scaled to a minute. */
const idleWindowMs = 30_000
/** Settled: no watch event for this long. */
const quietMs = 3_000
const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
const mib = (n: number) => `${n.toFixed(0)} MiB`

/**
 * An API call retried when the loaded API server times out (504) or throttles (429), up to 10 times; a
 * retried create may find its Service made by the timed-out try (409), a retried delete may find it gone
 * (404): both are the wanted end.
 */
const persist = async (call: () => Promise<unknown>, done: number): Promise<void> => {
  for (let attempt = 1; ; attempt++) {
    try {
      await call()
      return
    } catch (error) {
      const code = (error as { readonly code?: number }).code
      if (attempt > 1 && code === done) return
      // A 20,000 run on a loaded machine met five 504s in a row for one create and died there.
      if (attempt >= 10 || (code !== 504 && code !== 429)) throw error
      await sleep(500 * attempt)
    }
  }
}

/** Node/V8 flags for the measured controller (METALLB_TS_BENCH_NODE_FLAGS). */
const nodeFlags = process.env["METALLB_TS_BENCH_NODE_FLAGS"] ?? ""

/** Runs `start` with NODE_OPTIONS set to `flags` (the child process inherits the environment), then restores it. */
const withNodeFlags = async <A>(flags: ReadonlyArray<string>, start: () => Promise<A>): Promise<A> => {
  const saved = process.env["NODE_OPTIONS"]
  const options = flags.filter((f) => f !== "").join(" ")
  if (options !== "") process.env["NODE_OPTIONS"] = options
  try {
    return await start()
  } finally {
    if (saved === undefined) delete process.env["NODE_OPTIONS"]
    else process.env["NODE_OPTIONS"] = saved
  }
}

interface Started {
  readonly controller: ControllerProcess
  readonly pid: number
  readonly healthPort: number
  /** Wall time from spawn to the first 200 from /readyz. */
  readonly readyMs: number
}

const startTimed = async (bed: ControllerTestbed, entry: string = bundleFile): Promise<Started> => {
  const [healthPort = 0] = await freePorts(1)
  const spawnedAt = performance.now()
  // The Deployment's lease (15 s: a renewal every 5 s), not the testbed's 3 s one (a renewal every second),
  // so idle CPU is what a cluster's controller spends.
  const controller = await bed.start("bench-controller", ["--health-port", String(healthPort), "--lease-duration-seconds", String(defaultLeaseDurationSeconds)], { metrics: true, logLevel: "info", entry })
  await eventually("the controller's /readyz", async () => {
    if (controller.child.exitCode !== null) throw new Error(`controller exited:\n${controller.output().slice(-2000)}`)
    return (await httpGet(healthPort, "/readyz"))?.status === 200 ? true : undefined
  }, { timeoutMs: 60_000, intervalMs: 10 })
  return { controller, pid: controller.child.pid ?? 0, healthPort, readyMs: performance.now() - spawnedAt }
}

const waitLeaderWithConfig = (c: Started) =>
  eventually("the controller's configuration and leadership", async () => {
    const body = (await httpGet(c.controller.metricsPort, "/metrics"))?.body ?? ""
    return sample(body, "metallb_k8s_client_config_loaded_bool") === 1 && sample(body, "metallb_ts_controller_leader_bool") === 1 ? true : undefined
  }, { timeoutMs: 60_000, intervalMs: 50 })

export const run = async (): Promise<void> => {
  const skip = apiServerSkipReason()
  if (skip !== undefined) {
    console.log(`  skipped: ${skip}`)
    return
  }
  const bundle = await buildBundle({ repoRoot: new URL("..", import.meta.url).pathname })
  const perService: Array<readonly [number, number]> = []
  for (const services of sizes) perService.push([services, await runAt(services, bundle)])
  if (perService.length > 1) {
    const [[fewest, low] = [0, Number.NaN], [most, high] = [0, Number.NaN]] = [...perService].sort((a, b) => a[0] - b[0]).filter((_, i, all) => i === 0 || i === all.length - 1)
    console.log(`\nController burst CPU per Service, ${fewest.toLocaleString("en-US")} -> ${most.toLocaleString("en-US")} Services: ${low.toFixed(2)} -> ${high.toFixed(2)} ms`)
    printTarget(`burst CPU per Service at ${most.toLocaleString("en-US")} over ${fewest.toLocaleString("en-US")} (flat)`, high / low, "x", flatRatio)
  }
}

/** One run at `services`; returns the burst's controller CPU per created Service (ms). */
const runAt = async (services: number, bundle: { readonly bytes: number; readonly inputs: number }): Promise<number> => {
  const deadlineMs = 150_000 + services * 30
  const bed = await startControllerTestbed()
  try {
    applyYaml(bed.api, poolYaml("bench", ["198.19.0.0/16"]))
    await bed.core.createNamespace({ body: { metadata: { name: namespace } } })
    // The baseline: the same start-up from the .ts entry, then stopped.
    const fromSources = await startTimed(bed, "shell/main/cli.ts")
    const sourcesCpuAtReady = cpuSeconds(fromSources.pid)
    await waitLeaderWithConfig(fromSources)
    const sourcesRssMiB = rssMiB(fromSources.pid)
    await fromSources.controller.kill()
    const profileDir = process.env["METALLB_TS_BENCH_CPU_PROF"]
    const first = await withNodeFlags([nodeFlags, profileDir === undefined ? "" : `--cpu-prof --cpu-prof-dir=${profileDir}`], () => startTimed(bed))
    const startupCpu = cpuSeconds(first.pid)
    const rssAtReadyMiB = rssMiB(first.pid)
    await waitLeaderWithConfig(first)
    const cpuAtStart = cpuSeconds(first.pid)
    const rssAtStartMiB = rssMiB(first.pid)

    // Every watch event of the bench namespace's Services: the first address seen, the latest addresses,
    // and the MODIFIED events per Service (each one an API write some client caused).
    const createdAt = new Map<string, number>()
    const addressedAt = new Map<string, number>()
    const addresses = new Map<string, string>()
    let modified = 0
    let lastEventMs = performance.now()
    const informer = makeInformer(bed.api.kubeConfig, `/api/v1/namespaces/${namespace}/services`, () => bed.core.listNamespacedService({ namespace }))
    const seen = (s: V1Service) => {
      lastEventMs = performance.now()
      const name = s.metadata?.name ?? ""
      const ips = ingressOf(s).join(",")
      if (ips !== "" && !addressedAt.has(name)) addressedAt.set(name, lastEventMs)
      if (ips !== "") addresses.set(name, ips)
    }
    informer.on("add", seen)
    informer.on("update", (s) => {
      modified++
      seen(s)
    })
    informer.on("delete", (s) => {
      lastEventMs = performance.now()
      addresses.delete(s.metadata?.name ?? "")
    })
    await informer.start()
    const settled = (what: string) =>
      eventually(what, async () => (performance.now() - lastEventMs >= quietMs ? true : undefined), { timeoutMs: deadlineMs, intervalMs: 250 })

    // The load generator pools its connections too (client-node would open one per request).
    const client = withConnectionReuse(bed.api.kubeConfig).makeApiClient(CoreV1Api)
    const inParallel = async (work: (index: number) => Promise<unknown>) => {
      let next = 0
      await Promise.all(Array.from({ length: inFlight }, async () => {
        while (next < services) await work(next++)
      }))
    }
    const startMs = performance.now()
    await inParallel(async (i) => {
      const name = `svc-${i}`
      await persist(() => client.createNamespacedService({
        namespace,
        body: {
          metadata: { name },
          // The NodePort range holds 2,768 ports; a load balancer does not need them.
          spec: { type: "LoadBalancer", allocateLoadBalancerNodePorts: false, selector: { app: name }, ports: [{ port: 80, protocol: "TCP" }] },
        },
      }), 409)
      createdAt.set(name, performance.now())
    })
    const createdMs = performance.now() - startMs
    await eventually(`${services} addresses`, async () => (addressedAt.size >= services ? true : undefined), { timeoutMs: deadlineMs, intervalMs: 250 })
    const allMs = performance.now() - startMs
    const burstCpu = cpuSeconds(first.pid) - cpuAtStart
    await settled("the burst's writes to settle")
    const modifiedInBurst = modified
    const peakMiB = peakRssMiB(first.pid)
    const metrics = (await httpGet(first.controller.metricsPort, "/metrics"))?.body ?? ""

    const idleFrom = cpuSeconds(first.pid)
    const modifiedBeforeIdle = modified
    await sleep(idleWindowMs)
    const idlePerMinute = (cpuSeconds(first.pid) - idleFrom) * (60_000 / idleWindowMs)
    const writesWhileIdle = modified - modifiedBeforeIdle
    const rssSettledMiB = rssMiB(first.pid)

    if (profileDir !== undefined) {
      // The profile is written at a graceful exit only.
      const exited = new Promise((r) => first.controller.child.once("exit", r))
      first.controller.child.kill("SIGTERM")
      await exited
      console.log(`  controller CPU profile in ${profileDir}`)
    }
    // The restart: the process is killed and a new one (same identity, so its Lease is its own) lists
    // every Service and must change no address.
    const before = new Map(addresses)
    await first.controller.kill()
    const modifiedBeforeRestart = modified
    const second = await withNodeFlags([nodeFlags], () => startTimed(bed))
    const restartCpuAtReady = cpuSeconds(second.pid)
    await waitLeaderWithConfig(second)
    await sleep(quietMs)
    await settled("the restart to settle")
    const restartCpu = cpuSeconds(second.pid)
    const changed = [...before].filter(([name, ips]) => addresses.get(name) !== ips).length
    const restartWrites = modified - modifiedBeforeRestart

    const deleteFrom = cpuSeconds(second.pid)
    const deleteStartMs = performance.now()
    await inParallel((i) => persist(() => client.deleteNamespacedService({ name: `svc-${i}`, namespace }), 404))
    await eventually("every Service gone", async () => (addresses.size === 0 ? true : undefined), { timeoutMs: deadlineMs, intervalMs: 250 })
    await sleep(quietMs)
    const deleteCpu = cpuSeconds(second.pid) - deleteFrom
    const deleteMs = performance.now() - deleteStartMs
    await informer.stop()

    const latenciesMs = [...createdAt].map(([name, at]) => Math.max(0, (addressedAt.get(name) ?? Number.NaN) - at)).sort((a, b) => a - b)
    const distinct = new Set(before.values()).size
    const large = services >= 20_000
    const n = services.toLocaleString("en-US")
    console.log(`\nController: ${n} Services created at once (${inFlight} in flight) against kube-apiserver, one /16 pool`)
    console.log(`  created in ${(createdMs / 1000).toFixed(1)} s; every address in status after ${(allMs / 1000).toFixed(1)} s; ${distinct.toLocaleString("en-US")} distinct addresses`)
    console.log(`  creation -> address in status: p50 ${percentile(latenciesMs, 50).toFixed(0)} ms, p99 ${percentile(latenciesMs, 99).toFixed(0)} ms, max ${(latenciesMs[latenciesMs.length - 1] ?? 0).toFixed(0)} ms`)
    console.log(`  controller metrics: ${sample(metrics, "metallb_ts_controller_reconcile_duration_seconds_count")} reconcile passes, ${sample(metrics, "metallb_ts_controller_reconcile_duration_seconds_sum").toFixed(1)} s in them; ${sample(metrics, "metallb_k8s_client_updates_total")} API writes, ${sample(metrics, "metallb_k8s_client_update_errors_total")} failed; V8 heap in use ${mib(sample(metrics, "nodejs_heap_used_bytes") / 2 ** 20)}`)
    if (distinct !== services) console.log(`  WARNING: ${services - distinct} addresses given twice or missing`)
    console.log(`\nController footprint (issue 17; CPU from /proc/<pid>/stat, RSS from /proc/<pid>/status; wall-clock times vary with the machine's load, CPU seconds much less)`)
    console.log(`  the process runs ${bundleFile} (${(bundle.bytes / 2 ** 20).toFixed(1)} MiB from ${bundle.inputs} files), as the image does; baseline: shell/main/cli.ts`)
    console.log(`  Node flags: ${nodeFlags === "" ? "none (METALLB_TS_BENCH_NODE_FLAGS)" : nodeFlags}`)
    printTarget("RSS at start (no Services, leader, config loaded)", rssAtStartMiB, "MiB", 64, `${mib(rssAtReadyMiB)} at /readyz; from the .ts: ${mib(sourcesRssMiB)}`)
    printTarget("start-up CPU, spawn to /readyz", startupCpu, "s", 0.5, `${cpuAtStart.toFixed(2)} s once leader with the config loaded; from the .ts: ${sourcesCpuAtReady.toFixed(2)} s`)
    console.log(`  start-up wall time to /readyz: ${(first.readyMs / 1000).toFixed(2)} s (MetalLB: 0.09 s)`)
    printTarget(`peak RSS (VmHWM) with ${n} Services`, peakMiB, "MiB", large ? 240 : 128, `${mib(rssSettledMiB)} once settled`)
    printTarget(`time to IP p99 at ${n}`, percentile(latenciesMs, 99) / 1000, "s", large ? 1 : 0.5)
    printTarget(`idle CPU per minute, ${n} settled`, idlePerMinute, "s", 0.1, `measured over ${idleWindowMs / 1000} s and scaled to 60 s; the target is for 20,000; ${writesWhileIdle} watch events meanwhile`)
    printTarget("API writes per Service (watch MODIFIED events in the burst)", modifiedInBurst / services, "", 1, `${modifiedInBurst} events; MetalLB's controller causes 1`)
    console.log(`  CPU for the burst: ${burstCpu.toFixed(1)} s, ${(burstCpu / services * 1000).toFixed(2)} ms per created Service (flat from 5,000 to 20,000 is the target: METALLB_TS_BENCH_SERVICES=5000,20000 compares them)`)
    console.log(`  restart (kill, new process lists ${n} Services): /readyz after ${(second.readyMs / 1000).toFixed(2)} s wall, ${restartCpuAtReady.toFixed(2)} s CPU; CPU until settled ${restartCpu.toFixed(2)} s; ${changed} addresses changed; ${restartWrites} watch events`)
    printTarget("addresses changed by the restart", changed, "", 0)
    console.log(`  mass delete of ${n} Services: controller CPU ${deleteCpu.toFixed(2)} s over ${(deleteMs / 1000).toFixed(1)} s`)
    return burstCpu / services * 1000
  } finally {
    await bed.stop()
  }
}
