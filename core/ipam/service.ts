// What the allocator knows of a service, and whether a pool may serve it (MetalLB
// isPoolCompatibleWithService): a pool without serviceAllocation serves everyone; with it, the
// service's namespace must be listed or selected (when any are given) and, when serviceSelectors are
// given, one of them must match the service's labels.
import type { Pool } from "../config/config.ts"
import { matches } from "../config/selector.ts"
import { IncompatiblePool } from "./errors.ts"

export interface ServiceRef {
  /** "namespace/name": the allocation's identity. */
  readonly key: string
  readonly namespace: string
  readonly labels: Readonly<Record<string, string>>
  readonly namespaceLabels: Readonly<Record<string, string>>
}

export type Protocol = "TCP" | "UDP" | "SCTP"

export interface Port {
  readonly protocol: Protocol
  readonly port: number
}

/** MetalLB's sharing keys: the allow-shared-ip annotation and, for externalTrafficPolicy Local, the selector. */
export interface SharingKeys {
  /** "" means the service does not share. */
  readonly sharingKey: string
  /** "" unless externalTrafficPolicy is Local; then services sharing an IP must select the same pods. */
  readonly backendKey: string
}

export const incompatibility = (pool: Pool, service: ServiceRef): IncompatiblePool | undefined => {
  const allocation = pool.serviceAllocation
  if (allocation === undefined) return undefined
  const restrictsNamespaces = allocation.namespaces.length > 0 || allocation.namespaceSelectors.length > 0
  if (restrictsNamespaces) {
    const allowed = allocation.namespaces.includes(service.namespace) ||
      allocation.namespaceSelectors.some((s) => matches(s, service.namespaceLabels))
    if (!allowed) return new IncompatiblePool({ pool: pool.name, service: service.key, reason: "namespace" })
  }
  if (allocation.serviceSelectors.length > 0 && !allocation.serviceSelectors.some((s) => matches(s, service.labels))) {
    return new IncompatiblePool({ pool: pool.name, service: service.key, reason: "serviceSelector" })
  }
  return undefined
}

export const samePort = (a: Port, b: Port): boolean => a.protocol === b.protocol && a.port === b.port
