// metallb-ts installed on the real cluster the two ways a user does: `kubectl apply --server-side -k
// manifests/` and `helm install` of manifests/charts/metallb-ts, from the offline image (`npm run
// image`) every node's containerd imported. Each install: the controller's two replicas and a speaker
// per node Ready; the validating webhook, called by the API server through the Service at the
// controller pods, refuses an invalid IPAddressPool and admits a valid one; `kubectl get
// ipaddresspools` shows the pool's usage once a Service took an address; the uninstall leaves no
// metallb-ts pod, webhook configuration or RBAC object behind. Helm goes first (installed, checked,
// uninstalled); the kustomize install stays for the other suites and is uninstalled at the end of the
// run, so the run installs twice, not three times.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  applyWithWebhook,
  clusterConfigYaml,
  controllerSelector,
  deleteConfig,
  installHelm,
  installKustomize,
  lbServiceYaml,
  metallbLeftovers,
  metallbNamespace,
  pods,
  speakerSelector,
  uninstallHelm,
  uninstallKustomize,
  waitIngress,
  waitRollout,
  webDeploymentYaml,
} from "../../support/cluster/metallb.ts"
import { removeMetallb } from "../../support/cluster/scenarios.ts"
import type { SharedCluster } from "../../support/cluster/shared.ts"

const refusal = (run: () => string): string => {
  try {
    run()
  } catch (error) {
    return String((error as { stderr?: string }).stderr ?? error)
  }
  throw new Error("the API server admitted it")
}

/** What is left once the pods had their grace period (helm uninstall --wait returns before they are gone). */
const leftoversAfterUninstall = async (cluster: SharedCluster): Promise<ReadonlyArray<string>> => {
  let left: ReadonlyArray<string> = []
  for (let i = 0; i < 120; i++) {
    left = metallbLeftovers(cluster.kubectl)
    if (left.length === 0) break
    await new Promise((r) => setTimeout(r, 250))
  }
  return left
}

const checkInstalled = async (cluster: SharedCluster, how: string) => {
  const controllers = pods(cluster.kubectl, metallbNamespace, controllerSelector)
  const speakers = pods(cluster.kubectl, metallbNamespace, speakerSelector)
  console.log(`${how}: controllers ${controllers.map((p) => `${p.metadata.name}@${p.spec.nodeName}`).join(", ")}; speakers ${speakers.map((p) => `${p.metadata.name}@${p.spec.nodeName}`).join(", ")}`)
  expect(controllers).toHaveLength(2)
  expect(speakers.map((p) => p.spec.nodeName).sort()).toEqual(cluster.nodes.map((n) => n.name).sort())
  const bad = refusal(() => cluster.kubectl(["apply", "-f", "-"], JSON.stringify({
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name: "bad", namespace: metallbNamespace },
    spec: { addresses: ["not-an-address"] },
  })))
  expect(bad).toContain("denied the request")
  expect(bad).toContain("not-an-address")
  await applyWithWebhook(cluster.kubectl, clusterConfigYaml(cluster.plan))
  cluster.kubectl(["apply", "-f", "-"], lbServiceYaml({ name: "install-lb", app: "web-install", pool: "l2", families: "dual" }))
  const [v4, v6] = await waitIngress(cluster.kubectl, "install-lb", 2)
  const table = await (async () => {
    for (let i = 0; i < 50; i++) {
      const out = cluster.kubectl(["get", "ipaddresspools", "-n", metallbNamespace])
      if (/^l2\s.*\s1\s+15\s+1\s+15\s*$/m.test(out)) return out
      await new Promise((r) => setTimeout(r, 200))
    }
    return cluster.kubectl(["get", "ipaddresspools", "-n", metallbNamespace])
  })()
  console.log(`${how}: install-lb got ${v4}, ${v6}\n${table}`)
  // 16 addresses per family in pool l2, one of each assigned.
  expect(table).toMatch(/ASSIGNED IPV4\s+AVAILABLE IPV4\s+ASSIGNED IPV6\s+AVAILABLE IPV6/)
  expect(table).toMatch(/^l2\s.*\s1\s+15\s+1\s+15\s*$/m)
  cluster.kubectl(["delete", "service", "install-lb", "--wait=true"])
}

/** Helm: installed, checked and uninstalled; then the kustomize install, checked, which the later suites use. */
export const installSuites = (cluster: () => SharedCluster): void => {
  describe("installs (Helm, kustomize)", () => {
    beforeAll(async () => {
      cluster().kubectl(["apply", "-f", "-"], webDeploymentYaml("web-install", { replicas: 2 }))
      await waitRollout(cluster().kubectl, "deployment/web-install", "default", "app=web-install", cluster().kubeletTail)
    }, 300_000)
    afterAll(() => {
      cluster().kubectl(["delete", "deployment/web-install", "service/install-lb", "--ignore-not-found"])
    })

    it("Helm: installs, validates, reports usage and uninstalls cleanly", async () => {
      await removeMetallb(cluster())
      const started = performance.now()
      await installHelm(cluster().kubectl, cluster().kubeconfig, cluster().kubeletTail)
      console.log(`helm: rolled out in ${((performance.now() - started) / 1000).toFixed(1)} s`)
      await checkInstalled(cluster(), "helm")
      deleteConfig(cluster().kubectl)
      uninstallHelm(cluster().kubeconfig)
      expect(await leftoversAfterUninstall(cluster())).toEqual([])
    }, 600_000)

    it("kustomize: installs, validates and reports usage (uninstalled at the end of the run)", async () => {
      await removeMetallb(cluster())
      const started = performance.now()
      await installKustomize(cluster().kubectl, cluster().kubeletTail)
      console.log(`kustomize: rolled out in ${((performance.now() - started) / 1000).toFixed(1)} s`)
      await checkInstalled(cluster(), "kustomize")
    }, 600_000)
  })
}

/** The kustomize install (the one the suites used, or a fresh one if they failed) uninstalls cleanly. */
export const uninstallSuite = (cluster: () => SharedCluster): void => {
  describe("uninstall (kustomize)", () => {
    it("kustomize: uninstalls cleanly", async () => {
      const installed = cluster().kubectl(["get", "daemonset/speaker", "-n", metallbNamespace, "-o", "name", "--ignore-not-found"]).trim() !== ""
      if (!installed) await installKustomize(cluster().kubectl, cluster().kubeletTail)
      deleteConfig(cluster().kubectl)
      uninstallKustomize(cluster().kubectl)
      expect(await leftoversAfterUninstall(cluster())).toEqual([])
    }, 600_000)
  })
}
