// Every test on the real 3-node cluster (spec/support/cluster/), in one file: the run's one cluster
// then takes one vitest worker while the other runs the rest of the suite (two files would hold both,
// one of them waiting for the cluster), and one metallb-ts install serves every suite. In order: the
// Helm install (checked, uninstalled), the kustomize install (checked, kept), Layer 2, BGP, the
// operator tools (explain, plan), the updates, and the kustomize uninstall (spec/e2e/cluster/*.ts).
import { afterAll, beforeAll, describe } from "vitest"
import { clusterSkipReason } from "../support/cluster/cluster.ts"
import { type SharedCluster, useCluster } from "../support/cluster/shared.ts"
import { skipUnlessCi } from "../support/skip.ts"
import { bgpSuite } from "./cluster/bgp.ts"
import { installSuites, uninstallSuite } from "./cluster/install.ts"
import { layer2Suite } from "./cluster/layer2.ts"
import { operatorToolsSuite } from "./cluster/operator-tools.ts"
import { updatesSuite } from "./cluster/updates.ts"

describe.skipIf(skipUnlessCi(await clusterSkipReason()))("metallb-ts on a real 3-node cluster", () => {
  let shared: SharedCluster | undefined
  const cluster = (): SharedCluster => {
    if (shared === undefined) throw new Error("the cluster did not start (see the beforeAll error)")
    return shared
  }
  beforeAll(async () => {
    shared = await useCluster()
  }, 900_000)
  afterAll(async () => {
    await shared?.release()
  }, 120_000)

  installSuites(cluster)
  layer2Suite(cluster)
  bgpSuite(cluster)
  operatorToolsSuite(cluster)
  updatesSuite(cluster)
  uninstallSuite(cluster)
})
