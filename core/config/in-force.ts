// The configuration in force, as MetalLB keeps it: the latest metallb.io objects are resolved only when
// something the configuration depends on changed, and an invalid set never replaces the last valid
// one (services keep their addresses and announcements while someone fixes the YAML). The controller,
// the speaker and the simulator all keep their configuration through here, so there is one resolve
// path and one fingerprint; what happened is said once per change, not at every pass.
import type { Config } from "./config.ts"
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

/**
 * The last resolution, by the identity of what it read. resolve is pure and its inputs are immutable, so
 * the very same objects get the very same answer: the simulator hands every speaker of a cluster (and a
 * restarted one) the same sources, and each resolution costs a millisecond. Only a hit is shared; the
 * configuration in force stays per caller (updateConfig's state).
 */
let lastResolution: { readonly sources: ConfigSources; readonly resolution: ReturnType<typeof resolve> } | undefined

const resolveSources = (sources: ConfigSources): ReturnType<typeof resolve> => {
  const last = lastResolution?.sources
  if (last !== undefined && last.documents === sources.documents && last.secrets === sources.secrets && last.namespace === sources.namespace && last.nodes === sources.nodes) {
    return lastResolution!.resolution
  }
  const resolution = resolve(sources.documents, {
    namespace: sources.namespace ?? "metallb-system",
    secrets: sources.secrets,
    ...(sources.nodes === undefined ? {} : { nodes: sources.nodes }),
  })
  lastResolution = { sources, resolution }
  return resolution
}

/** Resolve the sources if they changed since the last resolution; keep the last valid configuration. */
export const updateConfig = (state: ConfigInForce, sources: ConfigSources): { readonly state: ConfigInForce; readonly change: ConfigChange } => {
  const fingerprint = configFingerprint(sources)
  if (fingerprint === state.fingerprint) return { state, change: { _tag: "Unchanged" } }
  const resolution = resolveSources(sources)
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
