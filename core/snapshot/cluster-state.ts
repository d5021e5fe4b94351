// A cluster as the operator tools (`explain`, `plan`) read it, once: the Services, EndpointSlices, Nodes
// and Namespaces, the metallb.io configuration with the Secrets it may name, the speakers' status
// objects, BGP session states and pods, and what could not be read (a read-only token may lack a permission; a dump may
// lack a kind). Built by shell/cli/cluster-state.ts with the decoders the controller and the speaker
// use (shell/kube/views.ts, config-objects.ts, speaker/cluster-snapshot.ts), so a command computes on
// exactly what those processes would see. Pure data: no client-node type reaches core.
import type { ServiceView } from "../controller/service.ts"
import type { ConfigSources } from "../config/in-force.ts"
import type { ClusterSnapshot } from "../speaker/view.ts"

/** What a reader could not read, for the commands to say plainly. */
export interface Unreadable {
  /** The kind (Service, Secret, IPAddressPool, ...). */
  readonly kind: string
  /** The namespace the list was made in; undefined: every namespace or cluster-scoped. */
  readonly namespace?: string
  /** HTTP status when the API answered (403: not allowed; 404: the CRD is not installed). */
  readonly status?: number
  readonly reason: string
}

export type StatusObjectKind = "ServiceL2Status" | "ServiceBGPStatus"

/** One speaker's report for one service (MetalLB's ServiceL2Status / ServiceBGPStatus). */
export interface StatusReport {
  readonly kind: StatusObjectKind
  /** The object's name (l2-..., bgp-...). */
  readonly name: string
  readonly node: string
  /** namespace/name of the service. */
  readonly service: string
  /** L2: the interfaces the node answers on. */
  readonly interfaces: ReadonlyArray<string>
  /** BGP: the peers the node advertises the service to. */
  readonly peers: ReadonlyArray<string>
}

/** One node's BGPSessionState for one peer (frrk8s.metallb.io: what the speaker, or frr-k8s, reports). */
export interface SessionStateReport {
  /** The object's name. */
  readonly name: string
  readonly node: string
  /** The BGPPeer it is for (our speaker's label); undefined on an object frr-k8s wrote. */
  readonly bgpPeer?: string
  /** status.peer: the neighbour's address (IPv6 with '-' for ':') or an unnumbered peer's interface. */
  readonly neighbor: string
  readonly vrf: string
  /** The BGP FSM state (Established, Active, Connect, Idle, OpenSent, OpenConfirm). */
  readonly bgpStatus: string
  /** up, down, init, shutdown, or N/A (no BFD). */
  readonly bfdStatus: string
  /** When the BGP state began (RFC 3339), when the speaker said. */
  readonly since?: string
}

/** A speaker pod (app=metallb, component=speaker in metallb-ts's namespace). */
export interface SpeakerPod {
  readonly name: string
  /** spec.nodeName; undefined while unscheduled. */
  readonly node?: string
  /** The Ready condition is True. */
  readonly ready: boolean
}

/** The controller's ConfigurationState report (status.result, errorSummary). */
export interface ConfigurationReport {
  readonly result?: string
  readonly errorSummary?: string
}

export interface NamespaceLabels {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
}

export interface ClusterState {
  /** Where it was read from: "kubeconfig context <name>" or "file <path>". */
  readonly source: string
  /** The namespace metallb-ts runs in (its configuration, Secrets, status objects and pods). */
  readonly metallbNamespace: string
  /** --lb-class the cluster's metallb-ts runs with (undefined: services with no class). */
  readonly loadBalancerClass?: string
  /** Every Service, as the controller reads it. */
  readonly services: ReadonlyArray<ServiceView>
  readonly namespaces: ReadonlyArray<NamespaceLabels>
  /** The metallb.io objects and Secrets of metallb-ts's namespace, as the controller resolves them. */
  readonly config: ConfigSources
  /** The speaker's view: LoadBalancer Services of our class with their addresses, endpoints, Nodes. */
  readonly speaker: ClusterSnapshot
  readonly statuses: ReadonlyArray<StatusReport>
  /** The speakers' BGPSessionStates; undefined: not read (unreadable says why). */
  readonly sessionStates?: ReadonlyArray<SessionStateReport>
  /** Undefined: the pods could not be read (see unreadable). */
  readonly speakerPods?: ReadonlyArray<SpeakerPod>
  readonly configurationState?: ConfigurationReport
  readonly unreadable: ReadonlyArray<Unreadable>
}

/** Whether a kind could be read (a command about Secrets, pods or statuses says what it had to go without). */
export const couldRead = (state: ClusterState, kind: string): boolean => !state.unreadable.some((u) => u.kind === kind)

export interface Membership {
  /** Nodes counted as running a live speaker; undefined: every node (as with the membership off). */
  readonly members?: ReadonlySet<string>
  /** How that was inferred, for the reader (the membership itself is not in the API). */
  readonly how: string
}

/** The speakers' membership as far as the API shows it: the nodes with a Ready speaker pod. */
export const speakerMembership = (state: ClusterState): Membership => {
  const pods = state.speakerPods
  if (pods === undefined) return { how: "speaker pods could not be read: every node is counted as running a speaker" }
  if (pods.length === 0) return { how: `no speaker pod in ${state.metallbNamespace}: every node is counted as running a speaker` }
  const members = new Set(pods.filter((p) => p.ready && p.node !== undefined).map((p) => p.node as string))
  return {
    members,
    how: `members inferred from Ready speaker pods (${members.size === 0 ? "none" : [...members].sort().join(", ")}); ` +
      "the membership itself is not in the API, so a speaker that is Ready but cut off counts as a member here, " +
      "and the interfaces each speaker reports down (membership metadata) are not either: no node is passed over for interfaces down here",
  }
}

const record = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined

/**
 * The configuration sources a read-only tool resolves. Without read access to Secrets (the shipped
 * explain role has none), BGPPeers' passwordSecret references are dropped rather than failing the
 * whole configuration for Secrets that exist but could not be read; the note says so.
 */
export const toolConfigSources = (state: ClusterState): { readonly sources: ConfigSources; readonly notes: ReadonlyArray<string> } => {
  if (couldRead(state, "Secret")) return { sources: state.config, notes: [] }
  const dropped: Array<string> = []
  const documents = state.config.documents.map((d) => {
    const object = record(d.value)
    const spec = record(object?.["spec"])
    if (object?.["kind"] !== "BGPPeer" || spec?.["passwordSecret"] === undefined) return d
    const { passwordSecret: _secret, ...rest } = spec
    dropped.push(String(record(object["metadata"])?.["name"]))
    return { ...d, value: { ...object, spec: rest } }
  })
  return {
    sources: { ...state.config, documents },
    notes: dropped.length === 0 ? [] : [`Secrets could not be read: the password Secrets of BGPPeer ${dropped.join(", ")} were not checked`],
  }
}
