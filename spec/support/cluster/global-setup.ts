// vitest globalSetup: names this run's cluster owner (the vitest process) for the e2e files, and at
// the end of the run stops the cluster if one of them started it (spec/support/cluster/shared.ts). It
// only asks: the cluster's process removes everything itself (about a minute), and would also do so
// when it sees this process gone, so the run does not wait for it (vitest's teardown timeout is 10 s).
import type { TestProject } from "vitest/node"

export default function setup(project: TestProject): () => Promise<void> {
  project.provide("clusterOwner", process.pid)
  return async () => {
    const { readState, runSlot } = await import("./state.ts")
    if (readState(runSlot(process.pid)) === undefined) return
    const { stopSlot } = await import("./slot.ts")
    await stopSlot(runSlot(process.pid), 0)
  }
}
