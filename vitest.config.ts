import { defineConfig } from "vitest/config"

// Unit tests and integration tests live side by side under spec/; integration tests that need root
// skip themselves (with a reason) when not root. Two workers: the machines have two cores.
export default defineConfig({
  test: {
    include: ["spec/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    // Names the run's owner for the shared real cluster and removes it at the end (spec/e2e/cluster-*).
    globalSetup: ["./spec/support/cluster/global-setup.ts"],
    reporters: ["default", "./spec/support/summary-reporter.ts"],
  },
})
