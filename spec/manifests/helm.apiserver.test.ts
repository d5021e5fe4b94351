// The Helm chart: it lints; with default values it renders the very objects the kustomize base has
// (Helm's labels aside), so the two install paths cannot drift; each value users expect changes what it
// should; and a rendering into another namespace, with ServiceMonitors, applies to a real kube-apiserver,
// its CRDs become Established and its RBAC follows the namespace.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { crds } from "../../shell/main/crds.ts"
import { type ApiServer, apiServerSkipReason, kubeVersion, startApiServer } from "../support/apiserver.ts"
import { skipUnlessCi } from "../support/skip.ts"
import {
  chartDir, find, firstContainer, helmPath, helmTemplate, type K8sObject, kubectlAsync, kustomize, objectKey, podSpec, run, type RunResult,
  toolsSkipReason,
} from "./support.ts"

type Json = Record<string, unknown>

/** An object without what only says who rendered it (labels, annotations). */
const normalise = (o: K8sObject): Json => {
  const { labels: _labels, annotations: _annotations, ...metadata } = o.metadata
  const copy = JSON.parse(JSON.stringify({ ...o, metadata })) as Json
  const template = (copy["spec"] as Json | undefined)?.["template"] as Json | undefined
  if (template !== undefined) template["metadata"] = {}
  return copy
}

const template = (...values: Array<string>) =>
  helmTemplate(["--namespace", "metallb-system", "--kube-version", kubeVersion(), ...values.flatMap((v) => ["--set", v])])

describe.skipIf(skipUnlessCi(toolsSkipReason()))("Helm chart", () => {
  it("passes helm lint --strict", () => {
    const lint = run(helmPath(), ["lint", "--strict", chartDir, "--kube-version", kubeVersion()])
    expect(lint.ok, lint.output).toBe(true)
  })

  it("renders with default values exactly the kustomize base's objects (all but the Namespace, which Helm does not own)", () => {
    const rendered = template()
    const base = kustomize("manifests/").filter((o) => o.kind !== "Namespace")
    expect(rendered.map(objectKey).sort()).toEqual(base.map(objectKey).sort())
    for (const object of base) {
      const twin = rendered.find((r) => objectKey(r) === objectKey(object))!
      expect(normalise(twin), objectKey(object)).toEqual(normalise(object))
    }
  })

  it("renders the CRDs generated from core, keeps them on uninstall, and points BGPPeer conversion at the release namespace", () => {
    const rendered = helmTemplate(["--namespace", "lb"]).filter((o) => o.kind === "CustomResourceDefinition")
    expect(rendered.map((c) => c.metadata.name).sort()).toEqual(crds().map(({ crd }) => (crd["metadata"] as Json)["name"]).sort())
    for (const crd of rendered) {
      expect(crd.metadata.annotations).toEqual({ "helm.sh/resource-policy": "keep" })
      const generated = crds().find(({ crd: c }) => (c["metadata"] as Json)["name"] === crd.metadata.name)!.crd
      const expected = JSON.parse(JSON.stringify(generated["spec"])) as Json
      const conversion = expected["conversion"] as { webhook: { clientConfig: { service: Json } } } | undefined
      if (conversion !== undefined) conversion.webhook.clientConfig.service["namespace"] = "lb"
      expect(crd["spec"], crd.metadata.name).toEqual(expected)
    }
    expect(template("crds.enabled=false").filter((o) => o.kind === "CustomResourceDefinition")).toEqual([])
    expect(template("crds.keep=false").find((o) => o.kind === "CustomResourceDefinition")?.metadata.annotations).toBeUndefined()
  })

  it("image, lb class, log levels and controller replicas", () => {
    const rendered = template("image.repository=registry.example/metallb-ts", "image.tag=1.2.3", "loadBalancerClass=example.com/lb",
      "controller.logLevel=debug", "speaker.logLevel=warn", "controller.replicas=3")
    const controller = find(rendered, "Deployment", "controller")
    const speaker = find(rendered, "DaemonSet", "speaker")
    expect((controller["spec"] as Json)["replicas"]).toBe(3)
    for (const workload of [controller, speaker]) {
      expect(firstContainer(workload).image).toBe("registry.example/metallb-ts:1.2.3")
      expect(firstContainer(workload).args).toContain("--lb-class=example.com/lb")
    }
    expect(firstContainer(controller).args).toContain("--log-level=debug")
    expect(firstContainer(speaker).args).toContain("--log-level=warn")
  })

  it("speaker tolerations and nodeSelector", () => {
    const defaults = podSpec(find(template(), "DaemonSet", "speaker"))
    expect(defaults.tolerations?.map((t) => t["key"])).toEqual(["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"])
    const custom = podSpec(find(template("speaker.tolerateMaster=false", "speaker.tolerations[0].key=dedicated",
      "speaker.tolerations[0].operator=Equal", "speaker.tolerations[0].value=lb", "speaker.tolerations[0].effect=NoSchedule",
      "speaker.nodeSelector.role=edge"), "DaemonSet", "speaker"))
    expect(custom.tolerations).toEqual([{ key: "dedicated", operator: "Equal", value: "lb", effect: "NoSchedule" }])
    expect(custom.nodeSelector).toEqual({ "kubernetes.io/os": "linux", role: "edge" })
  })

  it("memberlist off removes its port, address, key and Secret from both processes", () => {
    const rendered = template("speaker.memberlist.enabled=false")
    const speaker = firstContainer(find(rendered, "DaemonSet", "speaker"))
    expect(speaker.args?.some((a) => a.startsWith("--memberlist"))).toBe(false)
    expect(speaker.env?.map((e) => e["name"])).not.toContain("METALLB_ML_BIND_ADDR")
    expect(podSpec(find(rendered, "DaemonSet", "speaker")).volumes?.map((v) => v.name)).toEqual(["excludel2", "tmp"])
    expect(firstContainer(find(rendered, "Deployment", "controller")).args).not.toContain("--memberlist-secret-name=memberlist")
    const moved = firstContainer(find(template("speaker.memberlist.port=7947"), "DaemonSet", "speaker"))
    expect(moved.args).toContain("--memberlist-port=7947")
  })

  it("metrics: a ServiceMonitor per process, the same objects the Prometheus overlay adds", () => {
    const rendered = template("prometheus.serviceMonitor.enabled=true")
    const overlay = kustomize("manifests/overlays/prometheus").filter((o) => o.kind !== "Namespace")
    expect(rendered.map(objectKey).sort()).toEqual(overlay.map(objectKey).sort())
    for (const object of overlay) {
      const twin = rendered.find((r) => objectKey(r) === objectKey(object))!
      expect(normalise(twin), objectKey(object)).toEqual(normalise(object))
    }
    const custom = template("prometheus.serviceMonitor.enabled=true", "prometheus.metricsPort=9200", "prometheus.serviceMonitor.interval=10s",
      "prometheus.serviceMonitor.additionalLabels.release=kube-prometheus")
    const monitor = find(custom, "ServiceMonitor", "speaker-monitor")
    expect(monitor.metadata.labels?.["release"]).toBe("kube-prometheus")
    expect(((monitor["spec"] as Json)["endpoints"] as Array<Json>)[0]?.["interval"]).toBe("10s")
    expect(firstContainer(find(custom, "DaemonSet", "speaker")).args).toContain("--metrics-port=9200")
    expect(template().some((o) => o.kind === "ServiceMonitor")).toBe(false)
  })
})

