// What a configuration mistake looks like: which object, which field, the value found, and for a
// conflict the other object. MetalLB stops at the first error with a bare string; resolve() collects
// them all in one pass. A transient error (a Secret or BFDProfile not there yet) may heal without an
// edit, so the controller keeps the last valid configuration and retries instead of giving up.

/** Where an object came from: a file and the index of the YAML document in it (0-based). */
export interface Source {
  readonly file?: string
  readonly document?: number
}

export interface ObjectRef {
  readonly kind: string
  readonly name: string
  readonly namespace?: string
  readonly source?: Source
}

/** permanent: needs an edit. transient: may heal by itself (a Secret not created yet). warning: accepted. */
export type Severity = "permanent" | "transient" | "warning"

export type ConfigErrorCode =
  | "InvalidObject" // fails the kind's schema (types, enums, ranges, required fields)
  | "InvalidSelector"
  | "DuplicateName"
  | "DuplicateEntry" // the same pool, namespace, selector, community ... listed twice
  | "InvalidCidr"
  | "InvalidRange"
  | "CidrOverlap"
  | "InvalidAddress"
  | "InvalidText" // a name or password with a character MetalLB refuses (a line break)
  | "InvalidTimer"
  | "InvalidAsn"
  | "ConflictingFields" // two fields that are mutually exclusive, or one needing another
  | "MissingField"
  | "UnknownSecret"
  | "InvalidSecret"
  | "UnknownBfdProfile"
  | "BfdProfileInUse"
  | "InvalidCommunity"
  | "UnknownCommunity"
  | "InvalidAggregationLength"
  | "ConflictingLocalPref"
  | "EchoModeWithIpv6"
  | "DuplicatePeer" // two BGPPeers for one session (address or interface, port, VRF) on a node both select
  | "ConflictingRouterId" // two BGPPeers on a node both select with different routerIDs (one set, the other not included)
  | "ConflictingMyAsn" // two BGPPeers in one VRF on a node both select with different myASNs
  | "WrongNamespace"
  | "Deprecated" // a field accepted for compatibility but ignored (always a warning)
  | "IgnoredField" // a field MetalLB ignores, ignored here too (always a warning naming what is used instead)
  | "Unsupported" // a MetalLB field metallb-ts accepts but does not act on (always a warning)

export interface ConfigError {
  readonly _tag: "ConfigError"
  readonly code: ConfigErrorCode
  readonly severity: Severity
  readonly object: ObjectRef
  /** Path inside the object, e.g. "spec.addresses[1]". */
  readonly field: string
  /** The offending value as found (undefined when the field is missing). */
  readonly value?: unknown
  readonly other?: { readonly object: ObjectRef; readonly field?: string; readonly value?: unknown }
  readonly message: string
}

export const configError = (fields: Omit<ConfigError, "_tag" | "severity"> & { readonly severity?: Severity }): ConfigError => ({
  _tag: "ConfigError",
  severity: "permanent",
  ...fields,
})

export const describeObject = (ref: ObjectRef): string => `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`

/** One line a person can act on: object, field, problem, value. */
export const formatConfigError = (error: ConfigError): string => {
  const value = error.value === undefined ? "" : ` (value: ${JSON.stringify(error.value)})`
  const other = error.other === undefined ? "" : ` [conflicts with ${describeObject(error.other.object)}${error.other.field ? ` ${error.other.field}` : ""}]`
  const transient = error.severity === "transient" ? " (transient: may resolve without an edit)" : ""
  const source = error.object.source
  const where = source?.file === undefined ? "" : `${source.file}${source.document === undefined ? "" : `#${source.document}`}: `
  return `${where}${describeObject(error.object)}: ${error.field}: ${error.message}${value}${other}${transient}`
}

/** Builds a field path the way kubectl prints them: spec.addresses[1].foo */
export const fieldPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((acc, key) => (typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`), "")
