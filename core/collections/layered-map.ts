// An immutable map whose next version, with a few keys set or removed, costs about what changed instead
// of a copy of the whole map (issue 17: the speaker's snapshot under churn, 5,000 Services, one changed).
// A version is a base map, never changed once built, and a small layer of the keys changed since: a
// lookup checks the layer, then the base. When the layer grows past a few times the square root of the
// size, the next version is a new base: a copy every ~4·sqrt(n) changes, a layer copy of at most that
// many entries per version, so a change costs O(sqrt(n)) amortised, a lookup O(1).
//
// Iteration follows the base's order, a replaced value in its key's place, then the keys added since in
// the order they were added (a plain Map's order, but for a key removed and added again before the next
// base, which stays in its old place).

const removed: unique symbol = Symbol("removed")
type Layered<V> = V | typeof removed

export class LayeredMap<K, V> implements ReadonlyMap<K, V> {
  private readonly base: ReadonlyMap<K, V>
  private readonly layer: ReadonlyMap<K, Layered<V>>
  readonly size: number

  private constructor(base: ReadonlyMap<K, V>, layer: ReadonlyMap<K, Layered<V>>, size: number) {
    this.base = base
    this.layer = layer
    this.size = size
  }

  /** A map of these entries (copied: later changes to `entries` do not show). */
  static of<K, V>(entries: Iterable<readonly [K, V]>): LayeredMap<K, V> {
    const base = new Map<K, V>(entries)
    return new LayeredMap(base, new Map(), base.size)
  }

  /** This map with `changes` applied: a value sets its key, undefined removes it. */
  with(changes: Iterable<readonly [K, V | undefined]>): LayeredMap<K, V> {
    let layer: Map<K, Layered<V>> | undefined
    let size = this.size
    const present = (key: K): boolean => {
      const top = layer ?? this.layer
      return top.has(key) ? top.get(key) !== removed : this.base.has(key)
    }
    for (const [key, value] of changes) {
      const had = present(key)
      if (value === undefined && !had) continue
      layer ??= new Map(this.layer)
      if (value === undefined) {
        if (this.base.has(key)) layer.set(key, removed)
        else layer.delete(key)
        size--
      } else {
        if (!had) size++
        layer.set(key, value)
      }
    }
    if (layer === undefined) return this
    const next = new LayeredMap(this.base, layer, size)
    return layer.size > 64 && layer.size > 4 * Math.sqrt(size) ? LayeredMap.of(next) : next
  }

  get(key: K): V | undefined {
    const v = this.layer.get(key)
    if (v === removed) return undefined
    return v !== undefined ? v : this.base.get(key)
  }

  has(key: K): boolean {
    return this.layer.has(key) ? this.layer.get(key) !== removed : this.base.has(key)
  }

  *entries(): MapIterator<[K, V]> {
    for (const [key, value] of this.base) {
      const v = this.layer.get(key)
      if (v === removed) continue
      yield [key, v !== undefined ? v : value]
    }
    for (const [key, v] of this.layer) if (v !== removed && !this.base.has(key)) yield [key, v]
  }

  *keys(): MapIterator<K> {
    for (const [key] of this.entries()) yield key
  }

  *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries()
  }

  forEach(f: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    for (const [key, value] of this.entries()) f(value, key, this)
  }
}
