// Randomness for one protocol step, drawn from a 32-bit value the shell supplies with each Tick (a fresh
// random number in production, a seeded one in simulation). SWIM needs randomness only to shuffle the probe
// order, to place newly learnt members in it and to pick indirect-probe helpers and gossip targets; a small
// generator (mulberry32) stretched from the supplied value covers all of those within one step.

export type Draw = () => number

/** A generator of numbers in [0, 1); its state lives in the closure for the duration of one step. */
export const drawFrom = (seed: number): Draw => {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000
  }
}

export const below = (draw: Draw, n: number): number => Math.floor(draw() * n)

/** Fisher-Yates. */
export const shuffle = <A>(draw: Draw, items: ReadonlyArray<A>): Array<A> => {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = below(draw, i + 1)
    const tmp = out[i]!
    out[i] = out[j]!
    out[j] = tmp
  }
  return out
}

/** Up to `k` distinct items chosen uniformly. */
export const sample = <A>(draw: Draw, items: ReadonlyArray<A>, k: number): Array<A> => shuffle(draw, items).slice(0, k)