describe.skipIf(skipUnlessCi(toolsSkipReason() ?? apiServerSkipReason()))("Helm chart in a real kube-apiserver", () => {
  let api: ApiServer
  let kubectl: (args: ReadonlyArray<string>, input?: string) => Promise<RunResult>
  let rendered: Array<K8sObject>

  beforeAll(async () => {
    api = await startApiServer({ extraArgs: ["--enable-aggregator-routing=true"] })
    kubectl = kubectlAsync(api.kubeConfigPath)
    rendered = helmTemplate(["--namespace", "lb", "--kube-version", kubeVersion(), "--set", "prometheus.serviceMonitor.enabled=true"])
  })
  afterAll(async () => {
    await api?.stop()
  })

  it("the rendered objects apply server-side in namespace lb and every CRD becomes Established", async () => {
    const setup = await kubectl(["apply", "--server-side", "-f", "-"], [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "lb", labels: { "pod-security.kubernetes.io/enforce": "privileged" } } },
      {
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: { name: "servicemonitors.monitoring.coreos.com" },
        spec: {
          group: "monitoring.coreos.com",
          names: { kind: "ServiceMonitor", listKind: "ServiceMonitorList", plural: "servicemonitors", singular: "servicemonitor" },
          scope: "Namespaced",
          versions: [{ name: "v1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } } }],
        },
      },
    ].map((o) => JSON.stringify(o)).join("\n---\n"))
    expect(setup.ok, setup.output).toBe(true)
    await kubectl(["wait", "--for=condition=Established", "--timeout=30s", "crd/servicemonitors.monitoring.coreos.com"])
    // CRDs first, as Helm installs them: the objects of their kinds need them.
    const applied = await kubectl(["apply", "--server-side", "-f", "-"], rendered.map((o) => JSON.stringify(o)).join("\n---\n"))
    expect(applied.ok, applied.output).toBe(true)
    expect(applied.stdout.trim().split("\n")).toHaveLength(rendered.length)
    const established = await kubectl(["wait", "--for=condition=Established", "--timeout=30s",
      ...rendered.filter((o) => o.kind === "CustomResourceDefinition").map((o) => `crd/${o.metadata.name}`)])
    expect(established.ok, established.output).toBe(true)
  })

  it("RBAC follows the release namespace", async () => {
    const can = async (user: string, args: ReadonlyArray<string>) =>
      (await kubectl(["auth", "can-i", ...args, `--as=${user}`])).stdout.trim() === "yes"
    expect(await can("system:serviceaccount:lb:controller", ["list", "secrets", "-n", "lb"])).toBe(true)
    expect(await can("system:serviceaccount:lb:controller", ["list", "secrets", "-n", "metallb-system"])).toBe(false)
    expect(await can("system:serviceaccount:lb:speaker", ["create", "servicel2statuses.metallb.io", "-n", "lb"])).toBe(true)
    expect(await can("system:serviceaccount:lb:speaker", ["list", "nodes"])).toBe(true)
    expect(await can("system:serviceaccount:monitoring:prometheus-k8s", ["get", "/metrics"])).toBe(true)
  })

  it("the webhook configuration sends metallb.io writes to the release's webhook Service", async () => {
    const pool = { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: "p", namespace: "lb" }, spec: { addresses: ["192.0.2.0/24"] } }
    const result = await kubectl(["apply", "--server-side", "-f", "-"], JSON.stringify(pool))
    expect(result.ok).toBe(false)
    expect(result.output).toContain("metallb-webhook-service.lb.svc")
  })
})
