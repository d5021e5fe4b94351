// Reads a cluster once for the operator tools (`explain`, `plan`): live through a kubeconfig (list calls
// only, so a read-only ClusterRole is enough) or offline from a dump (`kubectl get ... -A -o yaml`: a
// YAML stream of objects and/or `kind: List`s). Both paths end in `clusterStateOf`, which decodes with
// the controller's and the speaker's own decoders (serviceView, configSourcesOf, snapshotOf), so the
// commands compute on what those processes would see. Whatever could not be read is listed, never
// silently taken as empty.
import type { KubeConfig, KubernetesObject, V1EndpointSlice, V1Namespace, V1Node, V1Pod, V1Secret, V1Service } from "@kubernetes/client-node"
import { Effect } from "effect"
import { parseAllDocuments } from "yaml"
import { noBfd, sessionStateLabels, sessionStatePeerNameLabel, sessionStateSinceAnnotation } from "../../core/config/kinds/bgp-session-state.ts"
import type { ClusterState, ConfigurationReport, SessionStateReport, SpeakerPod, StatusObjectKind, StatusReport, Unreadable } from "../../core/snapshot/cluster-state.ts"
import { apiErrorText } from "../kube/api-error.ts"
import { configKinds, configSourcesOf, statusKinds } from "../kube/config-objects.ts"
import { makeKubeApi, type ResourceType, resources } from "../kube/kube-api.ts"
import type { ClusterAccess } from "../kube/http/cluster-access.ts"
import { loadKubeConfig } from "../kube/kube-config.ts"
import { serviceNameLabel, serviceNamespaceLabel } from "../kube/service-status.ts"
import { bgpSessionStates } from "../kube/session-states.ts"
import { serviceView } from "../kube/views.ts"
import { snapshotOf } from "../speaker/cluster-snapshot.ts"

export interface ReadOptions {
  /** The namespace metallb-ts runs in (default metallb-system). */
  readonly metallbNamespace?: string
  /** The --lb-class metallb-ts runs with; undefined: services without a class. */
  readonly loadBalancerClass?: string
  /** Read the speakers' BGPSessionStates too (explain; plan has no use for them). */
  readonly sessionStates?: boolean
}

/** The speaker pods' labels in the shipped manifests (manifests/base/speaker.yaml). */
export const speakerPodSelector = "app=metallb,component=speaker"

/** The objects of one read, by kind, before decoding. */
export interface RawCluster {
  readonly source: string
  readonly services: ReadonlyArray<V1Service>
  readonly endpointSlices: ReadonlyArray<V1EndpointSlice>
  readonly nodes: ReadonlyArray<V1Node>
  readonly namespaces: ReadonlyArray<V1Namespace>
  /** metallb.io configuration objects of metallb-ts's namespace. */
  readonly config: ReadonlyArray<KubernetesObject>
  readonly secrets: ReadonlyArray<V1Secret>
  readonly statuses: ReadonlyArray<KubernetesObject>
  /** BGPSessionStates; undefined: not read. */
  readonly sessionStates?: ReadonlyArray<KubernetesObject>
  /** Undefined: not read. */
  readonly speakerPods?: ReadonlyArray<V1Pod>
  readonly configurationStates: ReadonlyArray<KubernetesObject>
  readonly unreadable: ReadonlyArray<Unreadable>
}

const record = (value: unknown): Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {}
const strings = (value: unknown): ReadonlyArray<string> => (Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [])

/** A ServiceL2Status/ServiceBGPStatus as the speaker writes it (shell/kube/service-status.ts). */
export const statusReportOf = (object: KubernetesObject): StatusReport | undefined => {
  const kind = object.kind as StatusObjectKind
  if (kind !== "ServiceL2Status" && kind !== "ServiceBGPStatus") return undefined
  const status = record((object as { status?: unknown }).status)
  const labels = object.metadata?.labels ?? {}
  const namespace = typeof status["serviceNamespace"] === "string" ? status["serviceNamespace"] : labels[serviceNamespaceLabel]
  const name = typeof status["serviceName"] === "string" ? status["serviceName"] : labels[serviceNameLabel]
  const node = status["node"]
  if (namespace === undefined || name === undefined || typeof node !== "string") return undefined
  return {
    kind,
    name: object.metadata?.name ?? "",
    node,
    service: `${namespace}/${name}`,
    interfaces: (Array.isArray(status["interfaces"]) ? status["interfaces"] : []).flatMap((i) => {
      const n = record(i)["name"]
      return typeof n === "string" ? [n] : []
    }),
    peers: strings(status["peers"]),
  }
}

