// What the controller reads of a Kubernetes Service, and how MetalLB's annotations and spec fields
// turn into an allocation request. Both annotation prefixes are read: metallb.io/ wins over the
// deprecated metallb.universe.tf/, whose use is reported (MetalLB's deprecatedAnnotation event).
import { Result } from "effect"
import type { IpFamilyPolicy } from "../ipam/dual-stack.ts"
import type { Port, Protocol, ServiceRef, SharingKeys } from "../ipam/service.ts"
import { type Address, parseAddress } from "../net/address.ts"

export interface ServiceView {
  readonly namespace: string
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly annotations: Readonly<Record<string, string>>
  readonly type: string
  readonly loadBalancerClass?: string
  /** spec.loadBalancerIP (deprecated by Kubernetes, still honoured). */
  readonly loadBalancerIP?: string
  readonly clusterIPs: ReadonlyArray<string>
  readonly ipFamilyPolicy?: IpFamilyPolicy
  readonly ports: ReadonlyArray<{ readonly protocol?: string; readonly port: number }>
  readonly externalTrafficPolicy?: "Cluster" | "Local"
  readonly selector?: Readonly<Record<string, string>>
  /** status.loadBalancer.ingress[].ip as found: after a restart, the addresses to keep. */
  readonly ingressIPs: ReadonlyArray<string>
}

export const serviceKey = (s: { readonly namespace: string; readonly name: string }) => `${s.namespace}/${s.name}`

export const annotationPrefixes = ["metallb.io/", "metallb.universe.tf/"] as const
export const allocatedFromPoolAnnotation = "metallb.io/ip-allocated-from-pool"

/** The value of a MetalLB annotation, and whether it came from the deprecated prefix. */
export const annotation = (s: ServiceView, name: string): { readonly value?: string; readonly deprecated: boolean } => {
  const current = s.annotations[`metallb.io/${name}`]
  if (current !== undefined) return { value: current, deprecated: false }
  const old = s.annotations[`metallb.universe.tf/${name}`]
  return old === undefined ? { deprecated: false } : { value: old, deprecated: true }
}

export interface AllocationIntent extends SharingKeys {
  readonly service: ServiceRef
  readonly clusterIPs: ReadonlyArray<Address>
  readonly ipFamilyPolicy: IpFamilyPolicy
  readonly ports: ReadonlyArray<Port>
  readonly requested: ReadonlyArray<Address>
  readonly pool?: string
  /** Annotations read under the deprecated prefix. */
  readonly deprecated: ReadonlyArray<string>
}

const protocols: ReadonlyArray<Protocol> = ["TCP", "UDP", "SCTP"]

const parseList = (text: string, what: string): Result.Result<ReadonlyArray<Address>, string> => {
  const addresses: Array<Address> = []
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const parsed = parseAddress(part)
    if (Result.isFailure(parsed)) return Result.fail(`${what}: ${parsed.failure.message}`)
    addresses.push(parsed.success)
  }
  return Result.succeed(addresses)
}

/** The allocation request a service makes, or why it cannot make one (a warning event for the user). */
export const intentOf = (s: ServiceView, namespaceLabels: Readonly<Record<string, string>>): Result.Result<AllocationIntent, string> => {
  const deprecated: Array<string> = []
  const read = (name: string) => {
    const a = annotation(s, name)
    if (a.deprecated) deprecated.push(`metallb.universe.tf/${name}`)
    return a.value
  }
  const clusterIPs = parseList(s.clusterIPs.filter((ip) => ip !== "None").join(","), "ClusterIPs")
  if (Result.isFailure(clusterIPs)) return Result.fail(clusterIPs.failure)
  const ipsAnnotation = read("loadBalancerIPs")
  if (ipsAnnotation !== undefined && s.loadBalancerIP !== undefined && s.loadBalancerIP !== "") {
    return Result.fail("spec.loadBalancerIP and the loadBalancerIPs annotation cannot be used together")
  }
  const requestedText = ipsAnnotation ?? s.loadBalancerIP ?? ""
  const requested = parseList(requestedText, ipsAnnotation !== undefined ? "loadBalancerIPs annotation" : "spec.loadBalancerIP")
  if (Result.isFailure(requested)) return Result.fail(requested.failure)
  if (ipsAnnotation === undefined && requested.success.length > 1) return Result.fail("spec.loadBalancerIP takes a single address")
  const ports: Array<Port> = []
  for (const p of s.ports) {
    const protocol = (p.protocol ?? "TCP") as Protocol
    if (!protocols.includes(protocol)) return Result.fail(`unsupported protocol ${p.protocol}`)
    ports.push({ protocol, port: p.port })
  }
  const local = s.externalTrafficPolicy === "Local"
  const pool = read("address-pool")
  const sharingKey = read("allow-shared-ip") ?? ""
  return Result.succeed({
    service: { key: serviceKey(s), namespace: s.namespace, labels: s.labels, namespaceLabels },
    clusterIPs: clusterIPs.success,
    ipFamilyPolicy: s.ipFamilyPolicy ?? "SingleStack",
    ports,
    requested: requested.success,
    ...(pool === undefined || pool === "" ? {} : { pool }),
    sharingKey,
    // Services sharing an address under externalTrafficPolicy Local must send it to the same pods.
    backendKey: local ? Object.entries(s.selector ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(",") : "",
    deprecated,
  })
}
