// `metallb-ts plan`: what applying a configuration would do to a cluster, computed before anything
// changes, by the machines that will do it. The configuration goes through the one resolve path
// (core/config/in-force.ts), with its errors and warnings; the controller's passes (reconcile.ts)
// run first on the live configuration (the state the running controller is in) and then on the new one,
// each until settled (converge.ts); the speakers' decisions (l2.ts, bgp.ts) run per node on the
// Services before and after. Nothing is decided here: this module compares and names the reasons.
//
// Two modes: apply (the FILEs replace the live objects of the same kind and name) and takeover (the
// live configuration as it is, read by a controller that starts now from the addresses in status:
// metallb-ts taking over a cluster MetalLB manages).
import type { Config } from "../config/config.ts"
import type { Document } from "../config/decode.ts"
import type { ConfigError } from "../config/errors.ts"
import { type ConfigSources, noConfig, updateConfig } from "../config/in-force.ts"
import { applyConfig, type ControllerOptions, initialState } from "../controller/reconcile.ts"
import { allocatedFromPoolAnnotation, serviceKey, type ServiceView } from "../controller/service.ts"
import { parseAddress } from "../net/address.ts"
import { type ClusterState, couldRead } from "../snapshot/cluster-state.ts"
import type { ClusterSnapshot } from "../speaker/view.ts"
import { type AnnouncementDiff, announcementsOf, diffAnnouncements } from "./announcements.ts"
import { type Converged, converge } from "./converge.ts"
import { mergeDocuments, type ObjectChange } from "./merge.ts"
import { type ChangeReason, poolBefore, type ReasonContext, reasonsFor } from "./reasons.ts"

export interface PlanInput {
  readonly cluster: ClusterState
  /** The FILEs' documents; undefined: takeover of the live configuration as it is. */
  readonly files?: ReadonlyArray<Document>
  /** The FILEs are the whole configuration: live metallb.io objects not in them are removed. */
  readonly prune?: boolean
  /** Errors found reading the FILEs (YAML syntax): they make the plan invalid. */
  readonly fileErrors?: ReadonlyArray<ConfigError>
}

export type ServiceChangeKind = "moves" | "loses" | "gains" | "pool"

export interface ServiceChange {
  readonly service: string
  /** moves: other addresses; loses: none left; gains: a first address; pool: same addresses, other pool. */
  readonly kind: ServiceChangeKind
  readonly before: ReadonlyArray<string>
  readonly after: ReadonlyArray<string>
  readonly poolBefore?: string
  readonly poolAfter?: string
  readonly reasons: ReadonlyArray<ChangeReason>
  /** The controller would make this change with the live configuration too: it is not settled there. */
  readonly alreadyPending: boolean
  /** When alreadyPending: the addresses the live configuration would give it. */
  readonly withLiveConfig?: ReadonlyArray<string>
}

export interface PendingService {
  readonly service: string
  readonly message: string
}

export interface Plan {
  readonly mode: "apply" | "takeover"
  /** Where the cluster was read from. */
  readonly source: string
  readonly valid: boolean
  readonly errors: ReadonlyArray<ConfigError>
  readonly warnings: ReadonlyArray<ConfigError>
  /** The live configuration is invalid: the controller keeps an older one, which cannot be read. */
  readonly liveErrors: ReadonlyArray<ConfigError>
  readonly objects: ReadonlyArray<ObjectChange>
  readonly ignoredDocuments: number
  readonly services: ReadonlyArray<ServiceChange>
  /** LoadBalancer Services of this class that keep their addresses and pool. */
  readonly unchanged: number
  /** Services without an address before and after, with the controller's reason. */
  readonly pending: ReadonlyArray<PendingService>
  readonly announcements: AnnouncementDiff
  /** The controller's passes settled (false: still writing after converge.ts's bound). */
  readonly settled: boolean
  readonly notes: ReadonlyArray<string>
}

const noAnnouncements: AnnouncementDiff = { appearing: [], disappearing: [], changing: [] }

/**
 * Only the pool annotation is written where there was none (MetalLB before 0.14 did not write it): the
 * addresses, the pool they are counted in and the announcements stay, so it is no change to gate on.
 */
export const recordsPoolOnly = (change: ServiceChange): boolean => change.kind === "pool" && change.poolBefore === undefined

