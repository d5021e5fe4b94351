// The real cluster's addressing, from TESTBED.md's ranges only. The nodes' segment is the /24 leased
// for the root link (198.19.<third>.0/24, like the lab's, so concurrent clusters and labs never share a
// root-namespace route); the pods of node i get 198.18.<third>.<64(i-1)>/26 (the root namespace routes
// them, for webhooks); Services (virtual, never routed outside the nodes) get 198.18.0.0/24. IPv6 lives
// only inside the cluster's namespaces, so its ranges are fixed.
export const nodeCount = 3

export const nodeName = (index: number): string => `node-${index}`

export interface ClusterPlan {
  readonly third: number
  /** The root link's address: kube-apiserver listens here. */
  readonly api4: string
  readonly node4: (index: number) => string
  readonly node6: (index: number) => string
  readonly client4: string
  readonly client6: string
  readonly router4: string
  readonly router6: string
  /** The router-client link (the client reaches BGP-announced addresses through the router). */
  readonly wanRouter4: string
  readonly wanClient4: string
  readonly podCidr4: (index: number) => string
  readonly podCidr6: (index: number) => string
  readonly clusterCidr4: string
  readonly clusterCidr6: string
  readonly serviceCidr4: string
  readonly serviceCidr6: string
  /** The `kubernetes` Service's ClusterIP (the first of serviceCidr4): the serving certificate names it. */
  readonly kubernetesServiceIp: string
  readonly l2Pool4: string
  readonly l2Pool6: string
  readonly bgpPool4: string
  /** What the client routes through the router. */
  readonly bgpRoute4: string
  readonly routerAsn: number
  readonly nodeAsn: number
}

export const clusterPlan = (third: number): ClusterPlan => {
  if (!Number.isInteger(third) || third < 1 || third > 254) throw new Error(`clusterPlan: third octet ${third} is not in 1..254`)
  return {
    third,
    api4: `198.19.${third}.1`,
    node4: (index) => `198.19.${third}.${10 + index}`,
    node6: (index) => `2001:db8:c1::${(10 + index).toString(16)}`,
    client4: `198.19.${third}.100`,
    client6: "2001:db8:c1::100",
    router4: `198.19.${third}.254`,
    router6: "2001:db8:c1::fe",
    wanRouter4: "203.0.113.1",
    wanClient4: "203.0.113.2",
    podCidr4: (index) => `198.18.${third}.${64 * (index - 1)}/26`,
    podCidr6: (index) => `2001:db8:c2:${index}::/64`,
    clusterCidr4: `198.18.${third}.0/24`,
    clusterCidr6: "2001:db8:c2::/48",
    serviceCidr4: "198.18.0.0/24",
    serviceCidr6: "2001:db8:c3::/112",
    kubernetesServiceIp: "198.18.0.1",
    l2Pool4: `198.19.${third}.200-198.19.${third}.215`,
    l2Pool6: "2001:db8:c1::200-2001:db8:c1::20f",
    bgpPool4: "192.0.2.0/28",
    bgpRoute4: "192.0.2.0/24",
    routerAsn: 64500,
    nodeAsn: 64512,
  }
}
