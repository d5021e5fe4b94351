// vitest globalSetup: names this run's cluster owner (the vitest process) for the e2e files, and at
// the end of the run stops the cluster if one of them started it (spec/support/cluster/shared.ts).
import type { TestProject } from "vitest/node"
import { stopSlot } from "./slot.ts"
import { readState, runSlot } from "./state.ts"

export default function setup(project: TestProject): () => Promise<void> {
  project.provide("clusterOwner", process.pid)
  return async () => {
    if (readState(runSlot(process.pid)) !== undefined) await stopSlot(runSlot(process.pid))
  }
}
