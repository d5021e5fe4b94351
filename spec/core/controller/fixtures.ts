// A LoadBalancer Service as the controller's core sees it, for the controller tests.
import type { ServiceView } from "../../../core/controller/service.ts"

export const loadBalancer = (name: string, extra: Partial<ServiceView> = {}): ServiceView => ({
  namespace: "default",
  name,
  labels: {},
  annotations: {},
  type: "LoadBalancer",
  clusterIPs: ["198.18.0.1"],
  ports: [{ protocol: "TCP", port: 80 }],
  ingressIPs: [],
  ...extra,
})
