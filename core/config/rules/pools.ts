// IPAddressPool rules (MetalLB internal/config): addresses required, each a CIDR as written (host bits
// masked, with a warning here) or an a-b range (spaces around its ends allowed, as in MetalLB;
// summarised to CIDRs); no address in two entries, within or across pools; serviceAllocation
// namespaces and selectors valid and not repeated. Overlaps are found by one sort and sweep over all
// entries, so a thousand-entry configuration is checked in n log n.
import { Result } from "effect"
import { formatAddress } from "../../net/address.ts"
import { type AddressRange, parsePrefix, parseRange, prefixLast, summariseRange } from "../../net/prefix.ts"
import type { Pool, ServiceAllocation } from "../config.ts"
import type { Located } from "../decode.ts"
import { type ConfigError, configError } from "../errors.ts"
import type { IPAddressPool } from "../kinds/ip-address-pool.ts"
import { checkNamespace, duplicateEntries, isBlocking, parseSelectorList, uniqueByName } from "./common.ts"
import type { ResolveContext } from "./context.ts"

interface Entry {
  readonly pool: Located<IPAddressPool>
  readonly index: number
  readonly text: string
  readonly range: AddressRange
}

/**
 * One spec.addresses entry, read as MetalLB's ParseCIDR reads it: with a "-" it is a range, whose two
 * ends may have spaces around them; without, a CIDR taken exactly as written (net.ParseCIDR: no
 * surrounding whitespace).
 */
const parseEntry = (pool: Located<IPAddressPool>, index: number, text: string): { readonly entry?: Entry; readonly errors: ReadonlyArray<ConfigError> } => {
  const field = `spec.addresses[${index}]`
  if (text.includes("-")) {
    const parsed = parseRange(text)
    if (Result.isFailure(parsed)) {
      return { errors: [configError({ code: "InvalidRange", object: pool.ref, field, value: text, message: parsed.failure.reason })] }
    }
    return { entry: { pool, index, text, range: parsed.success }, errors: [] }
  }
  if (!text.includes("/")) {
    return { errors: [configError({ code: "InvalidCidr", object: pool.ref, field, value: text, message: "neither a CIDR (a.b.c.d/n) nor a range (a-b)" })] }
  }
  const parsed = parsePrefix(text)
  if (Result.isFailure(parsed)) {
    const trimmed = text.trim()
    const fix = trimmed !== text && Result.isSuccess(parsePrefix(trimmed))
    return {
      errors: [configError({
        code: "InvalidCidr",
        object: pool.ref,
        field,
        value: text,
        message: fix ? `whitespace around a CIDR is not allowed (MetalLB refuses it too); write ${JSON.stringify(trimmed)}` : parsed.failure.reason,
      })],
    }
  }
  const { prefix, hostBitsMasked } = parsed.success
  const range = { family: prefix.family, first: prefix.network, last: prefixLast(prefix) }
  const warnings = hostBitsMasked
    ? [configError({
      code: "InvalidCidr",
      severity: "warning",
      object: pool.ref,
      field,
      value: text,
      message: `host bits are set; the pool uses ${formatAddress({ family: prefix.family, value: prefix.network })}/${prefix.length}`,
    })]
    : []
  return { entry: { pool, index, text, range }, errors: warnings }
}

/** Every pair of overlapping entries, each reported once on the entry that sorts later. */
const overlaps = (entries: ReadonlyArray<Entry>): ReadonlyArray<ConfigError> => {
  const sorted = [...entries].sort((a, b) =>
    a.range.family !== b.range.family ? (a.range.family < b.range.family ? -1 : 1)
    : a.range.first !== b.range.first ? (a.range.first < b.range.first ? -1 : 1)
    : a.pool.ref.name !== b.pool.ref.name ? (a.pool.ref.name < b.pool.ref.name ? -1 : 1)
    : a.index - b.index)
  const errors: Array<ConfigError> = []
  let reach: Entry | undefined // the entry reaching furthest so far in this family
  for (const entry of sorted) {
    if (reach !== undefined && reach.range.family === entry.range.family && entry.range.first <= reach.range.last) {
      errors.push(configError({
        code: "CidrOverlap",
        object: entry.pool.ref,
        field: `spec.addresses[${entry.index}]`,
        value: entry.text,
        other: { object: reach.pool.ref, field: `spec.addresses[${reach.index}]`, value: reach.text },
        message: `${JSON.stringify(entry.text)} in pool ${JSON.stringify(entry.pool.ref.name)} overlaps with ${JSON.stringify(reach.text)} in pool ${JSON.stringify(reach.pool.ref.name)}`,
      }))
    }
    if (reach === undefined || reach.range.family !== entry.range.family || entry.range.last > reach.range.last) reach = entry
  }
  return errors
}

