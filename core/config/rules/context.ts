// What resolve() knows beyond the objects themselves: the namespace MetalLB runs in (objects and
// Secrets elsewhere are refused, as MetalLB's webhooks refuse them) and, when a cluster is at hand,
// its Secrets and Nodes.
import type { Located, Secret } from "../decode.ts"

export interface NodeLabels {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
}

export interface ResolveContext {
  /** The namespace metallb-ts runs in; default "metallb-system". */
  readonly namespace: string
  /** Secrets known besides those among the documents (from the cluster). */
  readonly secrets: ReadonlyArray<Located<Secret>>
  /**
   * Nodes, when known (optional: without them the selectors decide): whether two BGPPeers or two
   * BGPAdvertisements can select the same node is then decided on these. As in MetalLB, an empty list
   * counts as unknown for peers (a node may join), and as "no node" for LOCAL_PREF conflicts.
   */
  readonly nodes?: ReadonlyArray<NodeLabels>
}

export const defaultContext: ResolveContext = { namespace: "metallb-system", secrets: [] }
