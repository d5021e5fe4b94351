// Checks every kind shares: the object lives in metallb-ts's namespace, names are unique per kind,
// selector lists are valid and free of duplicates, plain lists free of duplicates.
import type { Located } from "../decode.ts"
import { type ConfigError, configError, type ObjectRef } from "../errors.ts"
import { type LabelSelector, parseSelector, repeatedParts, type Selector } from "../selector.ts"
import type { ResolveContext } from "./context.ts"

/** An object outside the namespace metallb-ts reads (it takes no part in the configuration). */
export const checkNamespace = (ref: ObjectRef, context: Pick<ResolveContext, "namespace">): ReadonlyArray<ConfigError> =>
  ref.namespace !== undefined && ref.namespace !== context.namespace
    ? [configError({
      code: "WrongNamespace",
      object: ref,
      field: "metadata.namespace",
      value: ref.namespace,
      message: `metallb-ts only reads ${ref.kind} objects in namespace ${JSON.stringify(context.namespace)}`,
    })]
    : []

/** Keeps the first object of each name; later ones get a DuplicateName error pointing at the first. */
export const uniqueByName = <T>(items: ReadonlyArray<Located<T>>): { readonly unique: ReadonlyArray<Located<T>>; readonly errors: ReadonlyArray<ConfigError> } => {
  const first = new Map<string, Located<T>>()
  const errors: Array<ConfigError> = []
  for (const item of items) {
    const earlier = first.get(item.ref.name)
    if (earlier === undefined) {
      first.set(item.ref.name, item)
    } else {
      errors.push(configError({
        code: "DuplicateName",
        object: item.ref,
        field: "metadata.name",
        value: item.ref.name,
        other: { object: earlier.ref, field: "metadata.name" },
        message: `another ${item.ref.kind} is named ${JSON.stringify(item.ref.name)}`,
      }))
    }
  }
  return { unique: [...first.values()], errors }
}

/** Reports entries that appear more than once in a list field. */
export const duplicateEntries = (ref: ObjectRef, field: string, values: ReadonlyArray<string>): ReadonlyArray<ConfigError> => {
  const seen = new Map<string, number>()
  const errors: Array<ConfigError> = []
  values.forEach((value, i) => {
    const at = seen.get(value)
    if (at === undefined) seen.set(value, i)
    else {
      errors.push(configError({
        code: "DuplicateEntry",
        object: ref,
        field: `${field}[${i}]`,
        value,
        message: `duplicate of ${field}[${at}]`,
      }))
    }
  })
  return errors
}

/**
 * Parses a list of selectors. Invalid ones are InvalidSelector errors; repeated values or
 * matchExpressions inside a selector, and two selectors of the same meaning (same canonical form:
 * matchLabels and matchExpressions alike, values as sets), are DuplicateEntry errors, as MetalLB
 * refuses them. `valid` is false when any of these was found.
 */
export const parseSelectorList = (
  ref: ObjectRef,
  field: string,
  selectors: ReadonlyArray<LabelSelector> | undefined,
): { readonly selectors: ReadonlyArray<Selector>; readonly errors: ReadonlyArray<ConfigError>; readonly valid: boolean } => {
  const parsed: Array<Selector> = []
  const errors: Array<ConfigError> = []
  const seen = new Map<string, number>()
  ;(selectors ?? []).forEach((raw, i) => {
    const { selector, problems } = parseSelector(raw)
    for (const problem of problems) {
      errors.push(configError({ code: "InvalidSelector", object: ref, field: `${field}[${i}].${problem.field}`, value: problem.value, message: problem.message }))
    }
    for (const problem of repeatedParts(raw)) {
      errors.push(configError({ code: "DuplicateEntry", object: ref, field: `${field}[${i}].${problem.field}`, value: problem.value, message: problem.message }))
    }
    if (selector === undefined) return
    const at = seen.get(selector.text)
    if (at !== undefined) {
      errors.push(configError({
        code: "DuplicateEntry",
        object: ref,
        field: `${field}[${i}]`,
        value: raw,
        message: `selects the same as ${field}[${at}]${selector.text === "" ? " (everything)" : ` (${selector.text})`}; remove one`,
      }))
      return
    }
    seen.set(selector.text, i)
    parsed.push(selector)
  })
  return { selectors: parsed, errors, valid: errors.length === 0 }
}

export const isPermanent = (error: ConfigError): boolean => error.severity === "permanent"
export const isBlocking = (error: ConfigError): boolean => error.severity !== "warning"
