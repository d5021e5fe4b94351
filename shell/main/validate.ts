// `metallb-ts validate FILE...`: reads multi-document YAML, resolves every metallb.io object found in
// all files together (as they would be applied together), and reports each error with file, document
// index, object and field. Other kinds are ignored. Exit status: 0 valid, 1 invalid or unreadable.
import { parseAllDocuments } from "yaml"
import { type Document, expandLists } from "../../core/config/decode.ts"
import { type ConfigError, configError, formatConfigError } from "../../core/config/errors.ts"
import { resolve } from "../../core/config/resolve.ts"
import type { ResolveContext } from "../../core/config/rules/context.ts"
import { defaultContext } from "../../core/config/rules/context.ts"
import { makePoolState } from "../../core/ipam/pool-state.ts"

export interface InputFile {
  readonly path: string
  readonly text: string
}

export interface PoolCapacity {
  readonly name: string
  /** Exact: a /64 is 18446744073709551616, not MetalLB's saturated int64. */
  readonly ipv4: bigint
  readonly ipv6: bigint
}

export interface ValidationReport {
  readonly valid: boolean
  readonly pools: ReadonlyArray<PoolCapacity>
  readonly errors: ReadonlyArray<ConfigError>
  readonly warnings: ReadonlyArray<ConfigError>
  readonly objects: number
}

/** YAML text -> documents tagged with their file and index; syntax errors become ConfigErrors. */
export const readDocuments = (file: InputFile): { readonly documents: ReadonlyArray<Document>; readonly errors: ReadonlyArray<ConfigError> } => {
  const documents: Array<Document> = []
  const errors: Array<ConfigError> = []
  parseAllDocuments(file.text).forEach((doc, index) => {
    const source = { file: file.path, document: index }
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        errors.push(configError({
          code: "InvalidObject",
          object: { kind: "YAML", name: `document ${index}`, source },
          field: `line ${e.linePos?.[0]?.line ?? "?"}`,
          message: e.message.split("\n")[0] ?? e.message,
        }))
      }
      return
    }
    documents.push({ value: doc.toJS({ maxAliasCount: 100 }), source })
  })
  return { documents, errors }
}

export const validateFiles = (files: ReadonlyArray<InputFile>, context: ResolveContext = defaultContext): ValidationReport => {
  const read = files.map(readDocuments)
  const documents = read.flatMap((r) => r.documents)
  const syntaxErrors = read.flatMap((r) => r.errors)
  const resolution = resolve(documents, context)
  const errors = [...syntaxErrors, ...(resolution._tag === "Invalid" ? resolution.errors : [])]
  const objects = documents.flatMap((d) => expandLists(d)).filter((d) => {
    const v = d.value as { apiVersion?: unknown } | null
    return typeof v?.apiVersion === "string" && (v.apiVersion.startsWith("metallb.io/") || v.apiVersion === "v1")
  }).length
  const pools = resolution._tag === "Valid"
    ? [...resolution.config.pools.values()].map((pool) => ({ name: pool.name, ...makePoolState(pool).capacity }))
    : []
  return { valid: errors.length === 0, pools, errors, warnings: resolution.warnings, objects }
}

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`

export const formatReportText = (report: ValidationReport): string => {
  const lines = [
    ...report.errors.map((e) => `error: ${formatConfigError(e)}`),
    ...report.warnings.map((e) => `warning: ${formatConfigError(e)}`),
    ...report.pools.map((p) => `pool ${p.name}: ${p.ipv4} IPv4 and ${p.ipv6} IPv6 addresses assignable`),
    report.valid
      ? `valid: ${count(report.objects, "object")}, ${count(report.warnings.length, "warning")}`
      : `invalid: ${count(report.errors.length, "error")}, ${count(report.warnings.length, "warning")} in ${count(report.objects, "object")}`,
  ]
  return lines.join("\n")
}

export const formatReportJson = (report: ValidationReport): string =>
  JSON.stringify(
    { valid: report.valid, objects: report.objects, pools: report.pools, errors: report.errors, warnings: report.warnings },
    // Exact counts exceed 2^53: written as decimal strings.
    (_, value) => (typeof value === "bigint" ? value.toString() : value),
    2,
  )