const resolveServiceAllocation = (pool: Located<IPAddressPool>): { readonly allocation?: ServiceAllocation; readonly errors: ReadonlyArray<ConfigError> } => {
  const spec = pool.object.spec.serviceAllocation
  if (spec === undefined) return { errors: [] }
  const namespaces = spec.namespaces ?? []
  const namespaceSelectors = parseSelectorList(pool.ref, "spec.serviceAllocation.namespaceSelectors", spec.namespaceSelectors)
  const serviceSelectors = parseSelectorList(pool.ref, "spec.serviceAllocation.serviceSelectors", spec.serviceSelectors)
  return {
    allocation: {
      priority: spec.priority ?? 0,
      namespaces,
      namespaceSelectors: namespaceSelectors.selectors,
      serviceSelectors: serviceSelectors.selectors,
    },
    errors: [
      ...duplicateEntries(pool.ref, "spec.serviceAllocation.namespaces", namespaces),
      ...namespaceSelectors.errors,
      ...serviceSelectors.errors,
    ],
  }
}

export const resolvePools = (
  pools: ReadonlyArray<Located<IPAddressPool>>,
  context: ResolveContext,
): { readonly pools: ReadonlyMap<string, Pool>; readonly errors: ReadonlyArray<ConfigError> } => {
  const { unique, errors: nameErrors } = uniqueByName(pools)
  const errors: Array<ConfigError> = [...nameErrors]
  const entries: Array<Entry> = []
  const partial = new Map<string, { readonly pool: Located<IPAddressPool>; readonly ranges: Array<AddressRange>; readonly allocation?: ServiceAllocation }>()
  for (const pool of unique) {
    errors.push(...checkNamespace(pool.ref, context))
    const addresses = pool.object.spec.addresses
    if (addresses.length === 0) {
      errors.push(configError({ code: "MissingField", object: pool.ref, field: "spec.addresses", value: addresses, message: "a pool needs at least one CIDR or range" }))
    }
    errors.push(...duplicateEntries(pool.ref, "spec.addresses", addresses))
    const ranges: Array<AddressRange> = []
    addresses.forEach((text, index) => {
      const { entry, errors: entryErrors } = parseEntry(pool, index, text)
      errors.push(...entryErrors)
      if (entry !== undefined) {
        entries.push(entry)
        ranges.push(entry.range)
      }
    })
    const { allocation, errors: allocationErrors } = resolveServiceAllocation(pool)
    errors.push(...allocationErrors)
    partial.set(pool.ref.name, { pool, ranges, ...(allocation === undefined ? {} : { allocation }) })
  }
  // Literal duplicates are already reported; the sweep reports real overlaps between distinct text.
  const distinct = entries.filter((e) => e.pool.object.spec.addresses.indexOf(e.text) === e.index)
  errors.push(...overlaps(distinct))

  const failed = new Set(errors.filter(isBlocking).map((e) => e.object.name))
  const resolved = new Map<string, Pool>()
  for (const [name, { pool, ranges, allocation }] of partial) {
    if (failed.has(name)) continue
    resolved.set(name, {
      name,
      labels: pool.object.metadata.labels ?? {},
      ranges,
      cidrs: ranges.flatMap((r) => summariseRange(r.family, r.first, r.last)),
      autoAssign: pool.object.spec.autoAssign ?? true,
      avoidBuggyIPs: pool.object.spec.avoidBuggyIPs ?? false,
      ...(allocation === undefined ? {} : { serviceAllocation: allocation }),
    })
  }
  return { pools: resolved, errors }
}
