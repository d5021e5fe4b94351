// Kubernetes objects as the core's views: the few fields core/controller and core/speaker read,
// copied out of client-node's generated types so that core never sees them.
import type { V1Service, V1ServiceStatus } from "@kubernetes/client-node"
import type { ServiceView } from "../../core/controller/service.ts"
import type { IpFamilyPolicy } from "../../core/ipam/dual-stack.ts"

const policies: ReadonlyArray<IpFamilyPolicy> = ["SingleStack", "PreferDualStack", "RequireDualStack"]

/** kubectl's copy of the applied manifest: often the largest part of a Service, and nothing here reads it. */
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

/**
 * Cuts a Service down, in place, to what serviceView reads (and the resourceVersion, uid and creation time
 * the controller keeps): the controller's cache of every Service holds only that.
 */
export const projectService = (service: V1Service): void => {
  const metadata = service.metadata
  if (metadata !== undefined) {
    const { name, namespace, uid, resourceVersion, creationTimestamp, labels, annotations } = metadata
    service.metadata = { name, namespace, uid, resourceVersion, creationTimestamp, labels, annotations } as typeof metadata
    if (annotations?.[lastApplied] !== undefined) {
      const { [lastApplied]: _dropped, ...rest } = annotations
      service.metadata.annotations = rest
    }
  }
  const spec = service.spec
  if (spec !== undefined) {
    const { type, loadBalancerClass, loadBalancerIP, clusterIP, clusterIPs, ipFamilyPolicy, ports, externalTrafficPolicy, selector } = spec
    service.spec = {
      type, loadBalancerClass, loadBalancerIP, clusterIP, clusterIPs, ipFamilyPolicy, externalTrafficPolicy, selector,
      ports: ports?.map((p) => ({ protocol: p.protocol, port: p.port })),
    } as typeof spec
  }
  const ingress = service.status?.loadBalancer?.ingress
  service.status = ingress === undefined ? {} : { loadBalancer: { ingress: ingress.map((i) => ({ ip: i.ip })) } } as V1ServiceStatus
}

export const serviceView = (service: V1Service): ServiceView => {
  const spec = service.spec ?? {}
  const policy = policies.find((p) => p === spec.ipFamilyPolicy)
  const etp = spec.externalTrafficPolicy === "Local" ? "Local" : "Cluster"
  return {
    namespace: service.metadata?.namespace ?? "default",
    name: service.metadata?.name ?? "",
    labels: service.metadata?.labels ?? {},
    annotations: service.metadata?.annotations ?? {},
    type: spec.type ?? "ClusterIP",
    ...(spec.loadBalancerClass === undefined ? {} : { loadBalancerClass: spec.loadBalancerClass }),
    ...(spec.loadBalancerIP === undefined || spec.loadBalancerIP === "" ? {} : { loadBalancerIP: spec.loadBalancerIP }),
    clusterIPs: spec.clusterIPs ?? (spec.clusterIP === undefined ? [] : [spec.clusterIP]),
    ...(policy === undefined ? {} : { ipFamilyPolicy: policy }),
    ports: (spec.ports ?? []).map((p) => ({ ...(p.protocol === undefined ? {} : { protocol: p.protocol }), port: p.port })),
    externalTrafficPolicy: etp,
    ...(spec.selector === undefined ? {} : { selector: spec.selector }),
    ingressIPs: (service.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip === undefined ? [] : [i.ip])),
  }
}
