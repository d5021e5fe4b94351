// The scenario language: a cluster (nodes, metallb.io configuration, services, optionally an upstream
// router and clients) and a timeline of actions — the faults and edits a cluster lives through.
import type { BfdProfile } from "../../core/config/config.ts"
import type { ServiceSpec } from "./cluster.ts"

export type Action =
  | { readonly _tag: "CrashNode"; readonly node: string }
  /** Crashes whichever node announces the service's first address at that moment (L2). */
  | { readonly _tag: "CrashOwner"; readonly service: string }
  | { readonly _tag: "RestartNode"; readonly node: string }
  /** SIGKILL of the speaker process only (the node stays up); RestartSpeaker starts it again. */
  | { readonly _tag: "KillSpeaker"; readonly node: string }
  | { readonly _tag: "RestartSpeaker"; readonly node: string }
  /** SIGTERM: the speaker leaves the membership, hands over, then stops. */
  | { readonly _tag: "StopSpeaker"; readonly node: string; readonly handOverMs?: number }
  | { readonly _tag: "CreateService"; readonly service: ServiceSpec }
  | { readonly _tag: "DeleteService"; readonly name: string; readonly namespace?: string }
  | { readonly _tag: "ApplyConfig"; readonly documents: ReadonlyArray<unknown> }
  | { readonly _tag: "DeleteConfig"; readonly kind: string; readonly name: string }
  | { readonly _tag: "CutLink"; readonly a: string; readonly b: string }
  /** The node's network link goes down (LinkUp brings it back): short, a flap; long, an interface down. */
  | { readonly _tag: "LinkDown"; readonly node: string }
  | { readonly _tag: "LinkUp"; readonly node: string }
  /** Cuts every link between the two sides (clients and the router still reach everyone). */
  | { readonly _tag: "Partition"; readonly sides: readonly [ReadonlyArray<string>, ReadonlyArray<string>] }
  | { readonly _tag: "HealLinks" }
  | { readonly _tag: "SetLoss"; readonly rate: number }
  | { readonly _tag: "RestartRouter"; readonly downMs: number }
  | { readonly _tag: "FlapBfd"; readonly node: string; readonly downMs: number }
  | { readonly _tag: "CrashController" }
  | { readonly _tag: "RestartController" }

export interface RouterSpec {
  readonly asn: number
  /** The nodes' ASN (BGPPeer myASN). */
  readonly nodeAsn: number
  readonly holdTimeSeconds: number
  readonly bfd?: BfdProfile
}

/** Figures a scenario must meet; a miss is reported like an invariant violation. */
export interface Expectations {
  /** Crash of an L2 owner -> the new owner's first gratuitous announcement. */
  readonly maxAnnounceMs?: number
  /** Client-visible outage after a crash. */
  readonly maxOutageMs?: number
  /** Fault -> the router's routes equal the advertisements again. */
  readonly maxBgpConvergenceMs?: number
}

export interface Scenario {
  readonly name: string
  readonly description: string
  readonly nodes: ReadonlyArray<{ readonly name: string; readonly labels?: Readonly<Record<string, string>> }>
  readonly config: ReadonlyArray<unknown>
  readonly services: ReadonlyArray<ServiceSpec>
  readonly router?: RouterSpec
  readonly clients: number
  readonly timeline: ReadonlyArray<{ readonly atMs: number; readonly action: Action }>
  readonly durationMs: number
  readonly expect?: Expectations
  /**
   * Every service must hold an address once settled, even when no pool seems to have room. Without it,
   * only services a default pool could still serve must hold one.
   */
  readonly expectAllAssigned?: boolean
}

export const describeAction = (a: Action): string => {
  switch (a._tag) {
    case "CrashNode":
    case "RestartNode":
      return `${a._tag} ${a.node}`
    case "CrashOwner":
      return `CrashOwner of ${a.service}`
    case "KillSpeaker":
    case "RestartSpeaker":
    case "LinkDown":
    case "LinkUp":
      return `${a._tag} ${a.node}`
    case "StopSpeaker":
      return `StopSpeaker ${a.node} (graceful, hand-over ${a.handOverMs ?? 1000} ms)`
    case "CreateService":
      return `CreateService ${a.service.namespace ?? "default"}/${a.service.name}`
    case "DeleteService":
      return `DeleteService ${a.namespace ?? "default"}/${a.name}`
    case "ApplyConfig":
      return `ApplyConfig ${a.documents.map((d) => `${(d as { kind?: string }).kind}/${(d as { metadata?: { name?: string } }).metadata?.name}`).join(", ")}`
    case "DeleteConfig":
      return `DeleteConfig ${a.kind}/${a.name}`
    case "CutLink":
      return `CutLink ${a.a} <-> ${a.b}`
    case "HealLinks":
      return "HealLinks"
    case "Partition":
      return `Partition ${a.sides[0].join(",")} | ${a.sides[1].join(",")}`
    case "SetLoss":
      return `SetLoss ${(a.rate * 100).toFixed(1)}%`
    case "RestartRouter":
      return `RestartRouter (down ${a.downMs} ms)`
    case "FlapBfd":
      return `FlapBfd ${a.node} (${a.downMs} ms)`
    case "CrashController":
    case "RestartController":
      return a._tag
  }
}

/** Whether an action disturbs the cluster (the checkers wait for it to settle afterwards). */
export const isFault = (a: Action): boolean => a._tag !== "CreateService"
