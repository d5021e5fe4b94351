// The speaker's Prometheus series. MetalLB's names and labels (METALLB.md §6, and the metallb_bgp_* /
// metallb_bfd_* series of its FRR mode, labelled with the peer's address) so existing dashboards and
// alerts keep working: what is announced, Layer 2 requests and announcements per address, BGP and BFD
// sessions and their message counts, the k8s client's writes and configuration flags. Our own series
// are prefixed metallb_ts_speaker_: failover as this node saw it, and the cost of a reconcile pass.
// State the speaker already keeps is read at scrape time; events are counted as they happen. Left out:
// metallb_bfd_echo_packet_* (no Echo function: core/bfd/session.ts) and FRR's zebra notifications.
import type { L2Counters } from "../../core/l2/counters.ts"
import { formatAddress } from "../../core/net/address.ts"
import { registerProcessMetrics } from "../metrics/process.ts"
import { exponentialBuckets, type Registry, type Sample } from "../metrics/registry.ts"
import type { PeerSession } from "./peer-session.ts"
import { type K8sClientMetrics, registerK8sClientMetrics } from "../kube/k8s-client-metrics.ts"

export interface SpeakerMetricSources {
  readonly l2Counters: () => L2Counters
  readonly sessions: () => Iterable<PeerSession>
  /** metallb_speaker_announced: one sample per address this node announces, by protocol. */
  readonly announced: () => ReadonlyArray<Sample>
}

/** apiWrite: a status object or an event written. */
export interface SpeakerMetrics extends K8sClientMetrics {
  readonly takeover: (seconds: number) => void
  readonly memberDetected: (seconds: number) => void
  readonly reconciled: (seconds: number) => void
}

const failoverBuckets = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30]

export const registerSpeakerMetrics = (registry: Registry, sources: SpeakerMetricSources): SpeakerMetrics => {
  registry.collect("metallb_speaker_announced", "Services being announced from this node. This is desired state, it does not guarantee that the routing protocols have converged.", "gauge", sources.announced)

  const perIp = (field: "requestsReceived" | "responsesSent" | "gratuitousSent") => (): ReadonlyArray<Sample> =>
    [...sources.l2Counters().byAddress.values()].map((c) => ({ labels: { ip: formatAddress(c.address) }, value: c[field] }))
  registry.collect("metallb_layer2_requests_received", "Number of layer2 requests received for owned IPs", "counter", perIp("requestsReceived"))
  registry.collect("metallb_layer2_responses_sent", "Number of layer2 responses sent for owned IPs", "counter", perIp("responsesSent"))
  registry.collect("metallb_layer2_gratuitous_sent", "Number of gratuitous layer2 packets sent for owned IPs as a result of failovers", "counter", perIp("gratuitousSent"))

  const perPeer = (value: (session: PeerSession) => number | undefined) => (): ReadonlyArray<Sample> =>
    [...sources.sessions()].flatMap((session) => {
      const v = value(session)
      return v === undefined ? [] : [{ labels: { peer: session.peerAddress }, value: v }]
    })
  const bgp: ReadonlyArray<readonly [string, string, "gauge" | "counter", (s: PeerSession) => number]> = [
    ["session_up", "BGP session state (1 is up, 0 is down)", "gauge", (s) => (s.state === "Established" ? 1 : 0)],
    ["updates_total", "Number of BGP UPDATE messages sent", "counter", (s) => s.bgp.messagesSent.Update],
    ["announced_prefixes_total", "Number of prefixes currently being advertised on the BGP session", "gauge", (s) => s.bgp.advertisedPrefixes],
    ["pending_prefixes_total", "Number of prefixes that should be advertised on the BGP session but are not (yet)", "gauge", (s) => s.bgp.pendingPrefixes],
    ["opens_sent", "Number of BGP open messages sent", "counter", (s) => s.bgp.messagesSent.Open],
    ["opens_received", "Number of BGP open messages received", "counter", (s) => s.bgp.messagesReceived.Open],
    ["notifications_sent", "Number of BGP notification messages sent", "counter", (s) => s.bgp.messagesSent.Notification],
    ["updates_total_received", "Number of BGP UPDATE messages received", "counter", (s) => s.bgp.messagesReceived.Update],
    ["keepalives_sent", "Number of BGP keepalive messages sent", "counter", (s) => s.bgp.messagesSent.Keepalive],
    ["keepalives_received", "Number of BGP keepalive messages received", "counter", (s) => s.bgp.messagesReceived.Keepalive],
    ["route_refresh_sent", "Number of BGP route refresh messages sent", "counter", (s) => s.bgp.messagesSent.RouteRefresh],
    ["total_sent", "Number of total BGP messages sent", "counter", (s) => Object.values(s.bgp.messagesSent).reduce((a, b) => a + b, 0)],
    ["total_received", "Number of total BGP messages received", "counter", (s) => Object.values(s.bgp.messagesReceived).reduce((a, b) => a + b, 0)],
  ]
  for (const [name, help, type, value] of bgp) registry.collect(`metallb_bgp_${name}`, help, type, perPeer(value))
  const bfd: ReadonlyArray<readonly [string, string, "gauge" | "counter", (s: PeerSession) => number | undefined]> = [
    ["session_up", "BFD session state (1 is up, 0 is down)", "gauge", (s) => (s.bfd === undefined ? undefined : s.bfd.state === "Up" ? 1 : 0)],
    ["control_packet_input", "Number of received BFD control packets", "counter", (s) => s.bfd?.counts.packetsReceived],
    ["control_packet_output", "Number of sent BFD control packets", "counter", (s) => s.bfd?.counts.packetsSent],
    ["session_up_events", "Number of BFD session up events", "counter", (s) => s.bfd?.counts.upEvents],
    ["session_down_events", "Number of BFD session down events", "counter", (s) => s.bfd?.counts.downEvents],
  ]
  for (const [name, help, type, value] of bfd) registry.collect(`metallb_bfd_${name}`, help, type, perPeer(value))

  const client = registerK8sClientMetrics(registry)

  const takeover = registry.histogram("metallb_ts_speaker_l2_takeover_seconds",
    "Layer 2 failover as this node saw it: from the last datagram heard from the speaker that died or left to this node announcing the services it took over from it (gratuitous ARP / unsolicited NA sent).", failoverBuckets)
  const detection = registry.histogram("metallb_ts_speaker_member_detection_seconds", "From the last datagram heard from a speaker to this node declaring it dead.", failoverBuckets)
  const reconcile = registry.histogram("metallb_ts_speaker_reconcile_duration_seconds", "Time of one speaker reconcile pass (decisions, announcements, status objects).", exponentialBuckets(0.0005, 2, 16))
  registerProcessMetrics(registry)

  return {
    ...client,
    takeover: (seconds) => takeover.observe(seconds),
    memberDetected: (seconds) => detection.observe(seconds),
    reconciled: (seconds) => reconcile.observe(seconds),
  }
}
