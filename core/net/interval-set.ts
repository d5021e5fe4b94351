// A persistent set of bigints stored as disjoint, non-adjacent closed intervals in a treap.
// It is what makes IPAM cost nothing in the size of a pool: a /64 with three allocations is three
// intervals. Every operation is O(log n) in the number of intervals (expected: priorities are a hash
// of the interval start, so the shape is deterministic for a given content, with no randomness), and
// every operation returns a new set sharing structure with the old one, so a failed allocation
// simply keeps the old value.

interface Node {
  readonly lo: bigint
  readonly hi: bigint
  readonly priority: number
  readonly left: Tree
  readonly right: Tree
  /** Members in this subtree: the sum of (hi - lo + 1). */
  readonly covered: bigint
  /** Intervals in this subtree. */
  readonly count: number
}

type Tree = Node | undefined

export interface IntervalSet {
  readonly root: Tree
}

export interface Interval {
  readonly lo: bigint
  readonly hi: bigint
}

export const empty: IntervalSet = { root: undefined }

const mix32 = (x: number): number => {
  let h = Math.imul(x ^ (x >>> 16), 0x45d9f3b)
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b)
  return (h ^ (h >>> 16)) >>> 0
}

// Mix every 32-bit word of the start, so IPv6 starts that differ only in high bits still spread out.
const priorityOf = (lo: bigint): number => {
  let h = 0x9e3779b9
  let rest = lo
  do {
    h = mix32(h ^ Number(rest & 0xffffffffn))
    rest >>= 32n
  } while (rest > 0n)
  return h
}

const node = (lo: bigint, hi: bigint, priority: number, left: Tree, right: Tree): Node => ({
  lo,
  hi,
  priority,
  left,
  right,
  covered: (hi - lo + 1n) + (left?.covered ?? 0n) + (right?.covered ?? 0n),
  count: 1 + (left?.count ?? 0) + (right?.count ?? 0),
})

const leaf = (lo: bigint, hi: bigint): Node => node(lo, hi, priorityOf(lo), undefined, undefined)

/** Splits into intervals with lo < key and intervals with lo >= key. */
const split = (tree: Tree, key: bigint): [Tree, Tree] => {
  if (tree === undefined) return [undefined, undefined]
  if (tree.lo < key) {
    const [l, r] = split(tree.right, key)
    return [node(tree.lo, tree.hi, tree.priority, tree.left, l), r]
  }
  const [l, r] = split(tree.left, key)
  return [l, node(tree.lo, tree.hi, tree.priority, r, tree.right)]
}

/** Joins two trees where every interval of `a` lies before every interval of `b`. */
const merge = (a: Tree, b: Tree): Tree => {
  if (a === undefined) return b
  if (b === undefined) return a
  return a.priority >= b.priority
    ? node(a.lo, a.hi, a.priority, a.left, merge(a.right, b))
    : node(b.lo, b.hi, b.priority, merge(a, b.left), b.right)
}

const last = (tree: Tree): Node | undefined => {
  let at = tree
  while (at?.right !== undefined) at = at.right
  return at
}

const withoutLast = (tree: Tree): Tree => {
  if (tree === undefined) return undefined
  if (tree.right === undefined) return tree.left
  return node(tree.lo, tree.hi, tree.priority, tree.left, withoutLast(tree.right))
}

/** Adds lo..hi (inclusive), merging with overlapping and adjacent intervals. */
export const add = (set: IntervalSet, lo: bigint, hi: bigint): IntervalSet => {
  if (hi < lo) return set
  let [before, rest] = split(set.root, lo)
  let start = lo
  let end = hi
  const prev = last(before)
  if (prev !== undefined && prev.hi >= lo - 1n) {
    start = prev.lo
    end = prev.hi > end ? prev.hi : end
    before = withoutLast(before)
  }
  const [absorbed, after] = split(rest, hi + 2n)
  const absorbedLast = last(absorbed)
  if (absorbedLast !== undefined && absorbedLast.hi > end) end = absorbedLast.hi
  return { root: merge(merge(before, leaf(start, end)), after) }
}

/** Removes lo..hi (inclusive), cutting intervals that straddle either end. */
export const remove = (set: IntervalSet, lo: bigint, hi: bigint): IntervalSet => {
  if (hi < lo) return set
  let [before, rest] = split(set.root, lo)
  const pieces: Array<Node> = []
  const prev = last(before)
  if (prev !== undefined && prev.hi >= lo) {
    before = withoutLast(before)
    pieces.push(leaf(prev.lo, lo - 1n))
    if (prev.hi > hi) pieces.push(leaf(hi + 1n, prev.hi))
  }
  const [inside, after] = split(rest, hi + 1n)
  const insideLast = last(inside)
  if (insideLast !== undefined && insideLast.hi > hi) pieces.push(leaf(hi + 1n, insideLast.hi))
  let middle: Tree = undefined
  for (const piece of pieces) middle = merge(middle, piece)
  return { root: merge(merge(before, middle), after) }
}

/** The interval with the greatest lo <= x, if any. */
const floor = (tree: Tree, x: bigint): Node | undefined => {
  let at = tree
  let best: Node | undefined
  while (at !== undefined) {
    if (at.lo <= x) {
      best = at
      at = at.right
    } else {
      at = at.left
    }
  }
  return best
}

export const has = (set: IntervalSet, x: bigint): boolean => {
  const candidate = floor(set.root, x)
  return candidate !== undefined && candidate.hi >= x
}

/** The smallest value in from..to that is NOT in the set, or undefined when from..to is full. */
export const firstAbsent = (set: IntervalSet, from: bigint, to: bigint): bigint | undefined => {
  if (to < from) return undefined
  const covering = floor(set.root, from)
  // Intervals are never adjacent, so the value right after a covering interval is absent.
  const candidate = covering !== undefined && covering.hi >= from ? covering.hi + 1n : from
  return candidate <= to ? candidate : undefined
}

/** The smallest interval start >= x, if any (the next member at or after a gap). */
const ceiling = (tree: Tree, x: bigint): Node | undefined => {
  let at = tree
  let best: Node | undefined
  while (at !== undefined) {
    if (at.lo >= x) {
      best = at
      at = at.left
    } else {
      at = at.right
    }
  }
  return best
}

/** The smallest member in from..to, or undefined when none. */
export const firstPresent = (set: IntervalSet, from: bigint, to: bigint): bigint | undefined => {
  if (to < from) return undefined
  if (has(set, from)) return from
  const next = ceiling(set.root, from)
  return next !== undefined && next.lo <= to ? next.lo : undefined
}

/** Number of members (exact). */
export const size = (set: IntervalSet): bigint => set.root?.covered ?? 0n

/** Number of stored intervals (what the set costs in memory). */
export const intervalCount = (set: IntervalSet): number => set.root?.count ?? 0

export function* intervals(set: IntervalSet): Generator<Interval> {
  const stack: Array<Node> = []
  let at = set.root
  while (at !== undefined || stack.length > 0) {
    while (at !== undefined) {
      stack.push(at)
      at = at.left
    }
    const top = stack.pop()
    if (top === undefined) break
    yield { lo: top.lo, hi: top.hi }
    at = top.right
  }
}

export const fromIntervals = (items: Iterable<Interval>): IntervalSet => {
  let set = empty
  for (const { lo, hi } of items) set = add(set, lo, hi)
  return set
}
