// `npm run lab`: brings the end-to-end lab (spec/support/lab.ts) up in a background process and leaves
// it running, with the lab's configuration and two demo Services (Layer 2 dual-stack, BGP), then prints
// the kubeconfig, the namespaces and how to reach the client. `npm run lab -- down` stops it and removes
// every namespace, link and process it made; `npm run lab -- status` prints the same summary again.
// The background process owns the lab (its pid is in every name), so a lab whose process died is
// swept by `down` and by the next test run.
import { spawn } from "node:child_process"
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { kubeBinDir } from "./apiserver.ts"
import { createService, labConfigYaml, labSkipReason, plan, startE2eLab, sweepSubnetLeases, waitForIngress } from "./lab.ts"
import { sleep, sweepStaleLabs } from "./netns.ts"

const stateDir = join(tmpdir(), "metallb-ts-lab")
const statePath = join(stateDir, "state.json")
const logPath = join(stateDir, "lab.log")

interface LabState {
  readonly pid: number
  readonly phase: "starting" | "ready" | "failed"
  readonly error?: string
  readonly kubeconfig?: string
  readonly apiServer?: string
  /** Processes outside the lab's namespaces (etcd, kube-apiserver, controller), ended by `down` if the owner died. */
  readonly processIds?: ReadonlyArray<number>
  /** Scratch directories (the lab's, the API server's), removed by `down` if the owner died. */
  readonly dirs?: ReadonlyArray<string>
  readonly namespaces?: Readonly<Record<string, string>>
  readonly services?: Readonly<Record<string, ReadonlyArray<string>>>
  /** FRR's instance directory (its vtysh socket directory). */
  readonly frrDir?: string
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const readState = (): LabState | undefined => {
  try {
    return JSON.parse(readFileSync(statePath, "utf8")) as LabState
  } catch {
    return undefined
  }
}

const writeState = (state: LabState) => writeFileSync(statePath, `${JSON.stringify(state, null, 2)}\n`)

const describeLab = (state: LabState): string => {
  const ns = state.namespaces ?? {}
  const kubectl = join(kubeBinDir(), "kubectl")
  const client = ns["client"] ?? "<client>"
  const [l2v4 = "", l2v6 = ""] = state.services?.["demo-l2"] ?? []
  const [bgp = ""] = state.services?.["demo-bgp"] ?? []
  return [
    `metallb-ts lab running (pid ${state.pid}), API server ${state.apiServer}`,
    "",
    `kubeconfig (cluster-admin): ${state.kubeconfig}`,
    `  ${kubectl} --kubeconfig ${state.kubeconfig} get services,ipaddresspools -A`,
    "",
    "namespaces (ip netns exec <name> ...):",
    ...Object.entries(ns).map(([role, name]) => `  ${role.padEnd(8)} ${name}`),
    "",
    `the client (${plan.client4}, ${plan.client6} on the nodes' segment; ${plan.wanClient4} towards the router):`,
    `  ip netns exec ${client} curl -s http://${l2v4}/            # demo-l2 over ARP`,
    `  ip netns exec ${client} curl -s -g http://[${l2v6}]/   # demo-l2 over NDP`,
    `  ip netns exec ${client} curl -s http://${bgp}/              # demo-bgp through the router (ECMP)`,
    `  vtysh --vty_socket ${state.frrDir} -d bgpd -c "show bgp ipv4 unicast"     # the router's view`,
    `  ip netns exec ${ns["router"] ?? "<router>"} ip route`,
    "",
    `log: ${logPath}`,
    "stop and remove everything: npm run lab -- down",
  ].join("\n")
}

/** The background process: holds the lab until SIGTERM/SIGINT. */
const serve = async (): Promise<void> => {
  let closing: Promise<void> | undefined
  const lab = await startE2eLab({ label: "lab", log: (line) => console.log(`[lab] ${line}`) })
  const stop = () => {
    closing ??= lab.close().finally(() => {
      rmSync(statePath, { force: true })
      process.exit(0)
    })
  }
  process.on("SIGTERM", stop)
  process.on("SIGINT", stop)
  const dirs = [lab.dir, dirname(lab.kubeconfigPath)]
  writeState({ pid: process.pid, phase: "starting", processIds: lab.processIds(), dirs })
  let services: Record<string, ReadonlyArray<string>>
  try {
    lab.apply(labConfigYaml())
    await createService(lab.api, { name: "demo-l2", pool: "l2", families: "dual", endpointNodes: lab.nodes })
    await createService(lab.api, { name: "demo-bgp", pool: "bgp", families: "IPv4", endpointNodes: lab.nodes })
    services = { "demo-l2": await waitForIngress(lab.api, "demo-l2", 2), "demo-bgp": await waitForIngress(lab.api, "demo-bgp", 1) }
  } catch (error) {
    await lab.close()
    throw error
  }
  writeState({
    pid: process.pid,
    phase: "ready",
    kubeconfig: lab.kubeconfigPath,
    apiServer: lab.api.url,
    processIds: lab.processIds(),
    dirs,
    namespaces: {
      client: lab.client.netns,
      router: lab.router.host.netns,
      segment: lab.segment.host.netns,
      ...Object.fromEntries(lab.nodes.map((n) => [n.name, n.host.netns])),
    },
    services,
    frrDir: lab.router.dir,
  })
  console.log("[lab] ready")
  // Stays up until told to stop.
  await new Promise(() => undefined)
}

const up = async (): Promise<number> => {
  const existing = readState()
  if (existing !== undefined && isAlive(existing.pid)) {
    if (existing.phase === "ready") {
      console.log(`already running\n\n${describeLab(existing)}`)
      return 0
    }
    console.log(`a lab is ${existing.phase} (pid ${existing.pid}); see ${logPath}, or: npm run lab -- down`)
    return 1
  }
  const reason = labSkipReason()
  if (reason !== undefined) {
    console.error(`cannot start the lab: ${reason}`)
    return 1
  }
  mkdirSync(stateDir, { recursive: true })
  rmSync(statePath, { force: true })
  const log = openSync(logPath, "w")
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, "serve"], { detached: true, stdio: ["ignore", log, log] })
  closeSync(log)
  child.unref()
  const pid = child.pid ?? 0
  console.log(`starting the lab (pid ${pid}, log ${logPath}) ...`)
  const deadline = Date.now() + 180_000
  while (Date.now() < deadline) {
    await sleep(250)
    const state = readState()
    if (state?.phase === "ready") {
      console.log(`\n${describeLab(state)}`)
      return 0
    }
    if (state?.phase === "failed" || !isAlive(pid)) {
      console.error(`the lab did not come up:\n${readFileSync(logPath, "utf8").split("\n").slice(-40).join("\n")}`)
      await down()
      return 1
    }
  }
  console.error(`the lab was not ready within 180 s; see ${logPath}`)
  await down()
  return 1
}