/** 0: nothing changes for any Service; 2: addresses, pools or announcements change; 1: invalid. */
export const exitCodeOf = (plan: Plan): 0 | 1 | 2 => {
  if (!plan.valid) return 1
  const { appearing, disappearing, changing } = plan.announcements
  const services = plan.services.filter((c) => !recordsPoolOnly(c)).length
  return services + appearing.length + disappearing.length + changing.length > 0 ? 2 : 0
}

const poolOf = (view: ServiceView | undefined) => view?.annotations[allocatedFromPoolAnnotation]

const sameSet = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => a.length === b.length && a.every((x) => b.includes(x))

/** The speaker's view with the Services' addresses and pools as the controller leaves them. */
const snapshotAfter = (snapshot: ClusterSnapshot, views: ReadonlyMap<string, ServiceView>): ClusterSnapshot => {
  const services = snapshot.services.map((s) => {
    const view = views.get(s.key)
    if (view === undefined) return s
    const { pool: _pool, ...rest } = s
    const pool = poolOf(view)
    return {
      ...rest,
      addresses: view.ingressIPs.flatMap((ip) => {
        const parsed = parseAddress(ip)
        return parsed._tag === "Success" ? [parsed.success] : []
      }),
      ...(pool === undefined ? {} : { pool }),
    }
  })
  // sharedAddress as the speaker's snapshot sets it: another service of ours shows the same address.
  const holders = new Map<string, number>()
  for (const s of services) for (const ip of views.get(s.key)?.ingressIPs ?? []) holders.set(ip, (holders.get(ip) ?? 0) + 1)
  return {
    ...snapshot,
    services: services.map((s) => ({ ...s, sharedAddress: (views.get(s.key)?.ingressIPs ?? []).some((ip) => (holders.get(ip) ?? 0) > 1) })),
  }
}

const kindOf = (before: ReadonlyArray<string>, after: ReadonlyArray<string>): ServiceChangeKind =>
  sameSet(before, after) ? "pool" : before.length === 0 ? "gains" : after.length === 0 ? "loses" : "moves"

