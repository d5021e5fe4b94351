// The kustomize base and the Prometheus overlay in a real kube-apiserver with RBAC: `kubectl apply
// --server-side -k manifests/` succeeds and every CRD becomes Established; the ServiceAccounts can do
// what the controller and the speaker need and nothing more (no Secret outside metallb-system); the
// admission webhook is really in the write path (failurePolicy Fail: refused while no controller
// serves it); the controller's pod passes the "restricted" Pod Security level and the speaker's
// needs the namespace's "privileged" label.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ApiServer, apiServerSkipReason, startApiServer } from "../support/apiserver.ts"
import { skipUnlessCi } from "../support/skip.ts"
import { find, type K8sObject, kubectlAsync, kustomize, podSpec, type RunResult } from "./support.ts"

const controllerSa = "system:serviceaccount:metallb-system:controller"
const speakerSa = "system:serviceaccount:metallb-system:speaker"

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("kustomize manifests in a real kube-apiserver", () => {
  let api: ApiServer
  let kubectl: (args: ReadonlyArray<string>, input?: string) => Promise<RunResult>
  let applied: RunResult
  const objects = (): Array<K8sObject> => kustomize("manifests/")

  beforeAll(async () => {
    api = await startApiServer({ extraArgs: ["--enable-aggregator-routing=true"] })
    kubectl = kubectlAsync(api.kubeConfigPath)
    applied = await kubectl(["apply", "--server-side", "-k", "manifests/"])
  })
  afterAll(async () => {
    await api?.stop()
  })

  it("`kubectl apply --server-side -k manifests/` creates every object, and every CRD becomes Established", async () => {
    expect(applied.ok, applied.output).toBe(true)
    for (const o of objects()) {
      const group = o.apiVersion.includes("/") ? `.${o.apiVersion.split("/")[0]}` : ""
      expect(applied.stdout).toContain(`${o.kind.toLowerCase()}${group}/${o.metadata.name} serverside-applied`)
    }
    const crds = objects().filter((o) => o.kind === "CustomResourceDefinition").map((o) => `crd/${o.metadata.name}`)
    expect(crds).toHaveLength(10)
    const established = await kubectl(["wait", "--for=condition=Established", "--timeout=30s", ...crds])
    expect(established.ok, established.output).toBe(true)
  })

  it("applying again changes nothing and conflicts with nothing", async () => {
    const again = await kubectl(["apply", "--server-side", "-k", "manifests/"])
    expect(again.ok, again.output).toBe(true)
    const diff = await kubectl(["diff", "--server-side", "-k", "manifests/"])
    expect(diff.output).toBe("") // exit 0 and no output: the cluster matches the manifests
  })

  const can = async (user: string, args: ReadonlyArray<string>): Promise<boolean> => {
    const result = await kubectl(["auth", "can-i", ...args, `--as=${user}`])
    return result.stdout.trim() === "yes"
  }

  it.each([
    // controller
    [controllerSa, "get services --all-namespaces", true],
    [controllerSa, "update services -n default --subresource=status", true],
    [controllerSa, "update services -n default", false],
    [controllerSa, "delete services -n default", false],
    [controllerSa, "list namespaces", true],
    [controllerSa, "create events.events.k8s.io -n default", true],
    [controllerSa, "list secrets -n metallb-system", true],
    [controllerSa, "create secrets -n metallb-system", true],
    [controllerSa, "update secrets/memberlist -n metallb-system", true],
    [controllerSa, "update secrets/metallb-webhook-cert -n metallb-system", true],
    [controllerSa, "update secrets/tor-password -n metallb-system", false],
    [controllerSa, "create leases.coordination.k8s.io -n metallb-system", true],
    [controllerSa, "update leases.coordination.k8s.io/metallb-ts-controller -n metallb-system", true],
    [controllerSa, "update leases.coordination.k8s.io/other -n metallb-system", false],
    [controllerSa, "update validatingwebhookconfigurations/metallb-webhook-configuration", true],
    [controllerSa, "update validatingwebhookconfigurations/someone-elses", false],
    [controllerSa, "patch customresourcedefinitions/bgppeers.metallb.io", true],
    [controllerSa, "patch customresourcedefinitions/ipaddresspools.metallb.io", false],
    [controllerSa, "watch ipaddresspools.metallb.io -n metallb-system", true],
    [controllerSa, "patch ipaddresspools.metallb.io -n metallb-system --subresource=status", true],
    [controllerSa, "update ipaddresspools.metallb.io -n metallb-system", false],
    [controllerSa, "create configurationstates.metallb.io -n metallb-system", true],
    [controllerSa, "create pods -n metallb-system", false],
    [controllerSa, "create tokenreviews.authentication.k8s.io", true],
    // speaker
    [speakerSa, "watch services --all-namespaces", true],
    [speakerSa, "watch endpointslices.discovery.k8s.io --all-namespaces", true],
    [speakerSa, "list nodes", true],
    [speakerSa, "update nodes", false],
    [speakerSa, "update services -n default --subresource=status", false],
    [speakerSa, "list pods -n metallb-system", true],
    [speakerSa, "list pods --all-namespaces", false],
    [speakerSa, "get secrets -n metallb-system", true],
    [speakerSa, "create secrets -n metallb-system", false],
    [speakerSa, "create servicel2statuses.metallb.io -n metallb-system", true],
    [speakerSa, "patch servicebgpstatuses.metallb.io -n metallb-system --subresource=status", true],
    [speakerSa, "create servicel2statuses.metallb.io -n default", false],
    [speakerSa, "create bgpsessionstates.frrk8s.metallb.io -n metallb-system", true],
    [speakerSa, "delete bgpsessionstates.frrk8s.metallb.io -n metallb-system", true],
    [speakerSa, "patch bgpsessionstates.frrk8s.metallb.io -n metallb-system --subresource=status", true],
    [speakerSa, "create bgpsessionstates.frrk8s.metallb.io -n default", false],
    [speakerSa, "list bgppeers.metallb.io -n metallb-system", true],
    [speakerSa, "update bgppeers.metallb.io -n metallb-system", false],
    [speakerSa, "create leases.coordination.k8s.io -n metallb-system", false],
  ])("%s: can-i %s -> %s", async (user, args, expected) => {
    expect(await can(user, args.split(" "))).toBe(expected)
  })

  it.each([controllerSa, speakerSa])("%s reads no Secret outside metallb-system", async (user) => {
    for (const verb of ["get", "list", "watch"]) {
      expect(await can(user, [verb, "secrets", "--all-namespaces"]), verb).toBe(false)
      expect(await can(user, [verb, "secrets", "-n", "kube-system"]), verb).toBe(false)
      expect(await can(user, [verb, "secrets", "-n", "default"]), verb).toBe(false)
    }
  })

  it("puts the validating webhook in the write path: with no controller serving it, a pool is refused (failurePolicy Fail)", async () => {
    const pool = { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: "p", namespace: "metallb-system" }, spec: { addresses: ["192.0.2.0/24"] } }
    const result = await kubectl(["apply", "--server-side", "-f", "-"], JSON.stringify(pool))
    expect(result.ok).toBe(false)
    expect(result.output).toContain('failed calling webhook "ipaddresspoolvalidationwebhook.metallb.io"')
    expect(result.output).toContain("metallb-webhook-service")
  })

  /** A Pod made from a workload's template, as its controller would create it. */
  const podFrom = (workload: K8sObject, namespace: string) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `${workload.metadata.name}-check`, namespace },
    spec: { ...podSpec(workload), serviceAccountName: "default", automountServiceAccountToken: false },
  })
  // There is no controller-manager to create the namespaces' default ServiceAccounts.
  const namespaceAt = async (name: string, level: string) =>
    kubectl(["apply", "--server-side", "-f", "-"], [
      { apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { "pod-security.kubernetes.io/enforce": level } } },
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace: name } },
    ].map((o) => JSON.stringify(o)).join("\n---\n"))

  it("the controller's pod passes the restricted Pod Security level", async () => {
    await namespaceAt("restricted-check", "restricted")
    const result = await kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(podFrom(find(objects(), "Deployment", "controller"), "restricted-check")))
    expect(result.ok, result.output).toBe(true)
  })

  it("the speaker's pod needs the privileged level (host network, NET_RAW) and gets it in metallb-system", async () => {
    await namespaceAt("baseline-check", "baseline")
    const speaker = find(objects(), "DaemonSet", "speaker")
    const refused = await kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(podFrom(speaker, "baseline-check")))
    expect(refused.ok).toBe(false)
    expect(refused.output).toContain("violates PodSecurity")
    expect(refused.output).toContain("hostNetwork")
    await kubectl(["create", "serviceaccount", "default", "-n", "metallb-system"])
    const accepted = await kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(podFrom(speaker, "metallb-system")))
    expect(accepted.ok, accepted.output).toBe(true)
  })

  it("the Prometheus overlay applies on top (with the Prometheus Operator's ServiceMonitor kind present) and lets Prometheus scrape", async () => {
    // A stand-in for the operator's CRD: the overlay's objects only need the kind to exist.
    const serviceMonitorCrd = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "servicemonitors.monitoring.coreos.com" },
      spec: {
        group: "monitoring.coreos.com",
        names: { kind: "ServiceMonitor", listKind: "ServiceMonitorList", plural: "servicemonitors", singular: "servicemonitor" },
        scope: "Namespaced",
        versions: [{ name: "v1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } } }],
      },
    }
    expect((await kubectl(["apply", "--server-side", "-f", "-"], JSON.stringify(serviceMonitorCrd))).ok).toBe(true)
    await kubectl(["wait", "--for=condition=Established", "--timeout=30s", "crd/servicemonitors.monitoring.coreos.com"])
    const overlay = await kubectl(["apply", "--server-side", "-k", "manifests/overlays/prometheus"])
    expect(overlay.ok, overlay.output).toBe(true)
    const monitors = JSON.parse((await kubectl(["get", "servicemonitors", "-n", "metallb-system", "-o", "json"])).stdout)
    expect(monitors.items.map((m: K8sObject) => m.metadata.name).sort()).toEqual(["controller-monitor", "speaker-monitor"])
    expect(await can("system:serviceaccount:monitoring:prometheus-k8s", ["get", "/metrics"])).toBe(true)
    expect(await can("system:serviceaccount:monitoring:prometheus-k8s", ["list", "endpointslices.discovery.k8s.io", "-n", "metallb-system"])).toBe(true)
    expect(await can("system:serviceaccount:monitoring:other", ["get", "/metrics"])).toBe(false)
  })
})