const down = async (): Promise<number> => {
  const state = readState()
  if (state !== undefined && isAlive(state.pid)) {
    process.kill(state.pid, "SIGTERM")
    for (let i = 0; i < 120 && isAlive(state.pid); i++) await sleep(250)
    if (isAlive(state.pid)) process.kill(state.pid, "SIGKILL")
  }
  // Whatever a dead owner left behind: its API server and etcd, namespaces and root links.
  for (const pid of state?.processIds ?? []) if (isAlive(pid)) process.kill(pid, "SIGKILL")
  // The router's instance directory carries the owner's pid in its name.
  const owned = state === undefined ? [] : readdirSync(tmpdir()).filter((name) => name.startsWith(`mlbt-${state.pid}-`)).map((name) => join(tmpdir(), name))
  for (const dir of [...(state?.dirs ?? []), ...owned]) rmSync(dir, { recursive: true, force: true })
  await sweepStaleLabs()
  sweepSubnetLeases()
  rmSync(statePath, { force: true })
  console.log(state === undefined ? "no lab was running (stale leftovers swept)" : `lab ${state.pid} stopped and removed`)
  return 0
}

const status = (): number => {
  const state = readState()
  if (state === undefined || !isAlive(state.pid)) {
    console.log("no lab running")
    return 1
  }
  console.log(state.phase === "ready" ? describeLab(state) : `lab ${state.pid} is ${state.phase}`)
  return 0
}

const command = process.argv[2] ?? "up"
switch (command) {
  case "up":
    process.exitCode = await up()
    break
  case "down":
    process.exitCode = await down()
    break
  case "status":
    process.exitCode = status()
    break
  case "serve":
    await serve().catch((error: unknown) => {
      console.error(`[lab] failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`)
      if (existsSync(stateDir)) writeState({ pid: process.pid, phase: "failed", error: String(error) })
      process.exit(1)
    })
    break
  default:
    console.error(`usage: npm run lab [-- up|down|status]`)
    process.exitCode = 2
}