export const plan = (input: PlanInput): Plan => {
  const { cluster } = input
  const mode = input.files === undefined ? "takeover" : "apply"
  // The controller resolves with the cluster's Nodes (peers' node sets decide on them): so does the plan.
  const live: ConfigSources = cluster.config.nodes !== undefined || !couldRead(cluster, "Node")
    ? cluster.config
    : { ...cluster.config, nodes: cluster.speaker.nodes.map((n) => ({ name: n.name, labels: n.labels })) }
  const merged = input.files === undefined ? undefined : mergeDocuments(live.documents, input.files, { prune: input.prune ?? false })
  const liveResolution = updateConfig(noConfig, live).state
  const next = merged === undefined ? liveResolution : updateConfig(noConfig, { ...live, documents: merged.documents }).state
  const errors = [...(input.fileErrors ?? []), ...next.errors]
  const notes: Array<string> = cluster.unreadable.map((u) =>
    `could not read ${u.kind}${u.namespace === undefined ? "" : ` in ${u.namespace}`}${u.status === undefined ? "" : ` (HTTP ${u.status})`}: ${u.reason}`)
  if (!couldRead(cluster, "Secret")) {
    notes.push("the Secrets could not be read: a BGPPeer's passwordSecret is resolved without them, so an error naming a missing Secret may be the reader's, not the configuration's")
  }
  const base = {
    mode,
    source: cluster.source,
    warnings: next.warnings,
    liveErrors: mode === "apply" ? liveResolution.errors : [],
    objects: merged?.objects ?? [],
    ignoredDocuments: merged?.ignored ?? 0,
  } as const
  const newConfig = next.stale ? undefined : next.config
  if (errors.length > 0 || newConfig === undefined) {
    return { ...base, valid: false, errors, services: [], unchanged: 0, pending: [], announcements: noAnnouncements, settled: true, notes }
  }
  const oldConfig: Config | undefined = liveResolution.stale ? undefined : liveResolution.config
  if (mode === "apply" && oldConfig === undefined) {
    notes.push("the live configuration is invalid or absent: the controller keeps an older one that cannot be read; predicted from the addresses in status")
  }
  const options: ControllerOptions = cluster.loadBalancerClass === undefined ? {} : { loadBalancerClass: cluster.loadBalancerClass }
  const labels = new Map(cluster.namespaces.map((n) => [n.name, n.labels]))
  const namespaceLabels = (namespace: string) => labels.get(namespace) ?? {}
  // The running controller: the live configuration, settled on the Services as they are.
  const baseline: Converged | undefined = mode === "apply"
    ? converge(oldConfig === undefined ? initialState : applyConfig(initialState, oldConfig), cluster.services, namespaceLabels, options)
    : undefined
  const after = converge(applyConfig(baseline?.state ?? initialState, newConfig), baseline?.views ?? cluster.services, namespaceLabels, options)
  if (baseline !== undefined && !baseline.settled) notes.push(`with the live configuration the controller does not settle within ${baseline.passes} passes`)
  if (!after.settled) notes.push(`with the new configuration the controller does not settle within ${after.passes} passes; the prediction is its state then`)
  const liveViews = new Map(cluster.services.map((s) => [serviceKey(s), s]))
  const baselineViews = new Map((baseline?.views ?? []).map((s) => [serviceKey(s), s]))
  const afterViews = new Map(after.views.map((s) => [serviceKey(s), s]))
  const context: ReasonContext = { before: mode === "apply" ? oldConfig : newConfig, after: newConfig }
  const services: Array<ServiceChange> = []
  const pending: Array<PendingService> = []
  let unchanged = 0
  for (const [key, view] of [...afterViews].sort(([a], [b]) => a.localeCompare(b))) {
    const was = liveViews.get(key)
    const before = was?.ingressIPs ?? []
    const poolWas = poolOf(was)
    const poolNow = poolOf(view)
    const last = after.last.get(key)
    if (sameSet(before, view.ingressIPs) && poolWas === poolNow) {
      // Only the controller's services count: others (no ingress outcome) are not ours.
      if (last?.ingress === undefined) continue
      if (before.length > 0) unchanged += 1
      else if (view.type === "LoadBalancer") {
        const warning = last.events.filter((e) => e.type === "Warning").map((e) => e.message).join("; ")
        pending.push({ service: key, message: last.failure?.message ?? (warning === "" ? "no address assigned" : warning) })
      }
      continue
    }
    const baselineView = baselineViews.get(key)
    const alreadyPending = baselineView !== undefined && !(sameSet(before, baselineView.ingressIPs) && poolWas === poolOf(baselineView))
    const releasedAfter = after.released.get(key)
    const released = releasedAfter ?? baseline?.released.get(key)
    // Given up under the new configuration: it held what the live configuration left it (the baseline).
    const held = releasedAfter !== undefined ? baselineView ?? was : was
    services.push({
      service: key,
      kind: kindOf(before, view.ingressIPs),
      before,
      after: view.ingressIPs,
      ...(poolWas === undefined ? {} : { poolBefore: poolWas }),
      ...(poolNow === undefined ? {} : { poolAfter: poolNow }),
      reasons: reasonsFor(context, {
        before,
        after: view.ingressIPs,
        poolBefore: poolBefore(context, poolOf(held), released?.released?.held ?? before),
        poolAfter: poolNow,
        released,
        last,
      }),
      alreadyPending,
      ...(alreadyPending && baselineView !== undefined ? { withLiveConfig: baselineView.ingressIPs } : {}),
    })
  }
  const pods = cluster.speakerPods ?? []
  const members = pods.length === 0 ? undefined : new Set(pods.filter((p) => p.ready && p.node !== undefined).map((p) => p.node!))
  if (members === undefined) notes.push("no speaker pod found: every node is counted as running a speaker")
  const announceOptions = members === undefined ? {} : { members }
  const beforeConfig = mode === "apply" ? oldConfig : newConfig
  const announcedBefore = beforeConfig === undefined ? [] : announcementsOf(beforeConfig, cluster.speaker, announceOptions)
  const announcedAfter = announcementsOf(newConfig, snapshotAfter(cluster.speaker, afterViews), announceOptions)
  return {
    ...base,
    valid: true,
    errors: [],
    services,
    unchanged,
    pending,
    announcements: beforeConfig === undefined ? { appearing: announcedAfter, disappearing: [], changing: [] } : diffAnnouncements(announcedBefore, announcedAfter),
    settled: after.settled,
    notes,
  }
}
