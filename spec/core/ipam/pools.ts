// Test helpers: pools built through the real configuration path (resolve), services and addresses.
import { Result } from "effect"
import type { Pool } from "../../../core/config/config.ts"
import { resolve } from "../../../core/config/resolve.ts"
import type { ServiceRef } from "../../../core/ipam/service.ts"
import { type Address, formatAddress, parseAddress } from "../../../core/net/address.ts"

export interface PoolSpec {
  readonly name: string
  readonly addresses: ReadonlyArray<string>
  readonly autoAssign?: boolean
  readonly avoidBuggyIPs?: boolean
  readonly serviceAllocation?: Record<string, unknown>
  readonly labels?: Record<string, string>
}

export const poolsOf = (...specs: ReadonlyArray<PoolSpec>): ReadonlyMap<string, Pool> => {
  const documents = specs.map(({ name, labels, ...spec }) => ({
    value: { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name, namespace: "metallb-system", ...(labels ? { labels } : {}) }, spec },
  }))
  const result = resolve(documents)
  if (result._tag === "Invalid") throw new Error(`test pools invalid: ${JSON.stringify(result.errors)}`)
  return result.config.pools
}

export const ip = (text: string): Address => {
  const r = parseAddress(text)
  if (Result.isFailure(r)) throw new Error(r.failure.message)
  return r.success
}

export const texts = (addresses: ReadonlyArray<Address>) => addresses.map(formatAddress)

export const svc = (name: string, options: { namespace?: string; labels?: Record<string, string>; namespaceLabels?: Record<string, string> } = {}): ServiceRef => ({
  key: `${options.namespace ?? "default"}/${name}`,
  namespace: options.namespace ?? "default",
  labels: options.labels ?? {},
  namespaceLabels: options.namespaceLabels ?? {},
})

export const noSharing = { sharingKey: "", backendKey: "" }
export const tcp = (port: number) => ({ protocol: "TCP" as const, port })
export const udp = (port: number) => ({ protocol: "UDP" as const, port })
