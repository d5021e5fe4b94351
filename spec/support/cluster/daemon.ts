// The cluster's long-running processes (containerd, kubelet, kube-proxy, kube-controller-manager,
// kube-scheduler): output to a log file (their logs are large; a pipe nobody drains would stall them),
// their own process group, and `nsenter --net` only for the node daemons: `ip netns exec` would give
// each its own mount namespace, and containerd/runc must see the volumes the kubelet mounts.
import { type ChildProcess, spawn } from "node:child_process"
import { appendFileSync, closeSync, openSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { sleep } from "../netns.ts"

export interface Daemon {
  readonly name: string
  readonly pid: number
  readonly logPath: string
  readonly alive: () => boolean
  /** The last `lines` lines of its log. */
  readonly tail: (lines?: number) => string
  /** SIGTERM (or `signal`), SIGKILL after `graceMs`; resolves once it has exited. */
  readonly stop: (options?: { readonly signal?: NodeJS.Signals; readonly graceMs?: number }) => Promise<void>
}

export const logTail = (path: string, lines = 25): string => {
  try {
    return readFileSync(path, "utf8").split("\n").filter(Boolean).slice(-lines).join("\n")
  } catch {
    return "(no log)"
  }
}

export const startDaemon = (
  name: string,
  argv: ReadonlyArray<string>,
  options: { readonly logDir: string; readonly netnsPath?: string },
): Daemon => {
  const logPath = join(options.logDir, `${name}.log`)
  const fd = openSync(logPath, "a")
  const full = options.netnsPath === undefined ? [...argv] : ["nsenter", `--net=${options.netnsPath}`, "--", ...argv]
  const [command = "false", ...args] = full
  const child: ChildProcess = spawn(command, args, { stdio: ["ignore", fd, fd], detached: true })
  closeSync(fd)
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command}): see ${logPath}`)
  const pid = child.pid
  let exited = false
  const exit = new Promise<void>((resolve) => {
    child.once("exit", () => {
      exited = true
      resolve()
    })
    child.once("error", (error) => {
      appendFileSync(logPath, `spawn failed: ${error.message}\n`)
      exited = true
      resolve()
    })
  })
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pid, s)
    } catch {
      // already gone
    }
  }
  return {
    name,
    pid,
    logPath,
    alive: () => !exited,
    tail: (lines) => logTail(logPath, lines),
    stop: async (stopOptions = {}) => {
      if (exited) return
      signal(stopOptions.signal ?? "SIGTERM")
      const timedOut = await Promise.race([exit.then(() => false), sleep(stopOptions.graceMs ?? 5_000).then(() => true)])
      if (timedOut) {
        signal("SIGKILL")
        await exit
      }
    },
  }
}
