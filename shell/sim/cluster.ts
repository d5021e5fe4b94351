// The simulated API server: configuration documents, Services with their status, Nodes and endpoints,
// plus change notification. The simulated controller writes status here and the simulated speakers
// read snapshots from here, exactly the views the real shells build from informers.
import { Result } from "effect"
import type { ServiceView } from "../../core/controller/service.ts"
import { allocatedFromPoolAnnotation } from "../../core/controller/service.ts"
import type { IpFamilyPolicy } from "../../core/ipam/dual-stack.ts"
import { parseAddress } from "../../core/net/address.ts"
import type { ClusterSnapshot, EndpointView, NodeView, SpeakerService } from "../../core/speaker/view.ts"
import type { Located, Secret } from "../../core/config/decode.ts"
import { type ConfigSources, withResolution } from "../../core/config/in-force.ts"

export interface ServiceSpec {
  readonly name: string
  readonly namespace?: string
  readonly clusterIPs?: ReadonlyArray<string>
  readonly ipFamilyPolicy?: IpFamilyPolicy
  readonly annotations?: Readonly<Record<string, string>>
  readonly labels?: Readonly<Record<string, string>>
  readonly ports?: ReadonlyArray<{ readonly protocol?: string; readonly port: number }>
  readonly externalTrafficPolicy?: "Cluster" | "Local"
  /** Nodes running a serving endpoint. */
  readonly endpoints: ReadonlyArray<string>
}

interface StoredService {
  readonly spec: ServiceSpec
  readonly clusterIPs: ReadonlyArray<string>
  readonly ingress: ReadonlyArray<string>
  readonly pool?: string
  /** The cluster version of its last change, as the API server's metadata.resourceVersion. */
  readonly resourceVersion: number
}

export class SimCluster {
  private readonly documents = new Map<string, unknown>()
  private readonly services = new Map<string, StoredService>()
  private readonly nodeViews = new Map<string, NodeView>()
  private readonly listeners: Array<() => void> = []
  private clusterIpCounter = 0
  version = 0
  /** Views built at `version`: every actor and checker reads them after every event, most of which change nothing here. */
  private cache: { version: number; serviceKeys?: ReadonlyArray<string>; serviceViews?: ReadonlyArray<ServiceView>; snapshot?: ClusterSnapshot } = { version: -1 }

