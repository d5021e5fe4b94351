// The speaker's production settings, in one place: the real speaker and the simulator both import
// these, so the simulator's figures describe the product (BGP connect-retry and backoff, the join wait,
// the hand-over, the link watch's timings). Per-node values (name, seeds, exclusions) come with
// NodeSettings; the protocol timings here are MetalLB's / FRR's defaults.
import { type BackoffConfig, metallbBackoff } from "../bgp/session.ts"
import type { Address } from "../net/address.ts"

/** RFC 4271 §10's suggested ConnectRetryTime, FRR's default too. */
export const defaultConnectRetrySeconds = 120
/** RFC 4724's restart time, as FRR advertises it by default. */
export const defaultRestartTimeSeconds = 120
/** Reconnect backoff after a session went down: MetalLB's 1 s doubling to 120 s. */
export const speakerBackoff: BackoffConfig = metallbBackoff

/** How long a joining speaker waits for another member to answer before deciding alone. */
export const joinTimeoutMs = 10_000
/** After a rejoin (a link came back) hold back until another member answers, or this long. */
export const rejoinHoldMs = 3_000
/** On SIGTERM, how long the leaving speaker keeps answering after telling the others. */
export const handOverMs = 2_000
/** How often the link state of the Layer 2 interfaces is read. */
export const linkPollMs = 250
/** How often the interfaces are scanned again (MetalLB rescans every 10 s). */
export const rescanMs = 10_000
/** A full decision pass at least this often, whatever happens (retries failed status writes). */
export const resyncMs = 10_000
/** Changes of the watched objects closer than this are decided together. */
export const debounceMs = 20

/** The default exclusions of MetalLB's metallb-excludel2 ConfigMap: container and virtual plumbing. */
export const defaultExcludePatterns: ReadonlyArray<string> = [
  "^docker.*", "^cbr.*", "^dummy.*", "^virbr.*", "^lxcbr.*", "^veth.*", "^lo$", "^cali.*", "^tunl.*", "^flannel.*",
  "^kube-ipvs.*", "^cni.*", "^vxlan.calico.*", "^vxlan-v6.calico.*", "^nodelocaldns.*",
]

/** What one node's decision machine is told at its start. */
export interface NodeSettings {
  readonly nodeName: string
  /** --ignore-exclude-lb: announce even from nodes carrying the exclusion label. */
  readonly ignoreExcludeLb: boolean
  /** Membership is on (a bind address was given); off, every node is always a candidate. */
  readonly membership: boolean
  /** The other speakers to join (membership addresses). */
  readonly seeds: ReadonlyArray<string>
  /** Interface name patterns never used for Layer 2 (metallb-excludel2). */
  readonly excludePatterns: ReadonlyArray<string>
  /** The node's address (METALLB_HOST): the BGP router ID for peers that set none, when IPv4. */
  readonly hostAddress?: Address
  readonly joinTimeoutMs: number
  readonly rejoinHoldMs: number
  readonly handOverMs: number
  readonly resyncMs: number
}

/** Settings with the production timings. */
export const nodeSettings = (
  given: Pick<NodeSettings, "nodeName"> & Partial<Omit<NodeSettings, "nodeName">>,
): NodeSettings => ({
  ignoreExcludeLb: false,
  membership: false,
  seeds: [],
  excludePatterns: defaultExcludePatterns,
  joinTimeoutMs,
  rejoinHoldMs,
  handOverMs,
  resyncMs,
  ...given,
})
