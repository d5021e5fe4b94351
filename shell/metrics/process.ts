// The standard process_* series every Prometheus client exports (CPU seconds, resident memory, start
// time, heap), read at scrape time, so the controller's and speaker's cost shows next to their work.
import type { Registry } from "./registry.ts"

const startTimeSeconds = Math.floor((performance.timeOrigin) / 1000)

export const registerProcessMetrics = (registry: Registry): void => {
  registry.collect("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter", () => {
    const usage = process.cpuUsage()
    return [{ labels: {}, value: (usage.user + usage.system) / 1e6 }]
  })
  registry.collect("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", () => [{ labels: {}, value: process.memoryUsage.rss() }])
  registry.collect("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge", () => [{ labels: {}, value: startTimeSeconds }])
  registry.collect("nodejs_heap_used_bytes", "V8 heap in use, in bytes.", "gauge", () => [{ labels: {}, value: process.memoryUsage().heapUsed }])
}