/** A BGPSessionState as our speaker (shell/kube/session-states.ts) or frr-k8s writes it. */
export const sessionStateReportOf = (object: KubernetesObject): SessionStateReport | undefined => {
  if (object.kind !== bgpSessionStates.kind) return undefined
  const status = record((object as { status?: unknown }).status)
  const labels = object.metadata?.labels ?? {}
  const text = (field: string, label?: string) => (typeof status[field] === "string" ? status[field] : label === undefined ? undefined : labels[label])
  const node = text("node", sessionStateLabels.node)
  const neighbor = text("peer", sessionStateLabels.peer)
  if (node === undefined || neighbor === undefined) return undefined
  const bgpPeer = object.metadata?.annotations?.[sessionStatePeerNameLabel] ?? labels[sessionStatePeerNameLabel]
  const since = object.metadata?.annotations?.[sessionStateSinceAnnotation]
  return {
    name: object.metadata?.name ?? "",
    node,
    ...(bgpPeer === undefined ? {} : { bgpPeer }),
    neighbor,
    vrf: text("vrf", sessionStateLabels.vrf) ?? "",
    // An object created but not yet given a status: nothing is known of the session.
    bgpStatus: text("bgpStatus") ?? "Unknown",
    bfdStatus: text("bfdStatus") ?? noBfd,
    ...(since === undefined ? {} : { since }),
  }
}

