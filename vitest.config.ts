import { defineConfig } from "vitest/config"
import { BaseSequencer, type TestSpecification } from "vitest/node"

/**
 * vitest's order (longest last run first, else largest file first), but the real-cluster file always
 * first. It runs ~5 minutes and mostly waits (rollouts, cable pulls, probes), so it belongs beside the
 * rest of the suite on the other worker; a fresh clone (CI) has no durations, and by size (1.6 kB) it
 * came last and ran alone at the end.
 */
class ClusterFirst extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const sorted = await super.sort(files)
    const isCluster = (file: TestSpecification) => file.moduleId.endsWith("/spec/e2e/cluster-e2e.test.ts")
    return [...sorted.filter(isCluster), ...sorted.filter((file) => !isCluster(file))]
  }
}

// Unit tests and integration tests live side by side under spec/; integration tests that need root
// skip themselves (with a reason) when not root. Two workers: the machines have two cores.
export default defineConfig({
  test: {
    include: ["spec/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    sequence: { sequencer: ClusterFirst },
    // Names the run's owner for the shared real cluster and removes it at the end (spec/e2e/cluster-*).
    globalSetup: ["./spec/support/cluster/global-setup.ts"],
    reporters: ["default", "./spec/support/summary-reporter.ts"],
  },
})
