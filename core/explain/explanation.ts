// What `metallb-ts explain` says about a Service, as data (`-o json` prints it; text.ts words it): the
// configuration in force, the addresses and how the controller chose them or why it could not, and who
// announces them (Layer 2: the election with each node's verdict; BGP: per node and peer, or why not).
import type { NodeVerdict } from "../election/owner.ts"
import type { Unreadable } from "../snapshot/cluster-state.ts"

/** A pool as the allocator looked at it for this service. */
export interface PoolVerdict {
  readonly pool: string
  readonly verdict:
    /** The pool the addresses come from. */
    | "chosen"
    /** spec.autoAssign false: only a requested address or the address-pool annotation takes from it. */
    | "autoAssign"
    /** serviceAllocation.namespaces / namespaceSelectors leave the service's namespace out. */
    | "namespace"
    /** serviceAllocation.serviceSelectors match none of the service's labels. */
    | "serviceSelector"
    /** The pool has no range of a family the service needs. */
    | "family"
    /** Every address of the needed family is in use (and none may be shared). */
    | "exhausted"
    /** Tried and refused for another reason (detail says which). */
    | "refused"
    /** Not tried: an earlier pool in the order had room. */
    | "notTried"
  /** The pool's priority (serviceAllocation.priority; 0: none) and whether it is pinned (has serviceAllocation). */
  readonly priority: number
  readonly pinned: boolean
  readonly detail?: string
}

export interface SharingPartner {
  readonly service: string
  /** PROTOCOL/port */
  readonly ports: ReadonlyArray<string>
}

export interface SharedAddress {
  readonly address: string
  /** The allow-shared-ip key. */
  readonly sharingKey: string
  readonly with: ReadonlyArray<SharingPartner>
}

export type HowChosen =
  /** Asked for by the loadBalancerIPs annotation or spec.loadBalancerIP. */
  | { readonly _tag: "Requested"; readonly by: "annotation" | "spec.loadBalancerIP" }
  /** Kept: the addresses its status shows still fit (a restart or a new configuration never moves them). */
  | { readonly _tag: "KeptFromStatus" }
  /** From the pool its address-pool annotation names. */
  | { readonly _tag: "AnnotatedPool"; readonly pool: string }
  /** The first pool with room in the allocator's order (pinned pools by priority, then the others by name). */
  | { readonly _tag: "PoolOrder" }

export type Allocation =
  | { readonly _tag: "NotLoadBalancer"; readonly type: string }
  | { readonly _tag: "OtherClass"; readonly loadBalancerClass: string | undefined; readonly ours: string | undefined }
  /** No valid configuration can be computed from what was read (invalid, or none). */
  | { readonly _tag: "NoConfiguration" }
  /** The service's annotations or spec make no request (the controller's warning). */
  | { readonly _tag: "BadRequest"; readonly message: string }
  | {
    readonly _tag: "Assigned"
    readonly addresses: ReadonlyArray<string>
    readonly pool: string
    readonly how: HowChosen
    readonly pools: ReadonlyArray<PoolVerdict>
    readonly shared: ReadonlyArray<SharedAddress>
    /** Addresses it showed before that it gives up, and why. */
    readonly released?: { readonly held: ReadonlyArray<string>; readonly why: string }
  }
  | {
    readonly _tag: "Failed"
    /** The allocator's error tag (PoolExhausted, AddressInUse, AddressNotInPool, PortConflict, ...). */
    readonly error: string
    readonly message: string
    /** AddressInUse / PortConflict: the services holding the address. */
    readonly holders: ReadonlyArray<string>
    readonly pools: ReadonlyArray<PoolVerdict>
    readonly released?: { readonly held: ReadonlyArray<string>; readonly why: string }
  }

export interface ConfigExplanation {
  /** The metallb.io objects read resolve to a valid configuration. */
  readonly valid: boolean
  readonly errors: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
  /** What the controller reported in ConfigurationState (Valid/Invalid), when readable. */
  readonly reported?: string
}

/** "candidate", or why the election passed the node over (core/election/owner.ts's verdicts). */
export type NodeReason = "candidate" | Extract<NodeVerdict, { readonly _tag: "Rejected" }>["reason"]

