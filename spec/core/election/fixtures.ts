// Builders shared by the election tests: selectors, L2Advertisements and addresses from their text forms.
import { Result } from "effect"
import type { L2Advertisement } from "../../../core/config/config.ts"
import { type LabelSelector, parseSelector, type Selector } from "../../../core/config/selector.ts"
import { type Address, parseAddress } from "../../../core/net/address.ts"

export const selector = (s: LabelSelector): Selector => {
  const { selector } = parseSelector(s)
  if (selector === undefined) throw new Error(`bad selector ${JSON.stringify(s)}`)
  return selector
}

export const ad = (name: string, fields: Partial<L2Advertisement> = {}): L2Advertisement => ({
  name,
  pools: ["pool"],
  nodeSelectors: [],
  interfaces: [],
  serviceSelectors: [],
  preferredNodeSelectors: [],
  ...fields,
})

export const ip = (text: string): Address => Result.getOrThrow(parseAddress(text))
