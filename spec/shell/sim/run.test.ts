// The sweep's choice of scenario per seed: random 30 s scenarios, and the scenario at scale (100 nodes,
// 2,000 Services) once per 100 seeds, so `npm start -- --runs 100` runs it. Running it here would add
// about 30 CPU seconds to CI; the choice is what this checks.
import { describe, expect, it } from "vitest"
import { sweepScenario } from "../../../shell/sim/run.ts"
import { large } from "../../../shell/sim/scenarios.ts"

describe("simulator sweep", () => {
  it("runs large at every seed divisible by 100 and a random scenario at the others", () => {
    for (const seed of [100, 200, 300]) expect(sweepScenario(seed)).toBe(large)
    expect(large.nodes).toHaveLength(100)
    expect(large.services).toHaveLength(2_000)
    for (const seed of [1, 99, 101, 250]) {
      const s = sweepScenario(seed)
      expect(s.name).toBe(`random-${seed}`)
      expect(s.durationMs).toBe(30_000)
    }
  })
})
