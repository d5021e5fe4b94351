// Kubernetes objects as the core's views: the few fields core/controller and core/speaker read,
// copied out of client-node's generated types so that core never sees them.
import type { V1Service } from "@kubernetes/client-node"
import type { ServiceView } from "../../core/controller/service.ts"
import type { IpFamilyPolicy } from "../../core/ipam/dual-stack.ts"

const policies: ReadonlyArray<IpFamilyPolicy> = ["SingleStack", "PreferDualStack", "RequireDualStack"]

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
