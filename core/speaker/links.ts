// What a speaker tells the others about its Layer 2 interfaces (membership metadata, read by every
// node's election): the usable interfaces whose link is down, and the interfaces an L2Advertisement
// names that this node does not have or may not use (excluded, enslaved, NOARP), which are as good as
// down: without them the node would win addresses announced only there and answer nowhere. When every
// usable interface is down the node can reach nobody at all, and leaves the membership instead.
import type { Config } from "../config/config.ts"
import { canonicalDownInterfaces } from "../election/membership/metadata.ts"

export interface LinkReport {
  /** Usable interfaces whose link is down. */
  readonly down: ReadonlyArray<string>
  /** Interfaces named by an L2Advertisement that are not usable here. */
  readonly missing: ReadonlyArray<string>
  /** What goes into the membership metadata (canonical: sorted, bounded). */
  readonly reported: ReadonlyArray<string>
  /** Every usable interface is down (there is at least one). */
  readonly allDown: boolean
}

export const namedInterfaces = (config: Config | undefined): ReadonlyArray<string> =>
  [...new Set((config?.l2Advertisements ?? []).flatMap((ad) => ad.interfaces))].sort()

export const linkReport = (usable: ReadonlyArray<string>, linkUp: ReadonlySet<string>, named: ReadonlyArray<string>): LinkReport => {
  const down = usable.filter((name) => !linkUp.has(name))
  const missing = named.filter((name) => !usable.includes(name))
  return { down, missing, reported: canonicalDownInterfaces([...down, ...missing]), allDown: usable.length > 0 && down.length === usable.length }
}