const speakerPodOf = (pod: V1Pod): SpeakerPod => ({
  name: pod.metadata?.name ?? "",
  ...(pod.spec?.nodeName === undefined ? {} : { node: pod.spec.nodeName }),
  ready: (pod.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
})

const configurationReportOf = (objects: ReadonlyArray<KubernetesObject>): ConfigurationReport | undefined => {
  const object = objects.find((o) => o.metadata?.name === "controller") ?? objects[0]
  if (object === undefined) return undefined
  const status = record((object as { status?: unknown }).status)
  return {
    ...(typeof status["result"] === "string" ? { result: status["result"] } : {}),
    ...(typeof status["errorSummary"] === "string" ? { errorSummary: status["errorSummary"] } : {}),
  }
}

/** Decodes a read with the controller's and the speaker's decoders. */
export const clusterStateOf = (raw: RawCluster, options: ReadOptions = {}): ClusterState => {
  const metallbNamespace = options.metallbNamespace ?? "metallb-system"
  const configurationState = configurationReportOf(raw.configurationStates)
  return {
    source: raw.source,
    metallbNamespace,
    ...(options.loadBalancerClass === undefined ? {} : { loadBalancerClass: options.loadBalancerClass }),
    services: raw.services.map(serviceView),
    namespaces: raw.namespaces.map((n) => ({ name: n.metadata?.name ?? "", labels: n.metadata?.labels ?? {} })),
    config: configSourcesOf(raw.config, raw.secrets, metallbNamespace),
    speaker: snapshotOf(raw.services, raw.endpointSlices, raw.nodes, options.loadBalancerClass),
    statuses: raw.statuses.flatMap((o) => statusReportOf(o) ?? []),
    ...(raw.sessionStates === undefined ? {} : { sessionStates: raw.sessionStates.flatMap((o) => sessionStateReportOf(o) ?? []) }),
    ...(raw.speakerPods === undefined ? {} : { speakerPods: raw.speakerPods.map(speakerPodOf) }),
    ...(configurationState === undefined ? {} : { configurationState }),
    unreadable: raw.unreadable,
  }
}

/** Every kind a read looks for, with where it is listed. */
const readKinds = (metallbNamespace: string, sessionStates: boolean): ReadonlyArray<{ readonly type: ResourceType; readonly namespace?: string; readonly labelSelector?: string }> => [
  { type: resources.services },
  { type: resources.endpointSlices },
  { type: resources.nodes },
  { type: resources.namespaces },
  ...configKinds.map((type) => ({ type, namespace: metallbNamespace })),
  { type: resources.secrets, namespace: metallbNamespace },
  { type: statusKinds.serviceL2Statuses, namespace: metallbNamespace },
  { type: statusKinds.serviceBGPStatuses, namespace: metallbNamespace },
  { type: statusKinds.configurationStates, namespace: metallbNamespace },
  ...(sessionStates ? [{ type: bgpSessionStates, namespace: metallbNamespace }] : []),
  { type: resources.pods, namespace: metallbNamespace, labelSelector: speakerPodSelector },
]

const configKindNames = new Set(configKinds.map((k) => k.kind))

/** Sorts listed objects into a RawCluster (pods stay undefined when they were not read). */
const assemble = (
  source: string,
  byKind: ReadonlyMap<string, ReadonlyArray<KubernetesObject>>,
  unreadable: ReadonlyArray<Unreadable>,
): RawCluster => {
  const of = <T>(kind: string) => (byKind.get(kind) ?? []) as ReadonlyArray<T>
  const pods = byKind.get("Pod")
  const sessionStates = byKind.get(bgpSessionStates.kind)
  return {
    source,
    services: of<V1Service>("Service"),
    endpointSlices: of<V1EndpointSlice>("EndpointSlice"),
    nodes: of<V1Node>("Node"),
    namespaces: of<V1Namespace>("Namespace"),
    config: [...configKindNames].flatMap((k) => of<KubernetesObject>(k)),
    secrets: of<V1Secret>("Secret"),
    statuses: [...of<KubernetesObject>("ServiceL2Status"), ...of<KubernetesObject>("ServiceBGPStatus")],
    ...(pods === undefined ? {} : { speakerPods: pods as ReadonlyArray<V1Pod> }),
    ...(sessionStates === undefined ? {} : { sessionStates }),
    configurationStates: of<KubernetesObject>("ConfigurationState"),
    unreadable,
  }
}

/**
 * Reads the cluster through the API (list calls only). A list that fails (403 Forbidden for a read-only
 * token without Secrets, 404 when a CRD is not installed, no answer) is recorded, and the rest is read.
 */
export const readLive = (kubeConfig: KubeConfig | ClusterAccess, options: ReadOptions = {}): Effect.Effect<ClusterState> =>
  Effect.gen(function* () {
    const api = makeKubeApi(kubeConfig)
    const metallbNamespace = options.metallbNamespace ?? "metallb-system"
    const byKind = new Map<string, ReadonlyArray<KubernetesObject>>()
    const unreadable: Array<Unreadable> = []
    const results = yield* Effect.forEach(readKinds(metallbNamespace, options.sessionStates ?? false), (k) =>
      api.list<KubernetesObject>(k.type, { namespace: k.namespace, labelSelector: k.labelSelector }).pipe(
        Effect.result,
        Effect.map((result) => ({ k, result })),
      ), { concurrency: 4 })
    for (const { k, result } of results) {
      if (result._tag === "Success") {
        // Typed core-group lists leave kind unset on items; the list's kind says it.
        byKind.set(k.type.kind, result.success.items.map((o) => (o.kind === undefined ? { ...o, kind: k.type.kind } : o)))
        continue
      }
      const error = result.failure
      // No ConfigurationState is fine (an older controller or none yet); its absence is not a gap in the picture.
      if (k.type.kind === "ConfigurationState") continue
      unreadable.push({
        kind: k.type.kind,
        ...(k.namespace === undefined ? {} : { namespace: k.namespace }),
        ...(error.status === undefined ? {} : { status: error.status }),
        reason: error.status === 404 ? `${error.resource} is not served (CRD not installed?)` : apiErrorText(error),
      })
    }
    const context = "exportConfig" in kubeConfig ? kubeConfig.getCurrentContext() : kubeConfig.context
    return clusterStateOf(assemble(`kubeconfig context ${context === "" ? "(none)" : context}`, byKind, unreadable), options)
  })

export class DumpError extends Error {
  override readonly name = "DumpError"
}

/** Kinds a dump is expected to hold; one that is absent is reported (it may be empty, or not dumped). */
const expectedInDump = ["Service", "EndpointSlice", "Node", "Namespace", "Secret", "ServiceL2Status", "ServiceBGPStatus", "Pod"] as const

/**
 * Reads a dump: a YAML (or JSON) stream of objects and Lists, as `kubectl get services,endpointslices,
 * nodes,namespaces,ipaddresspools,... -A -o yaml` prints. Namespaced metallb.io objects, Secrets and
 * pods count only in metallb-ts's namespace (or with no namespace: a hand-written file), as the
 * controller and speaker watch only there.
 */
export const readDump = (text: string, path: string, options: ReadOptions = {}): ClusterState => {
  const metallbNamespace = options.metallbNamespace ?? "metallb-system"
  const objects: Array<KubernetesObject> = []
  parseAllDocuments(text).forEach((doc, index) => {
    if (doc.errors.length > 0) throw new DumpError(`${path}: document ${index + 1}: ${doc.errors[0]?.message}`)
    const value = doc.toJS() as unknown
    if (value === null || value === undefined) return
    const object = record(value)
    if (typeof object["kind"] !== "string") throw new DumpError(`${path}: document ${index + 1} has no kind`)
    if (object["kind"] === "List" || object["kind"].endsWith("List")) {
      const items = object["items"]
      if (!Array.isArray(items)) throw new DumpError(`${path}: document ${index + 1}: a ${object["kind"]} without items`)
      items.forEach((item, i) => {
        if (typeof record(item)["kind"] !== "string") throw new DumpError(`${path}: document ${index + 1}, item ${i + 1} has no kind`)
        objects.push(item as KubernetesObject)
      })
    } else objects.push(object as KubernetesObject)
  })
  const inMetallb = (o: KubernetesObject) => o.metadata?.namespace === undefined || o.metadata.namespace === metallbNamespace
  const byKind = new Map<string, Array<KubernetesObject>>()
  const seen = new Set<string>()
  for (const o of objects) {
    const kind = o.kind as string
    seen.add(kind)
    const restricted = configKindNames.has(kind) || ["Secret", "Pod", "ServiceL2Status", "ServiceBGPStatus", "BGPSessionState", "ConfigurationState"].includes(kind)
    if (restricted && !inMetallb(o)) continue
    if (kind === "Pod" && !speakerPodSelector.split(",").every((kv) => {
      const [k, v] = kv.split("=")
      return o.metadata?.labels?.[k ?? ""] === v
    })) continue
    byKind.set(kind, [...(byKind.get(kind) ?? []), o])
  }
  const unreadable: Array<Unreadable> = expectedInDump.filter((k) => !seen.has(k)).map((kind) => ({ kind, reason: `not in ${path}` }))
  if (![...configKindNames].some((k) => seen.has(k))) unreadable.push({ kind: "IPAddressPool", reason: `no metallb.io configuration in ${path}` })
  // A dump without pods says nothing of the speakers; with pods, those of other components are simply not speakers.
  if (seen.has("Pod") && !byKind.has("Pod")) byKind.set("Pod", [])
  if (options.sessionStates !== true) byKind.delete(bgpSessionStates.kind)
  // A dump without them says nothing of the sessions (explain says so); one with them, even none in our namespace, does.
  else if (seen.has(bgpSessionStates.kind) && !byKind.has(bgpSessionStates.kind)) byKind.set(bgpSessionStates.kind, [])
  return clusterStateOf(assemble(`file ${path}`, byKind, unreadable), options)
}

export interface ClusterStateSource {
  /** A kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster). */
  readonly kubeconfig?: string
  /** A dump file to read instead of the API. */
  readonly clusterState?: string
}

/** Reads the dump file when given, else the live cluster; fails with a clear message when neither can be read. */
export const readClusterState = (source: ClusterStateSource, options: ReadOptions, readFile: (path: string) => string): Effect.Effect<ClusterState, Error> => {
  if (source.clusterState !== undefined && source.kubeconfig !== undefined) {
    return Effect.fail(new Error("--kubeconfig and --cluster-state exclude each other: read the live cluster or a dump, not both"))
  }
  if (source.clusterState !== undefined) {
    const path = source.clusterState
    return Effect.try({
      try: () => readDump(readFile(path), path, options),
      catch: (e) => (e instanceof DumpError ? e : new Error(`cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`)),
    })
  }
  return Effect.try({
    try: () => loadKubeConfig(source.kubeconfig),
    catch: (e) => new Error(`cannot load the kubeconfig${source.kubeconfig === undefined ? "" : ` ${source.kubeconfig}`}: ${e instanceof Error ? e.message : String(e)}`),
  }).pipe(Effect.flatMap((kc) => readLive(kc, options)))
}
