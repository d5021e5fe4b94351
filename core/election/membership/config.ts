// Timing and fan-out of the membership protocol, chosen so that a crashed speaker is declared dead by
// every other speaker within a second on a LAN, while each speaker sends a constant number of datagrams
// per protocol period (SWIM's O(1) per member, so O(n) for the cluster). The arithmetic, T = 80 ms:
//   probe: every T each node pings one member (round-robin over a list reshuffled each pass, SWIM §4.3);
//     without an Ack within 30 ms it asks k = 3 members to ping on its behalf; without any Ack by the end
//     of the period it suspects the target. A LAN round trip is well under 1 ms: 30 ms absorbs scheduling
//     hiccups and the 4-hop indirect path has the remaining 50 ms.
//   first probe of a crashed node: its n - 1 peers each probe one of n - 1 members per period, so a period
//     goes by without any of them picking it with probability (1 - 1/(n-1))^(n-1) < 1/e: about 1.6
//     periods on average, and 6-7 periods (~500 ms) once in a few thousand crashes.
//   suspicion: suspicionMult * T * max(1, log10 n) = 2 * 80 * max(1, log10 n) ms: 160 ms up to 10 nodes,
//     208 ms at 20, 320 ms at 100 (memberlist's formula with mult 2 instead of 4: refutation is fast here,
//     because the suspecting node tells the suspect directly, every message to a suspect carries its
//     suspicion first, and a node that spreads an already refuted suspicion is answered with the refutation).
//   dissemination: updates ride on every Ping, Ack and PingReq and, while any are queued, on a Gossip to
//     3 random members every 40 ms; each is sent retransmitMult * ceil(ln(n + 1)) = 3 * 3 = 9 times at 10
//     nodes, 12 at 20 (SWIM §4.1: lambda * log n); a node that never heard of a prober exchanges tables
//     with it, and one random member does so every 30 s.
//   partitions: two groups that declared each other dead each keep their own live members, so nothing
//     above ever makes them talk again; every 2 s each node opens a table exchange with one random dead
//     member (Serf's reconnect), and a healed partition merges within a few seconds.
//   metadata: a node whose down Layer 2 interfaces change (metadata.ts) raises its incarnation and queues
//     its new Alive, as a refutation does; it reaches every member in a gossip round or two (worst 79 ms
//     over 600 simulated changes at 3-20 nodes and up to 5% loss), with no traffic of its own.
//   crash to dead everywhere: first probe + T + suspicion + one gossip round: median ~310 ms, worst ~750 ms
//     over 4,000 simulated crashes at 3-20 nodes (spec/core/election/membership/simulation.test.ts).
//   traffic per node per period: 1 Ping, at most 3 PingReqs and 1 suspicion notice, at most 2 gossip rounds
//     of 3 datagrams and a Sync now and then (at most 12 initiated), plus answers to others (about 1 Ack):
//     2 datagrams per period in a quiet cluster (a Ping and an Ack), about 4 at 5% loss, whatever n. A leave
//     sends 2 (n - 1) datagrams once. Each datagram carries at most 1 KB of updates.
export interface MembershipConfig {
  readonly probeIntervalMs: number
  readonly probeTimeoutMs: number
  /** k: helpers asked to ping a target that missed the direct Ack. */
  readonly indirectChecks: number
  readonly suspicionMult: number
  /** lambda: each update is piggybacked retransmitMult * ceil(log10(n + 1)) times. */
  readonly retransmitMult: number
  readonly gossipIntervalMs: number
  readonly gossipFanout: number
  /** How long a member declared dead still receives gossip, so that a live one learns to refute. */
  readonly gossipToTheDeadMs: number
  /** Piggybacked updates per datagram, in encoded octets. */
  readonly maxGossipBytes: number
  /** Full-table exchange with one random member (anti-entropy, as memberlist's push-pull). */
  readonly pushPullIntervalMs: number
  /**
   * Full-table exchange with one random member declared dead (Serf's reconnect): the only way two groups
   * that declared each other dead during a partition, each with live members of its own, merge again.
   */
  readonly reconnectIntervalMs: number
}

export const defaultMembershipConfig: MembershipConfig = {
  probeIntervalMs: 80,
  probeTimeoutMs: 30,
  indirectChecks: 3,
  suspicionMult: 2,
  retransmitMult: 3,
  gossipIntervalMs: 40,
  gossipFanout: 3,
  gossipToTheDeadMs: 1000,
  maxGossipBytes: 1024,
  pushPullIntervalMs: 30_000,
  reconnectIntervalMs: 2_000,
}

/** How long a suspicion stands before the member is declared dead, for a cluster of `clusterSize` nodes. */
export const suspicionTimeoutMs = (config: MembershipConfig, clusterSize: number): number =>
  Math.round(config.suspicionMult * config.probeIntervalMs * Math.max(1, Math.log10(Math.max(1, clusterSize))))

export const retransmitLimit = (config: MembershipConfig, clusterSize: number): number =>
  config.retransmitMult * Math.max(1, Math.ceil(Math.log(clusterSize + 1)))

/**
 * hashicorp/memberlist's DefaultLANConfig, which MetalLB's speakers run: a 1 s probe period, 500 ms
 * probe timeout, suspicion multiplier 4 (4 s up to 10 nodes; memberlist starts a suspicion even longer
 * and shortens it to this as other members confirm it), gossip every 200 ms to 3 members. Kept as a
 * profile to measure our defaults against in the same run (bench/failover) and for networks where
 * sub-second detection is not wanted.
 */
export const memberlistLanConfig: MembershipConfig = {
  probeIntervalMs: 1_000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 4,
  retransmitMult: 4,
  gossipIntervalMs: 200,
  gossipFanout: 3,
  gossipToTheDeadMs: 30_000,
  maxGossipBytes: 1024,
  pushPullIntervalMs: 30_000,
  // Serf's reconnect interval; MetalLB rejoins its speakers by pod list every minute or so.
  reconnectIntervalMs: 30_000,
}

/**
 * Between the two: probes every 200 ms with a 100 ms timeout, suspicion 3 periods (600 ms up to 10 nodes).
 * bench/membership.bench.ts: a dead node known everywhere in ~1 s (worst ~1.8 s at 10 nodes), and a
 * speaker that does not run for up to ~800 ms (a CPU-starved node) is not declared dead, where `fast`
 * forgives ~240 ms. For clusters whose nodes are busy but that still want failover within seconds.
 */
export const steadyMembershipConfig: MembershipConfig = {
  ...defaultMembershipConfig,
  probeIntervalMs: 200,
  probeTimeoutMs: 100,
  suspicionMult: 3,
  gossipIntervalMs: 100,
  gossipToTheDeadMs: 3_000,
  reconnectIntervalMs: 5_000,
}

export const membershipProfiles = { fast: defaultMembershipConfig, steady: steadyMembershipConfig, "memberlist-lan": memberlistLanConfig } as const
export type MembershipProfile = keyof typeof membershipProfiles
