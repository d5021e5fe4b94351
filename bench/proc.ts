// What a process costs, read from /proc as `ps` and the kubelet's cAdvisor do: CPU seconds (user + system,
// /proc/<pid>/stat) and memory (VmRSS now, VmHWM the peak, /proc/<pid>/status).
import { readFileSync } from "node:fs"
import { request } from "node:http"

const clockTicksPerSecond = 100 // USER_HZ on Linux

export const cpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond
}
const statusKiB = (pid: number, field: "VmRSS" | "VmHWM"): number =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN)
export const rssMiB = (pid: number): number => statusKiB(pid, "VmRSS") / 1024
export const peakRssMiB = (pid: number): number => statusKiB(pid, "VmHWM") / 1024

/** HTTP GET on 127.0.0.1 (health and plain metrics endpoints); the status code and body, or undefined when refused. */
export const httpGet = (port: number, path: string): Promise<{ readonly status: number; readonly body: string } | undefined> =>
  new Promise((resolve) => {
    request({ host: "127.0.0.1", port, path, timeout: 2_000 }, (res) => {
      let body = ""
      res.on("data", (c: Buffer) => (body += c.toString()))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
    }).on("error", () => resolve(undefined)).on("timeout", function (this: { destroy: () => void }) { this.destroy() }).end()
  })

/** A Prometheus sample's value by its exact name (no labels). */
export const sample = (body: string, name: string): number =>
  Number(/^(\S+) (\S+)$/m.exec(body.split("\n").find((l) => l.startsWith(`${name} `)) ?? "")?.[2] ?? Number.NaN)
