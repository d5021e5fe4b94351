// A pass over what changed (issue 17): when the shell says which services changed since the snapshot the
// last pass decided from (ClusterChanged.changes), only those are decided again, and when none of their
// decisions changes what this node does (the same owner, claims, routes, samples and status), the pass
// ends there: no walk over every service, no map of every service copied. Anything else (a service added
// or removed, a shared address, an epoch changed, a state the last pass did not leave, a decision that
// changes an announcement, more changes at once than the decisions kept aside may hold) is left to the full pass
// (pass.ts), which decides what a pass from scratch would (property-tested, with and without changes).
import { LayeredMap } from "../../collections/layered-map.ts"
import type { ClusterChanges, ClusterSnapshot } from "../view.ts"
import { decideService, l2EpochOf, type PassCache, sameNode, type ServiceDecision } from "./pass-cache.ts"
import type { NodeState } from "./state.ts"

const sameStrings = (a: ReadonlyArray<string> | undefined, b: ReadonlyArray<string> | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]))

/** The new decision does, for this node, exactly what the previous one did. */
const sameEffects = (a: ServiceDecision, b: ServiceDecision): boolean =>
  a.election?.owner === b.election?.owner &&
  sameStrings(a.claimInterfaces, b.claimInterfaces) &&
  sameStrings(a.claimKeys, b.claimKeys) &&
  a.l2SamplesText === b.l2SamplesText &&
  a.bgpSamplesText === b.bgpSamplesText &&
  a.routesText === b.routesText &&
  a.bgpStatus?.text === b.bgpStatus?.text

/** The state as the last pass left it (no input since changed what it holds), not held back. */
const asLastPassLeft = (s: NodeState, cache: PassCache): boolean => {
  const after = cache.after
  return after !== undefined && s.owned === after.owned && s.statuses === after.statuses && s.sessions === after.sessions &&
    s.announcedEvents === after.announcedEvents && s.interfaces === after.interfaces && s.linksDown === after.linksDown &&
    s.previousOwners === cache.owners && !cache.ownersHeld && !s.dataPathDown && s.rejoinedAtMs === undefined
}

/**
 * The node after deciding only the changed services, with `snapshot` held; undefined when a full pass
 * is needed. `s` holds the snapshot the changes lead from.
 */
export const deltaPass = (s: NodeState, snapshot: ClusterSnapshot, changes: ClusterChanges): NodeState | undefined => {
  const cache = s.passCache
  const config = s.config.config
  if (s.phase !== "Running" || config === undefined || cache.snapshot === undefined || changes.since !== cache.snapshot || s.snapshot !== cache.snapshot) return undefined
  const limit = cache.recentLimit(cache.decisions.size)
  if (!asLastPassLeft(s, cache) || changes.services.size > limit) return undefined
  const { nodeName, ignoreExcludeLb } = s.settings
  const l2Epoch = l2EpochOf(cache.l2Epoch, config, snapshot, s.members, s.members === undefined ? undefined : s.membersDown)
  if (l2Epoch !== cache.l2Epoch) return undefined
  // The BGP epoch holds the configuration and this node; the peers and sessions follow from them.
  const self = snapshot.nodes.find((n) => n.name === nodeName)
  const bgpEpoch = cache.bgpEpoch
  if (bgpEpoch === undefined ? self !== undefined : self === undefined || bgpEpoch.config !== config || !sameNode(bgpEpoch.self, self)) return undefined
  const ctx = { config, snapshot, nodeName, self, ignoreExcludeLb: ignoreExcludeLb ?? false, l2Epoch, bgpEpoch }
  // Too many decisions aside: folded into the decisions map (the next full pass finds them by key, not
  // by position, and merges every service's routes and samples again).
  const base: PassCache = cache.recent.size + changes.services.size <= limit ? cache : {
    ...cache,
    decisions: (cache.decisions instanceof LayeredMap ? cache.decisions : LayeredMap.of(cache.decisions)).with(cache.recent),
    recent: new Map(),
    list: [],
    order: [],
  }
  const recent = new Map(base.recent)
  for (const [key, service] of changes.services) {
    const previous = base.recent.get(key) ?? base.decisions.get(key)
    // Added, removed, or sharing an address (the full pass decides which of two services owns it).
    if (previous === undefined || service === undefined || service.sharedAddress || previous.service.sharedAddress) return undefined
    const d = decideService(ctx, service, previous)
    if (!sameEffects(d, previous)) return undefined
    recent.set(key, d)
  }
  return { ...s, snapshot, passCache: { ...base, snapshot, recent } }
}
