// Small builders of metallb.io documents for the resolve() example tests, and a compact view of what
// resolve() reported.
import type { Document } from "../../../core/config/decode.ts"
import type { ConfigError } from "../../../core/config/errors.ts"
import type { ResolveContext } from "../../../core/config/rules/context.ts"
import { resolve } from "../../../core/config/resolve.ts"

export const namespace = "metallb-system"

const object = (apiVersion: string, kind: string, name: string, spec: Record<string, unknown>, labels?: Record<string, string>): Document => ({
  value: { apiVersion, kind, metadata: { name, namespace, ...(labels === undefined ? {} : { labels }) }, spec },
})

export const pool = (name: string, addresses: ReadonlyArray<string>, extra: Record<string, unknown> = {}, labels?: Record<string, string>): Document =>
  object("metallb.io/v1beta1", "IPAddressPool", name, { addresses, ...extra }, labels)
export const bgpAd = (name: string, spec: Record<string, unknown>): Document => object("metallb.io/v1beta1", "BGPAdvertisement", name, spec)
export const l2Ad = (name: string, spec: Record<string, unknown>): Document => object("metallb.io/v1beta1", "L2Advertisement", name, spec)
export const bgpPeer = (name: string, spec: Record<string, unknown>): Document =>
  object("metallb.io/v1beta2", "BGPPeer", name, { myASN: 64512, peerASN: 64513, peerAddress: "192.0.2.1", ...spec })
export const node = (name: string, labels: Record<string, string>): Document => ({
  value: { apiVersion: "v1", kind: "Node", metadata: { name, labels, uid: "u-1" }, spec: { podCIDR: "198.18.0.0/24" }, status: {} },
})

/** Every error and warning as "Kind/name code field". */
export const problems = (documents: ReadonlyArray<Document>, context?: ResolveContext): ReadonlyArray<string> => {
  const r = resolve(documents, context)
  return [...(r._tag === "Invalid" ? r.errors : []), ...r.warnings].map((e) => `${e.object.kind}/${e.object.name} ${e.code} ${e.field}`)
}

/** The only error (or warning) resolve() reports; fails the test when there is not exactly one. */
export const onlyProblem = (documents: ReadonlyArray<Document>, context?: ResolveContext): ConfigError => {
  const r = resolve(documents, context)
  const all = [...(r._tag === "Invalid" ? r.errors : []), ...r.warnings]
  if (all.length !== 1) throw new Error(`expected one problem, got ${JSON.stringify(all.map((e) => `${e.code} ${e.field}: ${e.message}`))}`)
  return all[0]!
}