export interface L2Candidate {
  readonly node: string
  readonly reason: NodeReason
  /** Candidates: place in the election order (1 wins) and preferredNodeSelectors score. */
  readonly rank?: number
  readonly score?: number
}

export interface L2Explanation {
  readonly pool: string
  readonly advertisements: ReadonlyArray<string>
  /** The owner's interfaces; empty: every usable interface. */
  readonly interfaces: ReadonlyArray<string>
  readonly owner?: string
  /** Elected, or why no node announces (NoServingEndpoint, NoMatchingAdvertisement, NoAvailableNode, ...). */
  readonly result: string
  readonly nodes: ReadonlyArray<L2Candidate>
  /** Nodes whose ServiceL2Status says they announce it, with their interfaces. */
  readonly reported: ReadonlyArray<{ readonly node: string; readonly interfaces: ReadonlyArray<string> }>
}

export interface BgpRoute {
  readonly prefix: string
  readonly localPref?: number
  readonly communities: ReadonlyArray<string>
}

export interface BgpPeerAdvertisement {
  readonly peer: string
  readonly routes: ReadonlyArray<BgpRoute>
  /** The node's ServiceBGPStatus lists the peer (its session is up and the routes went out). */
  readonly reported: boolean
  /** Why the session cannot run on this node (no IPv4 router ID, unnumbered...), from the speaker's session config. */
  readonly sessionProblem?: string
}

/** A node's session with one BGPPeer, as its BGPSessionState says. */
export interface BgpSession {
  readonly peer: string
  /** Undefined: no BGPSessionState for it (the session is not open, or the states were not read). */
  readonly state?: {
    /** The BGP FSM state: Established, or where it is stuck (Active, Connect, Idle, OpenSent, OpenConfirm). */
    readonly bgpStatus: string
    /** up, down, init, shutdown, N/A (no BFD). */
    readonly bfdStatus: string
    /** When the BGP state began (RFC 3339), when known. */
    readonly since?: string
    /** The BGPSessionState object. */
    readonly object: string
  }
}

export interface BgpNode {
  readonly node: string
  /**
   * "advertises", or why not (NoLocalEndpoint, NodeSelector, NoPeerForNode, NoSpeaker, ...; SessionDown:
   * it should advertise, but no session to a peer it would advertise to is Established).
   */
  readonly reason: string
  readonly advertisements: ReadonlyArray<string>
  readonly peers: ReadonlyArray<BgpPeerAdvertisement>
  /** Its sessions with every BGPPeer that selects the node. */
  readonly sessions: ReadonlyArray<BgpSession>
}

export interface BgpExplanation {
  readonly pool: string
  readonly nodes: ReadonlyArray<BgpNode>
  /** Peers a ServiceBGPStatus names for this service, per node (what the speakers say they do). */
  readonly reported: ReadonlyArray<{ readonly node: string; readonly peers: ReadonlyArray<string> }>
  /** Why the sessions' states are unknown (the BGPSessionStates could not be read); absent: read. */
  readonly sessionStatesUnknown?: string
}

export interface ServiceExplanation {
  /** namespace/name */
  readonly service: string
  /** The addresses in its status now. */
  readonly status: ReadonlyArray<string>
  readonly allocation: Allocation
  /** Undefined: no address, or no L2Advertisement for its pool. */
  readonly layer2?: L2Explanation
  /** Undefined: no address, or no BGPAdvertisement for its pool. */
  readonly bgp?: BgpExplanation
  /** Inferences and gaps worth knowing (what was assumed, what disagrees with the status). */
  readonly notes: ReadonlyArray<string>
}

export interface Explanation {
  readonly source: string
  readonly config: ConfigExplanation
  readonly services: ReadonlyArray<ServiceExplanation>
  /** How the speakers' membership was inferred. */
  readonly membership: string
  /** What the whole answer assumed (Secrets not read, passes not settled). */
  readonly notes: ReadonlyArray<string>
  readonly unreadable: ReadonlyArray<Unreadable>
}
