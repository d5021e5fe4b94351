// The client's view of a Service during a failure or an update: a new HTTP request every `intervalMs`
// (20 ms), whether or not earlier ones have answered, so the moment service comes back is known to
// within one interval (a probe that waits for each answer, or arping's 1 s, would blur it by the
// timeout). Each request is a fresh connection; its start, end, success, body (which pod answered) and
// local port (to find a failed one in a capture) are kept. Runs as a separate node process in the
// client's namespace.
import { httpGet } from "../lab.ts"
import { eventually, type Host } from "../netns.ts"

export interface Attempt {
  readonly t0: number
  readonly t1: number
  readonly ok: boolean
  readonly body?: string
  readonly error?: string
  /** The connection's local port, once connected. */
  readonly localPort?: number
}

const script = `
import { request } from "node:http"
const { url, durationMs, intervalMs, timeoutMs } = JSON.parse(process.env.MLBT_FAST_PROBE)
const results = []
const once = () => new Promise((resolve) => {
  const t0 = Date.now()
  let done = false
  let localPort
  const finish = (r) => { if (!done) { done = true; results.push({ t0, t1: Date.now(), localPort, ...r }); resolve() } }
  const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
    let body = ""
    res.setEncoding("utf8")
    res.on("data", (c) => { body += c })
    res.on("end", () => finish({ ok: res.statusCode === 200, body: body.trim() }))
    res.on("error", (e) => finish({ ok: false, error: e.message }))
  })
  req.on("socket", (socket) => socket.on("connect", () => { localPort = socket.localPort }))
  req.on("timeout", () => req.destroy(new Error("timeout")))
  req.on("error", (e) => finish({ ok: false, error: e.message }))
  req.end()
})
console.log(JSON.stringify({ started: Date.now() }))
const pending = []
let end = Date.now() + durationMs
// Asked to stop early (the update it watched is over): no new request, the ones in flight finish.
process.on("SIGTERM", () => { end = 0 })
while (Date.now() < end) {
  pending.push(once())
  await new Promise((r) => setTimeout(r, intervalMs))
}
await Promise.all(pending)
for (const r of results.sort((a, b) => a.t0 - b.t0)) console.log(JSON.stringify(r))
`

export interface FastProbe {
  readonly started: Promise<void>
  /** Every attempt, once the probe ran its duration (or, with `stopNow`, once the requests in flight ended). */
  readonly results: (options?: { readonly stopNow?: boolean }) => Promise<ReadonlyArray<Attempt>>
}

export const startFastProbe = (
  host: Host,
  url: string,
  options: { readonly durationMs: number; readonly intervalMs?: number; readonly timeoutMs?: number },
): FastProbe => {
  const config = { url, durationMs: options.durationMs, intervalMs: options.intervalMs ?? 20, timeoutMs: options.timeoutMs ?? 1_000 }
  const child = host.spawn(process.execPath, ["--input-type=module", "-e", script], { env: { MLBT_FAST_PROBE: JSON.stringify(config) } })
  const lines = () => child.output().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>)
  return {
    started: eventually("the probe to start", async () => (lines().some((l) => "started" in l) ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 }).then(() => undefined),
    results: async (options) => {
      if (options?.stopNow === true && child.child.pid !== undefined && child.child.exitCode === null) {
        try {
          process.kill(-child.child.pid, "SIGTERM")
        } catch {
          // already gone
        }
      }
      await child.exited
      return lines().filter((l) => "t0" in l) as unknown as ReadonlyArray<Attempt>
    },
  }
}

export interface Outage {
  /** From `fromMs` to the start of the first request that succeeded after the first failure (0: none failed). */
  readonly outageMs: number
  readonly failures: number
  readonly attempts: number
}

/** How long the client could not get through after `fromMs`, to within the probe's interval. */
export const outageAfter = (attempts: ReadonlyArray<Attempt>, fromMs: number): Outage => {
  const after = attempts.filter((a) => a.t1 >= fromMs)
  const firstFailure = after.find((a) => !a.ok)
  const failures = after.filter((a) => !a.ok).length
  if (firstFailure === undefined) return { outageMs: 0, failures, attempts: after.length }
  const back = after.find((a) => a.ok && a.t0 > firstFailure.t0)
  if (back === undefined) throw new Error(`the client never got through again after ${fromMs} (${failures} failures of ${after.length} attempts)`)
  return { outageMs: Math.max(0, back.t0 - fromMs), failures, attempts: after.length }
}

/** One request from `host` (a fresh connection): the page's text without its newline, or undefined on failure. */
export const get = async (host: Host, url: string, timeoutMs = 2_000): Promise<string | undefined> =>
  (await httpGet(host, url, timeoutMs))?.trim()
