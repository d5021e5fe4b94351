// Starting, awaiting and stopping a cluster's owning process (spec/support/cluster-cli.ts `serve`)
// from another process: `npm run cluster` and the e2e tests (shared.ts).
import { spawn } from "node:child_process"
import { closeSync, mkdirSync, openSync, rmSync } from "node:fs"
import { isAlive, sleep } from "../netns.ts"
import { sweepStaleClusters } from "./cluster.ts"
import { logTail } from "./daemon.ts"
import { type ClusterState, clusterStateDir, logPath, readState, statePath } from "./state.ts"

const cliPath = new URL("../cluster-cli.ts", import.meta.url).pathname

/** Starts `serve` detached, logging to the slot's log file; returns its pid. */
export const spawnServe = (slot: string, args: ReadonlyArray<string>): number => {
  mkdirSync(clusterStateDir, { recursive: true })
  const log = openSync(logPath(slot), "w")
  const child = spawn(process.execPath, [cliPath, "serve", slot, ...args], { detached: true, stdio: ["ignore", log, log] })
  closeSync(log)
  child.unref()
  return child.pid ?? 0
}

/** Waits for the slot's cluster to be ready; a failure carries the log's tail. */
export const waitReady = async (slot: string, pid: number, timeoutMs: number): Promise<ClusterState> => {
  const deadline = performance.now() + timeoutMs
  let why = `was not ready in ${timeoutMs} ms`
  while (performance.now() < deadline) {
    const state = readState(slot)
    if (state?.phase === "ready" && state.pid === pid) return state
    if (state?.phase === "failed" || !isAlive(pid)) {
      why = "failed"
      break
    }
    await sleep(250)
  }
  throw new Error(`the cluster (slot ${slot}, pid ${pid}) ${why}; ${logPath(slot)}:\n${logTail(logPath(slot), 60)}`)
}

/**
 * Stops the slot's cluster process, which removes what it made, waiting up to `waitMs` for it (then
 * SIGKILL and a sweep of what it left). With `waitMs` 0 it only asks: the process cleans up on its own.
 */
export const stopSlot = async (slot: string, waitMs = 120_000): Promise<ClusterState | undefined> => {
  const state = readState(slot)
  if (state !== undefined && isAlive(state.pid)) {
    process.kill(state.pid, "SIGTERM")
    if (waitMs === 0) return state
    const deadline = performance.now() + waitMs
    while (performance.now() < deadline && isAlive(state.pid)) await sleep(250)
    if (isAlive(state.pid)) process.kill(state.pid, "SIGKILL")
  }
  rmSync(statePath(slot), { force: true })
  await sweepStaleClusters()
  return state
}
