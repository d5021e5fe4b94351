// Whether two lists of node selectors can select a common node. With the cluster's nodes at hand the
// answer is exact; without them it is decided from the selectors alone: two selectors are disjoint
// when, on some label key, their requirements together cannot hold (In sets that do not meet, Exists
// against DoesNotExist, In covered by NotIn). An empty list selects every node; the selectors of a
// list are OR-ed.
import type { NodeLabels } from "./context.ts"
import { matches, type Requirement, type Selector } from "../selector.ts"

const contradictory = (requirements: ReadonlyArray<Requirement>): boolean => {
  const byKey = new Map<string, Array<Requirement>>()
  for (const r of requirements) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r])
  for (const reqs of byKey.values()) {
    const mustExist = reqs.some((r) => r.operator === "In" || r.operator === "Exists")
    const mustNotExist = reqs.some((r) => r.operator === "DoesNotExist")
    if (mustExist && mustNotExist) return true
    const ins = reqs.filter((r) => r.operator === "In").map((r) => new Set(r.values))
    const notIn = new Set(reqs.filter((r) => r.operator === "NotIn").flatMap((r) => r.values))
    if (ins.length > 0) {
      const [first, ...rest] = ins
      const allowed = [...(first ?? [])].filter((v) => rest.every((s) => s.has(v)) && !notIn.has(v))
      if (allowed.length === 0) return true
    }
  }
  return false
}

const selectorsMeet = (a: Selector, b: Selector): boolean => !contradictory([...a.requirements, ...b.requirements])

const selects = (list: ReadonlyArray<Selector>, node: NodeLabels): boolean => list.length === 0 || list.some((s) => matches(s, node.labels))

/**
 * Where two node selections meet: `{ node }` names a node both select (nodes known), `{ node:
 * undefined }` says they may meet (decided from the selectors: not provably disjoint), and undefined
 * says they cannot.
 */
export const nodeSetsMeet = (
  a: ReadonlyArray<Selector>,
  b: ReadonlyArray<Selector>,
  nodes: ReadonlyArray<NodeLabels> | undefined,
): { readonly node: string | undefined } | undefined => {
  if (nodes !== undefined) {
    const common = nodes.find((node) => selects(a, node) && selects(b, node))
    return common === undefined ? undefined : { node: common.name }
  }
  if (a.length === 0 || b.length === 0) return { node: undefined }
  return a.some((x) => b.some((y) => selectorsMeet(x, y))) ? { node: undefined } : undefined
}

export const nodeSetsMayOverlap = (
  a: ReadonlyArray<Selector>,
  b: ReadonlyArray<Selector>,
  nodes: ReadonlyArray<NodeLabels> | undefined,
): boolean => nodeSetsMeet(a, b, nodes) !== undefined

/** "both select node \"n1\"", or that they may, for messages about two selections that meet. */
export const whereTheyMeet = (meeting: { readonly node: string | undefined }): string =>
  meeting.node === undefined ? "may select a common node (their nodeSelectors are not provably disjoint)" : `both select node ${JSON.stringify(meeting.node)}`
