// The explanation in words, for a person at a terminal: one block per Service, the addresses (or why
// none) first, then Layer 2 and BGP, then what the tool assumed and what it could not read.
import type { Allocation, BgpExplanation, BgpSession, Explanation, L2Explanation, NodeReason, PoolVerdict, ServiceExplanation } from "./explanation.ts"

const poolVerdictText: Record<PoolVerdict["verdict"], string> = {
  chosen: "chosen",
  autoAssign: "skipped: autoAssign is false",
  namespace: "excluded: serviceAllocation does not allow the namespace",
  serviceSelector: "excluded: no serviceAllocation.serviceSelector matches the Service",
  family: "skipped: wrong address family",
  exhausted: "skipped: exhausted",
  refused: "refused",
  notTried: "not tried: an earlier pool had room",
}

const poolLines = (pools: ReadonlyArray<PoolVerdict>): ReadonlyArray<string> =>
  pools.map((p) => {
    const order = p.pinned ? `serviceAllocation, priority ${p.priority === 0 ? "none" : p.priority}` : "no serviceAllocation"
    const detail = p.detail === undefined || p.verdict === "namespace" || p.verdict === "serviceSelector" || p.verdict === "autoAssign" ? "" : ` (${p.detail})`
    return `    - ${p.pool} [${order}]: ${poolVerdictText[p.verdict]}${detail}`
  })

const allocationLines = (a: Allocation): ReadonlyArray<string> => {
  switch (a._tag) {
    case "NotLoadBalancer":
      return [`  no address: type ${a.type}, not LoadBalancer`]
    case "OtherClass":
      return [`  no address: loadBalancerClass ${a.loadBalancerClass ?? "(none)"} is not this metallb-ts's (${a.ours ?? "services without a class"})`]
    case "NoConfiguration":
      return ["  no decision: the configuration read is not valid (see Configuration)"]
    case "BadRequest":
      return [`  no address: ${a.message}`]
    case "Assigned": {
      const how = a.how._tag === "Requested"
        ? `requested (${a.how.by === "annotation" ? "metallb.io/loadBalancerIPs annotation" : "spec.loadBalancerIP"})`
        : a.how._tag === "KeptFromStatus"
        ? "kept from its status (the controller never moves an address that still fits)"
        : a.how._tag === "AnnotatedPool"
        ? `from the pool its metallb.io/address-pool annotation names (${a.how.pool})`
        : "from the first pool with room, in the allocator's order (pools with serviceAllocation by priority, then the others by name):"
      const lines = [`  addresses: ${a.addresses.join(", ")} from pool ${a.pool}`, `  how: ${how}`, ...poolLines(a.pools)]
      for (const s of a.shared) {
        lines.push(`  shared: ${s.address} (allow-shared-ip ${JSON.stringify(s.sharingKey)}) with ${s.with.map((w) => `${w.service} on ${w.ports.join(", ") || "no ports"}`).join("; ")}`)
      }
      if (a.released !== undefined) lines.push(`  gave up ${a.released.held.join(", ")}: ${a.released.why}`)
      return lines
    }
    case "Failed": {
      const lines = [`  no address: ${a.message}`]
      if (a.holders.length > 0) lines.push(`  held by: ${a.holders.join(", ")}`)
      if (a.pools.length > 0) lines.push("  pools:", ...poolLines(a.pools))
      if (a.released !== undefined) lines.push(`  gave up ${a.released.held.join(", ")}: ${a.released.why}`)
      return lines
    }
  }
}

const nodeReasonText: Record<NodeReason, string> = {
  candidate: "candidate",
  NotMember: "not a member (no Ready speaker there)",
  NoNode: "a member without a Node object",
  NetworkUnavailable: "NetworkUnavailable",
  ExcludedLabel: "excluded (node.kubernetes.io/exclude-from-external-load-balancers)",
  NodeSelector: "no L2Advertisement nodeSelector selects it",
  NoLocalEndpoint: "no ready endpoint here (externalTrafficPolicy Local)",
  InterfacesDown: "every announcing interface is down",
}

const electionResultText: Record<string, string> = {
  NoIp: "it has no address",
  NoServingEndpoint: "no ready endpoint anywhere: nobody announces it",
  SharedIpWithServiceSelectors: "it shares its address and an L2Advertisement of the pool has serviceSelectors: nobody announces it",
  NoMatchingAdvertisement: "no L2Advertisement's serviceSelectors match it",
  NoAvailableNode: "no node may announce it",
  AnnouncingInterfacesDown: "every eligible node's announcing interfaces are down",
}

