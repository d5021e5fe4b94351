// Loading the kubeconfig (loadKubeConfig: our own reader, shell/kube/http/kubeconfig.ts, so that the
// processes never load @kubernetes/client-node's KubeConfig module and its model graph), and, for the
// test and bench load generators that still use client-node's API classes, one connection pool per API
// server instead of one per request: @kubernetes/client-node 2.0.1 builds a new undici Agent for every request it sends
// (KubeConfig.applySecurityAuthentication -> createDispatcher), so every call paid a TCP and TLS
// handshake, a fresh SecureContext, and left an idle keep-alive connection behind: against 5,000
// Services that was most of the controller's CPU and hundreds of MiB of RSS. Here the dispatcher is
// kept per distinct set of TLS options (CA, client certificate, key, server name), so a rotated
// client certificate still gets a pool of its own; bearer tokens travel in headers and are unaffected.
import { createHash } from "node:crypto"
import type { Cluster, KubeConfig } from "@kubernetes/client-node"
import type { ClusterAccess } from "./http/cluster-access.ts"
import { loadClusterAccess } from "./http/kubeconfig.ts"

type CreateDispatcher = (cluster: Cluster | null, agentOptions: Record<string, unknown>) => unknown

/** A digest of the dispatcher options (strings, Buffers, nested records), cheap enough for every request. */
const fingerprint = (value: unknown): string => {
  const hash = createHash("sha256")
  const add = (v: unknown): void => {
    if (v instanceof Uint8Array) hash.update(v)
    else if (Array.isArray(v)) for (const item of v) add(item)
    else if (typeof v === "object" && v !== null) {
      for (const key of Object.keys(v).sort()) {
        hash.update(`\u0000${key}=`)
        add((v as Record<string, unknown>)[key])
      }
    } else hash.update(`\u0001${String(v)}`)
  }
  add(value)
  return hash.digest("hex")
}

/** Makes `kc` reuse its connections; returns it. */
export const withConnectionReuse = (kc: KubeConfig): KubeConfig => {
  // createDispatcher is private in client-node's types but a plain method at runtime.
  const target = kc as unknown as { createDispatcher: CreateDispatcher }
  const original = target.createDispatcher.bind(kc)
  const dispatchers = new Map<string, unknown>()
  target.createDispatcher = (cluster, agentOptions) => {
    const key = fingerprint([cluster?.server, cluster?.proxyUrl, kc.createDispatcherOptions(cluster, agentOptions)])
    if (!dispatchers.has(key)) dispatchers.set(key, original(cluster, agentOptions))
    return dispatchers.get(key)
  }
  return kc
}

/**
 * The API server's settings from the kubeconfig at `path`, or from the default places ($KUBECONFIG,
 * ~/.kube/config, in-cluster); a KubeConfigError names the field it cannot honour.
 */
export const loadKubeConfig = (path: string | undefined): ClusterAccess => loadClusterAccess(path)
