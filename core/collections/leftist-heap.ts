// An immutable priority queue (a leftist heap): insert and removing the least cost O(log n) and leave the
// older version as it was, so a machine's state can hold one and every step returns a new version
// without copying it (issue 17: the Layer 2 announcer's next due announcement among thousands).

interface HeapNode<A> {
  readonly value: A
  /** Length of the rightmost path: the left child's is never shorter. */
  readonly rank: number
  readonly left: HeapNode<A> | undefined
  readonly right: HeapNode<A> | undefined
}

const rankOf = <A>(node: HeapNode<A> | undefined): number => (node === undefined ? 0 : node.rank)

const join = <A>(value: A, a: HeapNode<A> | undefined, b: HeapNode<A> | undefined): HeapNode<A> =>
  rankOf(a) >= rankOf(b) ? { value, rank: rankOf(b) + 1, left: a, right: b } : { value, rank: rankOf(a) + 1, left: b, right: a }

const merge = <A>(less: (a: A, b: A) => boolean, a: HeapNode<A> | undefined, b: HeapNode<A> | undefined): HeapNode<A> | undefined => {
  if (a === undefined) return b
  if (b === undefined) return a
  // The rightmost paths are O(log n) long, so is the recursion.
  return less(b.value, a.value) ? join(b.value, b.left, merge(less, a, b.right)) : join(a.value, a.left, merge(less, a.right, b))
}

export class LeftistHeap<A> {
  private readonly less: (a: A, b: A) => boolean
  private readonly root: HeapNode<A> | undefined
  readonly size: number

  private constructor(less: (a: A, b: A) => boolean, root: HeapNode<A> | undefined, size: number) {
    this.less = less
    this.root = root
    this.size = size
  }

  /** An empty heap ordered by `less` (strict: a comes before b). */
  static empty<A>(less: (a: A, b: A) => boolean): LeftistHeap<A> {
    return new LeftistHeap(less, undefined, 0)
  }

  /** The least value, if any. */
  get min(): A | undefined {
    return this.root?.value
  }

  insert(value: A): LeftistHeap<A> {
    return new LeftistHeap(this.less, merge(this.less, this.root, { value, rank: 1, left: undefined, right: undefined }), this.size + 1)
  }

  /** The heap without its least value (itself when empty). */
  removeMin(): LeftistHeap<A> {
    if (this.root === undefined) return this
    return new LeftistHeap(this.less, merge(this.less, this.root.left, this.root.right), this.size - 1)
  }
}
