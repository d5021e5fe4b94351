// A cluster as the operator tools (`explain`, `plan`) read it, once: the Services, EndpointSlices, Nodes
// and Namespaces, the metallb.io configuration with the Secrets it may name, the speakers' status
// objects and pods, and what could not be read (a read-only token may lack a permission; a dump may
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
  /** Undefined: the pods could not be read (see unreadable). */
  readonly speakerPods?: ReadonlyArray<SpeakerPod>
  readonly configurationState?: ConfigurationReport
  readonly unreadable: ReadonlyArray<Unreadable>
}

/** Whether a kind could be read (a command about Secrets, pods or statuses says what it had to go without). */
export const couldRead = (state: ClusterState, kind: string): boolean => !state.unreadable.some((u) => u.kind === kind)
