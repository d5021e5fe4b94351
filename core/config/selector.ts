// Kubernetes label selectors (matchLabels and matchExpressions with In, NotIn, Exists, DoesNotExist):
// the schema, the validation the API server's LabelSelectorAsSelector applies, evaluation against a
// label map, and a canonical text form so that two selectors meaning the same thing compare equal
// (MetalLB rejects duplicate selectors by that form). An empty selector matches everything.
import { Schema } from "effect"

export const SelectorOperator = Schema.Literals(["In", "NotIn", "Exists", "DoesNotExist"])
export type SelectorOperator = typeof SelectorOperator.Type

export const LabelSelectorRequirementSchema = Schema.Struct({
  key: Schema.String,
  operator: SelectorOperator,
  values: Schema.optionalKey(Schema.Array(Schema.String)),
})

export const LabelSelectorSchema = Schema.Struct({
  matchLabels: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  matchExpressions: Schema.optionalKey(Schema.Array(LabelSelectorRequirementSchema)),
})
export type LabelSelector = typeof LabelSelectorSchema.Type

export interface Requirement {
  readonly key: string
  readonly operator: SelectorOperator
  /** Sorted, distinct. */
  readonly values: ReadonlyArray<string>
}

/** A validated selector: requirements sorted by key, then operator. */
export interface Selector {
  readonly requirements: ReadonlyArray<Requirement>
  /** Canonical text, e.g. "app in (a,b),zone=x". */
  readonly text: string
}

export interface SelectorProblem {
  /** Path inside the selector, e.g. "matchExpressions[0].values". */
  readonly field: string
  readonly value: unknown
  readonly message: string
}

const nameRe = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/
const dnsSubdomainRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

export const labelKeyProblem = (key: string): string | undefined => {
  const slash = key.lastIndexOf("/")
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined
  const name = slash >= 0 ? key.slice(slash + 1) : key
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !dnsSubdomainRe.test(prefix))) {
    return "label key prefix must be a DNS subdomain (lowercase, at most 253 characters)"
  }
  if (name.length === 0 || name.length > 63 || !nameRe.test(name)) {
    return "label key name must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
  }
  return undefined
}

export const labelValueProblem = (value: string): string | undefined =>
  value.length > 63 || (value.length > 0 && !nameRe.test(value))
    ? "label value must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
    : undefined

/** Validates and normalises a decoded selector; problems are reported with their path inside it. */
export const parseSelector = (selector: LabelSelector): { readonly selector?: Selector; readonly problems: ReadonlyArray<SelectorProblem> } => {
  const problems: Array<SelectorProblem> = []
  const requirements: Array<Requirement> = []
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    const keyProblem = labelKeyProblem(key)
    if (keyProblem) problems.push({ field: `matchLabels.${key}`, value: key, message: keyProblem })
    const valueProblem = labelValueProblem(value)
    if (valueProblem) problems.push({ field: `matchLabels.${key}`, value, message: valueProblem })
    requirements.push({ key, operator: "In", values: [value] })
  }
  ;(selector.matchExpressions ?? []).forEach((expression, i) => {
    const at = `matchExpressions[${i}]`
    const keyProblem = labelKeyProblem(expression.key)
    if (keyProblem) problems.push({ field: `${at}.key`, value: expression.key, message: keyProblem })
    const values = expression.values ?? []
    if ((expression.operator === "In" || expression.operator === "NotIn") && values.length === 0) {
      problems.push({ field: `${at}.values`, value: values, message: `operator ${expression.operator} needs at least one value` })
    }
    if ((expression.operator === "Exists" || expression.operator === "DoesNotExist") && values.length > 0) {
      problems.push({ field: `${at}.values`, value: values, message: `operator ${expression.operator} takes no values` })
    }
    values.forEach((v, j) => {
      const valueProblem = labelValueProblem(v)
      if (valueProblem) problems.push({ field: `${at}.values[${j}]`, value: v, message: valueProblem })
    })
    requirements.push({ key: expression.key, operator: expression.operator, values: [...new Set(values)].sort() })
  })
  if (problems.length > 0) return { problems }
  requirements.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.operator < b.operator ? -1 : a.operator > b.operator ? 1 : 0))
  return { selector: { requirements, text: requirements.map(requirementText).join(",") }, problems }
}

/**
 * What MetalLB's validateLabelSelectorDuplicate refuses inside one selector: a value listed twice in a
 * matchExpression, and two matchExpressions with the same key, operator and set of values (order and
 * repetition of the values do not count). The selector itself would still parse: these are reported
 * beside parseSelector's problems, where the configuration asks for them.
 */
export const repeatedParts = (selector: LabelSelector): ReadonlyArray<SelectorProblem> => {
  const problems: Array<SelectorProblem> = []
  const firstExpression = new Map<string, number>()
  ;(selector.matchExpressions ?? []).forEach((expression, i) => {
    const values = expression.values ?? []
    values.forEach((value, k) => {
      const first = values.indexOf(value)
      if (first < k) {
        problems.push({
          field: `matchExpressions[${i}].values[${k}]`,
          value,
          message: `repeats matchExpressions[${i}].values[${first}]; list each value once`,
        })
      }
    })
    const key = JSON.stringify([expression.key, expression.operator, [...new Set(values)].sort()])
    const first = firstExpression.get(key)
    if (first === undefined) firstExpression.set(key, i)
    else {
      problems.push({
        field: `matchExpressions[${i}]`,
        value: expression,
        message: `the same requirement as matchExpressions[${first}] (values compared as sets); remove one`,
      })
    }
  })
  return problems
}

const requirementText = (r: Requirement): string => {
  switch (r.operator) {
    case "In":
      return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(",")})`
    case "NotIn":
      return `${r.key} notin (${r.values.join(",")})`
    case "Exists":
      return r.key
    case "DoesNotExist":
      return `!${r.key}`
  }
}

export const everything: Selector = { requirements: [], text: "" }

export const matches = (selector: Selector, labels: Readonly<Record<string, string>>): boolean =>
  selector.requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key)
    const value = labels[r.key]
    switch (r.operator) {
      case "In":
        return has && value !== undefined && r.values.includes(value)
      case "NotIn":
        return !has || value === undefined || !r.values.includes(value)
      case "Exists":
        return has
      case "DoesNotExist":
        return !has
    }
  })

/** True when any selector in the list matches (an empty list means "no restriction"). */
export const anyMatches = (selectors: ReadonlyArray<Selector>, labels: Readonly<Record<string, string>>): boolean =>
  selectors.length === 0 || selectors.some((s) => matches(s, labels))