const layer2Lines = (l2: L2Explanation): ReadonlyArray<string> => {
  const head = l2.owner === undefined
    ? `  not announced: ${electionResultText[l2.result] ?? l2.result}`
    : `  announced by ${l2.owner} on ${l2.interfaces.length === 0 ? "every usable interface" : l2.interfaces.join(", ")}`
  const lines = [`Layer 2 (pool ${l2.pool}, L2Advertisements ${l2.advertisements.join(", ")}):`, head]
  if (l2.nodes.length > 0) lines.push("  election order (preferredNodeSelectors score, then MetalLB's hash of node and address):")
  for (const n of l2.nodes) {
    lines.push(n.reason === "candidate"
      ? `    ${n.rank}. ${n.node}${n.rank === 1 ? " (wins)" : ""}${n.score ? `, score ${n.score}` : ""}`
      : `    -  ${n.node}: ${nodeReasonText[n.reason]}`)
  }
  lines.push(l2.reported.length === 0 ? "  reported (ServiceL2Status): none" : `  reported (ServiceL2Status): ${l2.reported.map((r) => `${r.node} on ${r.interfaces.join(", ") || "?"}`).join("; ")}`)
  return lines
}

const bgpReasonText: Record<string, string> = {
  advertises: "advertises",
  NoSpeaker: "should advertise, but no Ready speaker runs there",
  NetworkUnavailable: "not advertising: NetworkUnavailable",
  ExcludedLabel: "not advertising: excluded (node.kubernetes.io/exclude-from-external-load-balancers)",
  NoPool: "not advertising: no pool holds its addresses",
  NoServingEndpoint: "not advertising: no ready endpoint anywhere",
  NoLocalEndpoint: "not advertising: no ready endpoint here (externalTrafficPolicy Local)",
  NoAdvertisement: "not advertising: no BGPAdvertisement names the pool",
  ServiceSelector: "not advertising: no BGPAdvertisement's serviceSelectors match the Service",
  NodeSelector: "not advertising: no BGPAdvertisement's nodeSelectors select this node",
  NoPeerForNode: "not advertising: no BGPPeer's nodeSelectors select this node",
  PeerNotSelected: "not advertising: the advertisements name only peers this node has no session with",
  SessionDown: "not advertising: session down (no session to a peer it would advertise to is Established)",
}

const sessionText = (s: BgpSession): string => {
  if (s.state === undefined) return "no BGPSessionState (the session is not open on this node)"
  const since = s.state.since === undefined ? "" : ` since ${s.state.since}`
  const bfd = `BFD ${s.state.bfdStatus}`
  return s.state.bgpStatus === "Established" ? `Established${since}, ${bfd}` : `session down: ${s.state.bgpStatus}${since}, ${bfd}`
}

const bgpLines = (bgp: BgpExplanation): ReadonlyArray<string> => {
  const lines = [`BGP (pool ${bgp.pool}):`]
  if (bgp.sessionStatesUnknown !== undefined) lines.push(`  session states unknown: ${bgp.sessionStatesUnknown}`)
  for (const n of bgp.nodes) {
    lines.push(`  ${n.node}: ${bgpReasonText[n.reason] ?? n.reason}${n.advertisements.length > 0 ? ` (BGPAdvertisements ${n.advertisements.join(", ")})` : ""}`)
    if (bgp.sessionStatesUnknown === undefined) for (const s of n.sessions) lines.push(`    session with ${s.peer}: ${sessionText(s)}`)
    for (const p of n.peers) {
      const routes = p.routes.map((r) => `${r.prefix}${r.localPref === undefined ? "" : ` local-pref ${r.localPref}`}${r.communities.length === 0 ? "" : ` communities ${r.communities.join(" ")}`}`)
      const state = p.sessionProblem !== undefined ? `session cannot run: ${p.sessionProblem}` : p.reported ? "reported by ServiceBGPStatus" : "not reported by ServiceBGPStatus"
      lines.push(`    -> ${p.peer}: ${routes.join(", ")} (${state})`)
    }
  }
  return lines
}

const serviceLines = (s: ServiceExplanation): ReadonlyArray<string> => [
  `Service ${s.service}`,
  `  status: ${s.status.length > 0 ? s.status.join(", ") : s.allocation._tag === "NotLoadBalancer" || s.allocation._tag === "OtherClass" ? "none" : "<pending>"}`,
  ...allocationLines(s.allocation),
  ...(s.layer2 === undefined ? [] : layer2Lines(s.layer2)),
  ...(s.bgp === undefined ? [] : bgpLines(s.bgp)),
  ...s.notes.map((n) => `  note: ${n}`),
]

export const formatExplanationText = (e: Explanation): string => {
  const config = e.config.valid
    ? [`Configuration: valid${e.config.warnings.length === 0 ? "" : `, ${e.config.warnings.length} warning(s)`}`]
    : [
      `Configuration: INVALID (${e.config.errors.length} error(s)); the controller and speakers keep the last valid configuration they loaded, which the API does not show:`,
      ...e.config.errors.map((x) => `  - ${x}`),
    ]
  const lines = [
    `Read from ${e.source}.`,
    ...config,
    ...e.config.warnings.map((w) => `  warning: ${w}`),
    ...(e.config.reported === undefined ? [] : [`  the controller reports: ${e.config.reported}`]),
    `Speakers: ${e.membership}.`,
    ...e.notes.map((n) => `Note: ${n}.`),
    ...e.unreadable.map((u) => `Could not read ${u.kind}${u.namespace === undefined ? "" : ` in ${u.namespace}`}: ${u.reason}`),
  ]
  return [lines.join("\n"), ...e.services.map((s) => serviceLines(s).join("\n"))].join("\n\n")
}