  private cached<K extends "serviceKeys" | "serviceViews" | "snapshot">(key: K, build: () => NonNullable<SimCluster["cache"][K]>): NonNullable<SimCluster["cache"][K]> {
    if (this.cache.version !== this.version) this.cache = { version: this.version }
    return (this.cache[key] ??= build()) as NonNullable<SimCluster["cache"][K]>
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener)
  }

  private changed(): void {
    this.version += 1
    for (const listener of this.listeners) listener()
  }

  applyDocuments(documents: ReadonlyArray<unknown>): void {
    for (const d of documents) {
      const doc = d as { kind?: string; metadata?: { name?: string } }
      this.documents.set(`${doc.kind}/${doc.metadata?.name}`, d)
    }
    this.documentsVersion += 1
    this.changed()
  }

  deleteDocument(kind: string, name: string): void {
    if (!this.documents.delete(`${kind}/${name}`)) return
    this.documentsVersion += 1
    this.changed()
  }

  /** Bumped by every change of the configuration documents (not by Services or Nodes). */
  private documentsVersion = 0
  private documentList: { readonly version: number; readonly documents: ReadonlyArray<unknown> } | undefined

  /** The configuration documents, sorted: the very same array until one of them changes. */
  configDocuments(): ReadonlyArray<unknown> {
    if (this.documentList?.version !== this.documentsVersion) {
      this.documentList = { version: this.documentsVersion, documents: [...this.documents.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, d]) => d) }
    }
    return this.documentList.documents
  }

  /** The simulated cluster has no Secrets: one array, so that sources stay the same objects. */
  static readonly noSecrets: ReadonlyArray<Located<Secret>> = []

  /** The namespace the simulated configuration lives in (the default one). */
  static readonly namespace = "metallb-system"

  private sourceList: { readonly documents: ReadonlyArray<unknown>; readonly sources: ConfigSources } | undefined

  /**
   * The documents as the configuration's sources, resolved once (withResolution) and the very same
   * object until a document changes: every speaker, the controller and the checks are handed it, so a
   * configuration change costs one resolution, not one per process.
   */
  configSources(): ConfigSources {
    const documents = this.configDocuments()
    if (this.sourceList?.documents !== documents) {
      this.sourceList = { documents, sources: withResolution({ documents: documents.map((value) => ({ value })), secrets: SimCluster.noSecrets, namespace: SimCluster.namespace }) }
    }
    return this.sourceList.sources
  }

  addNode(node: NodeView): void {
    this.nodeViews.set(node.name, node)
    this.changed()
  }

  nodes(): ReadonlyArray<NodeView> {
    return [...this.nodeViews.values()].sort((a, b) => (a.name < b.name ? -1 : 1))
  }

  private static key(spec: ServiceSpec) {
    return `${spec.namespace ?? "default"}/${spec.name}`
  }

  /** Creates or edits a Service; the API server allocates ClusterIPs from 198.18.0.0/16 and 2001:db8:ffff::/112. */
  upsertService(spec: ServiceSpec): void {
    const key = SimCluster.key(spec)
    const existing = this.services.get(key)
    let clusterIPs = spec.clusterIPs ?? existing?.clusterIPs
    if (clusterIPs === undefined) {
      this.clusterIpCounter += 1
      const n = this.clusterIpCounter
      const v4 = `198.18.${Math.floor(n / 250)}.${(n % 250) + 1}`
      const v6 = `2001:db8:ffff::${n.toString(16)}`
      clusterIPs = spec.ipFamilyPolicy === "RequireDualStack" || spec.ipFamilyPolicy === "PreferDualStack" ? [v4, v6] : [v4]
    }
    this.services.set(key, { spec, clusterIPs, ingress: existing?.ingress ?? [], ...(existing?.pool === undefined ? {} : { pool: existing.pool }), resourceVersion: this.version + 1 })
    this.changed()
  }

  deleteService(namespace: string, name: string): void {
    if (this.services.delete(`${namespace}/${name}`)) this.changed()
  }

  /** The controller's status write. */
  writeStatus(key: string, ingress: ReadonlyArray<string>, pool: string | undefined): void {
    const s = this.services.get(key)
    if (s === undefined) return
    if (JSON.stringify(s.ingress) === JSON.stringify(ingress) && s.pool === pool) return
    const { pool: _old, ...rest } = s
    this.services.set(key, { ...rest, ingress, ...(pool === undefined ? {} : { pool }), resourceVersion: this.version + 1 })
    this.changed()
  }

  serviceKeys(): ReadonlyArray<string> {
    return this.cached("serviceKeys", () => [...this.services.keys()].sort())
  }

  resourceVersionOf(key: string): string | undefined {
    const version = this.services.get(key)?.resourceVersion
    return version === undefined ? undefined : String(version)
  }

  ingressOf(key: string): ReadonlyArray<string> {
    return this.services.get(key)?.ingress ?? []
  }

  /** Services as the controller's informer sees them. */
  serviceViews(): ReadonlyArray<ServiceView> {
    return this.cached("serviceViews", () => this.buildServiceViews())
  }

  private buildServiceViews(): ReadonlyArray<ServiceView> {
    return [...this.services.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, s]) => ({
      namespace: s.spec.namespace ?? "default",
      name: s.spec.name,
      labels: s.spec.labels ?? {},
      annotations: { ...s.spec.annotations, ...(s.pool === undefined ? {} : { [allocatedFromPoolAnnotation]: s.pool }) },
      type: "LoadBalancer",
      clusterIPs: s.clusterIPs,
      ...(s.spec.ipFamilyPolicy === undefined ? {} : { ipFamilyPolicy: s.spec.ipFamilyPolicy }),
      ports: s.spec.ports ?? [{ protocol: "TCP", port: 80 }],
      externalTrafficPolicy: s.spec.externalTrafficPolicy ?? "Cluster",
      selector: { app: s.spec.name },
      ingressIPs: s.ingress,
    }))
  }

  /** What a speaker's informers show. */
  snapshot(): ClusterSnapshot {
    return this.cached("snapshot", () => this.buildSnapshot())
  }

  /**
   * Each Service's speaker view and endpoint list as of its stored object: an unchanged Service keeps the
   * very same objects from snapshot to snapshot, as the real speaker's informer-backed snapshots do, so
   * the node machine's pass cache recognises it by reference.
   */
  private readonly speakerViews = new Map<string, { readonly stored: StoredService; readonly view: SpeakerService; readonly endpoints: ReadonlyArray<EndpointView> }>()

  private buildSnapshot(): ClusterSnapshot {
    const holders = new Map<string, number>()
    for (const s of this.services.values()) for (const ip of s.ingress) holders.set(ip, (holders.get(ip) ?? 0) + 1)
    const services: Array<SpeakerService> = []
    const endpoints = new Map<string, ReadonlyArray<EndpointView>>()
    for (const key of this.serviceKeys()) {
      const s = this.services.get(key)!
      const sharedAddress = s.ingress.some((ip) => (holders.get(ip) ?? 0) > 1)
      let entry = this.speakerViews.get(key)
      if (entry === undefined || entry.stored !== s || entry.view.sharedAddress !== sharedAddress) {
        const addresses = s.ingress.flatMap((ip) => {
          const parsed = parseAddress(ip)
          return Result.isSuccess(parsed) ? [parsed.success] : []
        })
        const view: SpeakerService = {
          key,
          labels: s.spec.labels ?? {},
          addresses,
          ...(s.pool === undefined ? {} : { pool: s.pool }),
          externalTrafficPolicy: s.spec.externalTrafficPolicy ?? "Cluster",
          sharedAddress,
        }
        const same = entry !== undefined && entry.stored.spec.endpoints === s.spec.endpoints
        entry = { stored: s, view, endpoints: same ? entry!.endpoints : s.spec.endpoints.map((node) => ({ node, serving: true })) }
        this.speakerViews.set(key, entry)
      }
      services.push(entry.view)
      endpoints.set(key, entry.endpoints)
    }
    if (this.speakerViews.size > services.length) for (const key of this.speakerViews.keys()) if (!this.services.has(key)) this.speakerViews.delete(key)
    return { services, endpoints, nodes: this.nodes() }
  }
}
