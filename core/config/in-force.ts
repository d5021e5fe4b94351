// The configuration in force, as MetalLB keeps it: the latest metallb.io objects are resolved only when
// something the configuration depends on changed, and an invalid set never replaces the last valid
// one (services keep their addresses and announcements while someone fixes the YAML). The controller,
// the speaker and the simulator all keep their configuration through here, so there is one resolve
// path and one fingerprint; what happened is said once per change, not at every pass.
import type { Config, Resolution } from "./config.ts"
import type { Document, Located, Secret } from "./decode.ts"
import type { ConfigError } from "./errors.ts"
import { resolve } from "./resolve.ts"
import type { NodeLabels } from "./rules/context.ts"

/** What resolve() reads: the metallb.io objects, the Secrets they may name, and the context. */
export interface ConfigSources {
  readonly documents: ReadonlyArray<Document>
  readonly secrets: ReadonlyArray<Located<Secret>>
  /** The namespace metallb-ts runs in (default metallb-system). */
  readonly namespace?: string
  /** Nodes, when the caller watches them (some rules decide on the real nodes). */
  readonly nodes?: ReadonlyArray<NodeLabels>
  /**
   * These sources' fingerprint and resolution, when whoever holds them resolved them already
   * (withResolution): processes handed the very same sources (the simulator's speakers, controller and
   * checks) then resolve once between them. Used only while it names the very same inputs, so a copy
   * with other documents (`{ ...sources, documents }`) resolves its own.
   */
  readonly resolved?: ResolvedSources
}

/** A resolution of exactly these inputs (by identity), made by withResolution. */
export interface ResolvedSources {
  readonly documents: ReadonlyArray<Document>
  readonly secrets: ReadonlyArray<Located<Secret>>
  readonly namespace: string | undefined
  readonly nodes: ReadonlyArray<NodeLabels> | undefined
  readonly fingerprint: string
  readonly resolution: Resolution
}

export interface ConfigInForce {
  /** The last valid configuration; undefined until one resolved. */
  readonly config: Config | undefined
  /** Fingerprint of the sources last resolved, valid or not (undefined: resolve at the next update). */
  readonly fingerprint: string | undefined
  /** The sources last resolved were invalid (the configuration in force, if any, is older). */
  readonly stale: boolean
  /** Errors of the last resolution (empty when it was valid). */
  readonly errors: ReadonlyArray<ConfigError>
  /** Warnings of the last resolution. */
  readonly warnings: ReadonlyArray<ConfigError>
}

export type ConfigChange =
  | { readonly _tag: "Unchanged" }
  | { readonly _tag: "Applied"; readonly config: Config; readonly warnings: ReadonlyArray<ConfigError> }
  | {
    readonly _tag: "Rejected"
    readonly errors: ReadonlyArray<ConfigError>
    readonly warnings: ReadonlyArray<ConfigError>
    /** An older valid configuration stays in force (false: there is none yet). */
    readonly keeping: boolean
  }

export const noConfig: ConfigInForce = { config: undefined, fingerprint: undefined, stale: false, errors: [], warnings: [] }

const pick = (value: unknown, keys: ReadonlyArray<string>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  if (typeof value !== "object" || value === null) return out
  for (const key of keys) {
    const v = (value as Record<string, unknown>)[key]
    if (v !== undefined) out[key] = v
  }
  return out
}

/**
 * What the configuration depends on. Not status, resourceVersion, uid or managedFields: our own
 * status writes change those, and resolving again for them would cost a pass and repeat reports.
 */
const documentKey = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null) return value
  const { status: _status, metadata, ...rest } = value as Record<string, unknown>
  return { ...rest, metadata: pick(metadata, ["name", "namespace", "labels", "annotations"]) }
}

export const configFingerprint = (sources: ConfigSources): string =>
  JSON.stringify([
    sources.namespace ?? null,
    sources.documents.map((d) => documentKey(d.value)),
    sources.secrets.map((s) => [s.ref.namespace ?? null, s.ref.name, pick(s.object, ["type", "data", "stringData"])]),
    sources.nodes?.map((n) => [n.name, n.labels]) ?? null,
  ])

const resolveNow = (sources: ConfigSources): Resolution =>
  resolve(sources.documents, {
    namespace: sources.namespace ?? "metallb-system",
    secrets: sources.secrets,
    ...(sources.nodes === undefined ? {} : { nodes: sources.nodes }),
  })

/** The resolution the sources carry, if it is of these very inputs. */
const carried = (sources: ConfigSources): ResolvedSources | undefined => {
  const r = sources.resolved
  return r !== undefined && r.documents === sources.documents && r.secrets === sources.secrets && r.namespace === sources.namespace && r.nodes === sources.nodes
    ? r
    : undefined
}

/**
 * The sources with their fingerprint and resolution: updateConfig given them (or a copy that keeps the
 * same documents, secrets, namespace and nodes) reads those instead of computing them again. resolve is
 * pure and its inputs immutable, so the answer is the one updateConfig would compute.
 */
export const withResolution = (sources: ConfigSources): ConfigSources => {
  const { resolved: _old, ...bare } = sources
  return {
    ...bare,
    resolved: { documents: sources.documents, secrets: sources.secrets, namespace: sources.namespace, nodes: sources.nodes, fingerprint: configFingerprint(bare), resolution: resolveNow(bare) },
  }
}

/** The resolution of the sources: the one they carry for these inputs, or a new one. */
export const resolutionOf = (sources: ConfigSources): Resolution => carried(sources)?.resolution ?? resolveNow(sources)

/** Resolve the sources if they changed since the last resolution; keep the last valid configuration. */
export const updateConfig = (state: ConfigInForce, sources: ConfigSources): { readonly state: ConfigInForce; readonly change: ConfigChange } => {
  const known = carried(sources)
  const fingerprint = known?.fingerprint ?? configFingerprint(sources)
  if (fingerprint === state.fingerprint) return { state, change: { _tag: "Unchanged" } }
  const resolution = known?.resolution ?? resolveNow(sources)
  if (resolution._tag === "Valid") {
    return {
      state: { config: resolution.config, fingerprint, stale: false, errors: [], warnings: resolution.warnings },
      change: { _tag: "Applied", config: resolution.config, warnings: resolution.warnings },
    }
  }
  return {
    state: { config: state.config, fingerprint, stale: true, errors: resolution.errors, warnings: resolution.warnings },
    change: { _tag: "Rejected", errors: resolution.errors, warnings: resolution.warnings, keeping: state.config !== undefined },
  }
}

/**
 * Resolve again at the next update even if nothing changed: the caller could not report this
 * resolution's outcome (the API server was away), and reporting follows a change.
 */
export const retryConfig = (state: ConfigInForce): ConfigInForce => ({ ...state, fingerprint: undefined })
