// BGP community values and the aliases Community objects give them. MetalLB's rule (FRR mode): a text
// with a colon is a literal — "A:B" with 16-bit halves (RFC 1997) or "large:A:B:C" with three 32-bit
// parts (RFC 8092) — and anything else with a colon is an error; a text without a colon is an alias
// name looked up among the Community objects. An unknown alias is transient: the Community object may
// simply not have been created yet. Numbers are decimal as Go's strconv.ParseUint reads them (leading
// zeros accepted, no sign, no spaces).
import { Result } from "effect"
import type { BgpCommunity } from "../config.ts"
import type { Located } from "../decode.ts"
import { type ConfigError, configError, type ObjectRef } from "../errors.ts"
import type { Community } from "../kinds/community.ts"
import { defaultContext, type ResolveContext } from "./context.ts"
import { checkNamespace } from "./common.ts"

const largePrefix = "large:"
const decimalRe = /^[0-9]+$/

const parseUint = (text: string, max: number): number | undefined => {
  if (!decimalRe.test(text)) return undefined
  const value = Number(text)
  return value <= max ? value : undefined
}

/** True when the text is meant as a literal value rather than an alias name. */
export const isCommunityLiteral = (text: string): boolean => text.includes(":")

/** Parses a community literal; the failure is a reason a person can read. */
export const parseCommunity = (text: string): Result.Result<BgpCommunity, string> => {
  if (!isCommunityLiteral(text)) return Result.fail("not a community literal (no ':'): an alias name")
  if (text.startsWith(largePrefix)) {
    const parts = text.slice(largePrefix.length).split(":")
    if (parts.length !== 3) return Result.fail("a large community is large:A:B:C with three 32-bit decimal numbers")
    const [a, b, c] = parts.map((part) => parseUint(part, 0xffffffff))
    if (a === undefined || b === undefined || c === undefined) {
      return Result.fail("each part of a large community must be a decimal number in 0..4294967295")
    }
    return Result.succeed({ kind: "large", globalAdministrator: a, localData1: b, localData2: c })
  }
  const parts = text.split(":")
  if (parts.length !== 2) return Result.fail("a standard community is A:B (or large:A:B:C for a large one)")
  const [asn, value] = parts.map((part) => parseUint(part, 0xffff))
  if (asn === undefined || value === undefined) {
    return Result.fail("each half of a standard community must be a decimal number in 0..65535")
  }
  return Result.succeed({ kind: "standard", asn, value })
}

/** The canonical text of a community value: parseCommunity(formatCommunity(c)) equals c. */
export const formatCommunity = (community: BgpCommunity): string =>
  community.kind === "standard"
    ? `${community.asn}:${community.value}`
    : `${largePrefix}${community.globalAdministrator}:${community.localData1}:${community.localData2}`

interface FirstDefinition {
  readonly object: ObjectRef
  readonly field: string
}

/**
 * Every alias of every Community object, by name. An alias whose value is not a literal, whose name
 * is empty or has a colon, or that repeats an earlier name (in the same object or another) is left
 * out and reported; a repeated name is reported against its first definition (valid or not), which
 * alone may define it. Community objects outside the context's namespace are refused (WrongNamespace)
 * and contribute nothing.
 */
export const resolveCommunityAliases = (
  communities: ReadonlyArray<Located<Community>>,
  context: Pick<ResolveContext, "namespace"> = defaultContext,
): { readonly aliases: ReadonlyMap<string, BgpCommunity>; readonly errors: Array<ConfigError> } => {
  const aliases = new Map<string, BgpCommunity>()
  const firstDefinitions = new Map<string, FirstDefinition>()
  const errors: Array<ConfigError> = []
  for (const { object, ref } of communities) {
    const wrongNamespace = checkNamespace(ref, context)
    if (wrongNamespace.length > 0) {
      errors.push(...wrongNamespace)
      continue
    }
    ;(object.spec.communities ?? []).forEach(({ name, value }, i) => {
      const at = `spec.communities[${i}]`
      let valid = true
      if (name === "") {
        valid = false
        errors.push(configError({ code: "MissingField", object: ref, field: `${at}.name`, message: "a community alias needs a name" }))
      } else if (isCommunityLiteral(name)) {
        valid = false
        errors.push(configError({
          code: "InvalidCommunity",
          object: ref,
          field: `${at}.name`,
          value: name,
          message: "an alias name must not contain ':' (a text with ':' is read as a literal value)",
        }))
      }
      const parsed = parseCommunity(value)
      if (Result.isFailure(parsed)) {
        valid = false
        errors.push(configError({
          code: "InvalidCommunity",
          object: ref,
          field: `${at}.value`,
          value,
          message: `invalid community value: ${parsed.failure}`,
        }))
      }
      if (name === "") return
      const first = firstDefinitions.get(name)
      if (first !== undefined) {
        errors.push(configError({
          code: "DuplicateName",
          object: ref,
          field: `${at}.name`,
          value: name,
          other: { object: first.object, field: first.field, value: name },
          message: `community alias ${JSON.stringify(name)} is already defined`,
        }))
        return
      }
      firstDefinitions.set(name, { object: ref, field: `${at}.name` })
      if (valid && Result.isSuccess(parsed)) aliases.set(name, parsed.success)
    })
  }
  return { aliases, errors }
}

/**
 * A community as written in a BGPAdvertisement (or elsewhere): a literal, or the name of an alias.
 * `ref` and `field` say where the text was found, for the error.
 */
export const resolveCommunityRef = (
  text: string,
  aliases: ReadonlyMap<string, BgpCommunity>,
  ref: ObjectRef,
  field: string,
): { readonly community?: BgpCommunity; readonly error?: ConfigError } => {
  if (text === "") {
    return { error: configError({ code: "InvalidCommunity", object: ref, field, value: text, message: "a community is a literal (A:B, large:A:B:C) or an alias name, not empty text" }) }
  }
  if (isCommunityLiteral(text)) {
    const parsed = parseCommunity(text)
    return Result.isSuccess(parsed)
      ? { community: parsed.success }
      : { error: configError({ code: "InvalidCommunity", object: ref, field, value: text, message: `invalid community: ${parsed.failure}` }) }
  }
  const community = aliases.get(text)
  return community !== undefined
    ? { community }
    : {
      error: configError({
        code: "UnknownCommunity",
        severity: "transient",
        object: ref,
        field,
        value: text,
        message: `no Community object defines the alias ${JSON.stringify(text)}`,
      }),
    }
}
