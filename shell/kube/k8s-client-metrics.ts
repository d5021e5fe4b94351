// MetalLB's metallb_k8s_client_* series, which the controller and the speaker both export: writes to the
// API server and whether the configuration is loaded, or stale because its latest version failed.
import type { Registry } from "../metrics/registry.ts"

export interface K8sClientMetrics {
  /** One write to the API server. */
  readonly apiWrite: (ok: boolean) => void
  readonly config: (flags: { readonly loaded: boolean; readonly stale: boolean }) => void
}

export const registerK8sClientMetrics = (registry: Registry): K8sClientMetrics => {
  const updates = registry.counter("metallb_k8s_client_updates_total", "Number of k8s object updates that have been processed (writes to the API server).")
  const updateErrors = registry.counter("metallb_k8s_client_update_errors_total", "Number of k8s object updates that failed for some reason.")
  const configLoaded = registry.gauge("metallb_k8s_client_config_loaded_bool", "1 if the MetalLB configuration was successfully loaded at least once.")
  const configStale = registry.gauge("metallb_k8s_client_config_stale_bool", "1 if running on a stale configuration, because the latest config failed to load.")
  // Present from the first scrape, as zeros.
  updates.inc({}, 0)
  updateErrors.inc({}, 0)
  configLoaded.set(0)
  configStale.set(0)
  return {
    apiWrite: (ok) => {
      updates.inc()
      if (!ok) updateErrors.inc()
    },
    config: (flags) => {
      configLoaded.set(flags.loaded)
      configStale.set(flags.stale)
    },
  }
}
