// BFDProfile objects resolved to the timers a BFD session runs with. The schema already enforces the
// CRD's ranges; what is left is MetalLB's defaults (300 ms receive and transmit, 50 ms echo, detect
// multiplier 3, minimum TTL 254, echo and passive mode off — FRR's own defaults, which MetalLB writes
// out explicitly), unique names, and the namespace MetalLB reads objects from. echoMode runs the Echo
// function (core/bfd/echo.ts) on single-hop IPv4 sessions, as FRR's bfdd does; whether a node can
// send and loop back echoes is a property of its kernel settings, reported by the speaker at run time.
import type { BfdProfile } from "../config.ts"
import type { Located } from "../decode.ts"
import { type ConfigError, configError, type ObjectRef } from "../errors.ts"
import type { BFDProfile } from "../kinds/bfd-profile.ts"
import { defaultContext, type ResolveContext } from "./context.ts"
import { checkNamespace } from "./common.ts"

export const bfdDefaults = {
  receiveIntervalMs: 300,
  transmitIntervalMs: 300,
  detectMultiplier: 3,
  echoIntervalMs: 50,
  echoMode: false,
  passiveMode: false,
  minimumTtl: 254,
} as const

export const bfdProfileFromSpec = (name: string, spec: BFDProfile["spec"]): BfdProfile => ({
  name,
  receiveIntervalMs: spec.receiveInterval ?? bfdDefaults.receiveIntervalMs,
  transmitIntervalMs: spec.transmitInterval ?? bfdDefaults.transmitIntervalMs,
  detectMultiplier: spec.detectMultiplier ?? bfdDefaults.detectMultiplier,
  echoIntervalMs: spec.echoInterval ?? bfdDefaults.echoIntervalMs,
  echoMode: spec.echoMode ?? bfdDefaults.echoMode,
  passiveMode: spec.passiveMode ?? bfdDefaults.passiveMode,
  minimumTtl: spec.minimumTtl ?? bfdDefaults.minimumTtl,
})

/**
 * Profiles by name, in input order. A profile in another namespace, or repeating an earlier name, is
 * reported and left out (the first of a repeated name stays); one in another namespace does not take
 * part in the name check.
 */
export const resolveBfdProfiles = (
  profiles: ReadonlyArray<Located<BFDProfile>>,
  context: Pick<ResolveContext, "namespace"> = defaultContext,
): { readonly profiles: ReadonlyMap<string, BfdProfile>; readonly errors: Array<ConfigError> } => {
  const resolved = new Map<string, BfdProfile>()
  const firstByName = new Map<string, ObjectRef>()
  const errors: Array<ConfigError> = []
  for (const { object, ref } of profiles) {
    const name = object.metadata.name
    const wrongNamespace = checkNamespace(ref, context)
    if (wrongNamespace.length > 0) {
      errors.push(...wrongNamespace)
      continue // not ours: it neither defines the name nor clashes with the one that does
    }
    if (name === "") {
      errors.push(configError({ code: "MissingField", object: ref, field: "metadata.name", message: "a BFDProfile needs a name: peers refer to it by name" }))
      continue
    }
    const first = firstByName.get(name)
    if (first !== undefined) {
      errors.push(configError({
        code: "DuplicateName",
        object: ref,
        field: "metadata.name",
        value: name,
        other: { object: first, field: "metadata.name", value: name },
        message: `BFDProfile ${JSON.stringify(name)} is defined more than once`,
      }))
      continue
    }
    firstByName.set(name, ref)
    resolved.set(name, bfdProfileFromSpec(name, object.spec))
  }
  return { profiles: resolved, errors }
}
