// The controller's Prometheus series. MetalLB's names and labels (METALLB.md §6) so existing dashboards
// and alerts keep working: the allocator gauges per pool, and the k8s client's update counters and
// configuration flags. Our own series are prefixed metallb_ts_. Pool gauges are exact (bigint) and are
// only exported by the replica that leads: a follower's allocator is not kept current.
import type { PoolStats } from "../../core/ipam/pool-state.ts"
import { exponentialBuckets, makeRegistry, type Registry, type Sample } from "../metrics/registry.ts"
import { registerProcessMetrics } from "../metrics/process.ts"
import { registerK8sClientMetrics } from "./k8s-client-metrics.ts"

export interface ControllerMetrics {
  readonly registry: Registry
  /** One write to the API server (status, annotation, event, pool status, ConfigurationState). */
  readonly apiWrite: (ok: boolean) => void
  readonly config: (flags: { readonly loaded: boolean; readonly stale: boolean }) => void
  /** One pass: its duration (writes excluded: they are queued), the services seen and those recomputed. */
  readonly reconciled: (seconds: number, services: number, recomputed: number) => void
  readonly setPendingWrites: (size: () => number) => void
  /** A service got its first address, this long after it was created. */
  readonly addressAssigned: (secondsSinceCreation: number) => void
  readonly leading: (leading: boolean) => void
  /** Where the pool gauges read from (undefined: not leading, no pool series). */
  readonly setPoolSource: (source: (() => ReadonlyArray<{ readonly pool: string; readonly stats: PoolStats }>) | undefined) => void
}

export const makeControllerMetrics = (): ControllerMetrics => {
  const registry = makeRegistry()
  let poolSource: (() => ReadonlyArray<{ readonly pool: string; readonly stats: PoolStats }>) | undefined
  const pools = (value: (stats: PoolStats) => bigint) => (): ReadonlyArray<Sample> =>
    (poolSource?.() ?? []).map(({ pool, stats }) => ({ labels: { pool }, value: value(stats) }))
  const allocator = [
    ["addresses_total", "Number of usable IP addresses, per pool", (s: PoolStats) => s.capacity.ipv4 + s.capacity.ipv6],
    ["ipv4_addresses_total", "Number of usable IPv4 addresses, per pool", (s: PoolStats) => s.capacity.ipv4],
    ["ipv6_addresses_total", "Number of usable IPv6 addresses, per pool", (s: PoolStats) => s.capacity.ipv6],
    ["addresses_in_use_total", "Number of IP addresses in use, per pool", (s: PoolStats) => s.assigned.ipv4 + s.assigned.ipv6],
    ["ipv4_addresses_in_use_total", "Number of IPv4 addresses in use, per pool", (s: PoolStats) => s.assigned.ipv4],
    ["ipv6_addresses_in_use_total", "Number of IPv6 addresses in use, per pool", (s: PoolStats) => s.assigned.ipv6],
  ] as const
  for (const [suffix, help, value] of allocator) registry.collect(`metallb_allocator_${suffix}`, help, "gauge", pools(value))

  const client = registerK8sClientMetrics(registry)
  const reconcile = registry.histogram("metallb_ts_controller_reconcile_duration_seconds", "Time of one reconcile pass (decisions; the Service writes are queued).", exponentialBuckets(0.0005, 2, 16))
  const services = registry.gauge("metallb_ts_controller_services", "Services seen in the last reconcile pass.")
  const recomputed = registry.counter("metallb_ts_controller_services_reconciled_total", "Services recomputed by reconcile passes (settled, unchanged ones are skipped).")
  let pendingWrites: () => number = () => 0
  registry.collect("metallb_ts_controller_pending_writes", "Services whose writes (status, annotation, events) are queued or in flight.", "gauge", () => [{ labels: {}, value: pendingWrites() }])
  const toAddress = registry.histogram("metallb_ts_controller_service_address_seconds", "Time from a Service's creation (creationTimestamp, whole seconds) to its first address in status.", [0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600])
  const leader = registry.gauge("metallb_ts_controller_leader_bool", "1 if this replica holds the controller Lease and assigns addresses.")
  registerProcessMetrics(registry)
  leader.set(0)

  return {
    registry,
    ...client,
    reconciled: (seconds, count, changed) => {
      reconcile.observe(seconds)
      services.set(count)
      recomputed.inc({}, changed)
    },
    setPendingWrites: (size) => {
      pendingWrites = size
    },
    addressAssigned: (seconds) => toAddress.observe(Math.max(0, seconds)),
    leading: (leading) => leader.set(leading),
    setPoolSource: (source) => {
      poolSource = source
    },
  }
}
