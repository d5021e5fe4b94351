// Every manifest parses, and the objects fit together without a cluster: names referenced (ports,
// Services, ServiceAccounts, Roles, Secrets, ConfigMaps, CRD plurals) exist; the hardening the issue
// asks for is there (non-root read-only controller, host-network speaker with NET_RAW and
// NET_BIND_SERVICE only); RBAC has no wildcards and no ClusterRole touches Secrets; the webhook covers
// every configuration kind.
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { webhookService } from "../../shell/main/crds.ts"
import { type Container, filesUnder, find, firstContainer, type K8sObject, podSpec, readYaml, repoRoot } from "./support.ts"

type Json = Record<string, unknown>

const manifestFiles = filesUnder("manifests", (name) => name.endsWith(".yaml"))
  .filter((path) => !path.includes("/templates/"))
const notObjects = new Set(["kustomization.yaml", "Chart.yaml", "values.yaml"])
const baseFiles = filesUnder("manifests/base", (name) => name.endsWith(".yaml") && name !== "kustomization.yaml")
const base: Array<K8sObject> = baseFiles.flatMap(readYaml)
const overlay: Array<K8sObject> = readYaml("manifests/overlays/prometheus/monitoring.yaml")

const controller = find(base, "Deployment", "controller")
const speaker = find(base, "DaemonSet", "speaker")
const podLabels = (workload: K8sObject) => (((workload["spec"] as Json)["template"] as Json)["metadata"] as Json)["labels"] as Record<string, string>
const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v)
const argValue = (container: Container, flag: string) => container.args?.find((a) => a.startsWith(`--${flag}=`))?.slice(flag.length + 3)

describe("manifest files", () => {
  it("finds the manifests", () => {
    expect(manifestFiles.length).toBeGreaterThan(25)
  })

  it.each(manifestFiles)("%s parses, and each object has apiVersion, kind and a name", (path) => {
    const documents = readYaml(path)
    expect(documents.length).toBeGreaterThan(0)
    if (notObjects.has(path.split("/").pop()!)) return
    for (const o of documents) {
      expect(o.apiVersion, path).toMatch(/\S/)
      expect(o.kind, path).toMatch(/^[A-Z]/)
      expect(o.metadata.name, path).toMatch(/\S/)
    }
  })

  it.each(filesUnder("manifests", (name) => name === "kustomization.yaml"))("%s names resources that exist", (path) => {
    const [kustomization] = readYaml(path)
    for (const resource of (kustomization?.["resources"] as Array<string>) ?? []) {
      expect(existsSync(join(repoRoot, dirname(path), resource)), resource).toBe(true)
    }
  })

  it("the base has no duplicate objects and keeps manifests/namespace.yaml working", () => {
    const keys = base.map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`)
    expect(new Set(keys).size).toBe(keys.length)
    expect(readYaml("manifests/namespace.yaml")).toEqual(readYaml("manifests/base/namespace.yaml"))
    expect(find(base, "Namespace", "metallb-system").metadata.labels?.["pod-security.kubernetes.io/enforce"]).toBe("privileged")
  })
})

describe("controller Deployment", () => {
  const pod = podSpec(controller)
  const container = firstContainer(controller)

  it("runs two replicas, rolled without ever dropping below two webhook servers", () => {
    expect((controller["spec"] as Json)["replicas"]).toBe(2)
    expect(((controller["spec"] as Json)["strategy"] as Json)["rollingUpdate"]).toEqual({ maxUnavailable: 0, maxSurge: 1 })
  })

  it("is non-root with a read-only root filesystem, all capabilities dropped, no privilege escalation, RuntimeDefault seccomp", () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } })
    expect(pod.securityContext?.["runAsUser"]).not.toBe(0)
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } })
    expect(pod.hostNetwork).toBeUndefined()
  })

  it("serves webhooks on 9443, metrics on 9120 and health on 17472, probed by name", () => {
    expect(container.ports?.map((p) => [p.name, p.containerPort])).toEqual([["webhook", 9443], ["metrics", 9120], ["health", 17472]])
    expect(argValue(container, "webhook-port")).toBe("9443")
    expect(argValue(container, "metrics-port")).toBe("9120")
    expect(argValue(container, "health-port")).toBe("17472")
    expect(container.livenessProbe).toMatchObject({ httpGet: { path: "/healthz", port: "health" } })
    expect(container.readinessProbe).toMatchObject({ httpGet: { path: "/readyz", port: "health" } })
  })
})

describe("speaker DaemonSet", () => {
  const pod = podSpec(speaker)
  const container = firstContainer(speaker)

  it("uses the host network with NET_RAW and NET_BIND_SERVICE (BGP listens on 179) as its only capabilities, read-only, no privilege escalation", () => {
    expect(pod.hostNetwork).toBe(true)
    expect(pod.dnsPolicy).toBe("ClusterFirstWithHostNet")
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"], add: ["NET_RAW", "NET_BIND_SERVICE"] },
    })
    expect(container.securityContext?.["privileged"]).toBeUndefined()
  })

  it("rolls with a surge pod beside the old one (the same-node hand-over), so declares no ports (hostPorts) and probes health by number", () => {
    expect(((speaker["spec"] as Json)["updateStrategy"] as Json)["rollingUpdate"]).toEqual({ maxSurge: 1, maxUnavailable: 0 })
    expect(container.ports).toBeUndefined()
    expect(argValue(container, "health-port")).toBe("17472")
    expect(container.livenessProbe).toMatchObject({ httpGet: { path: "/healthz", port: 17472 } })
    expect(container.readinessProbe).toMatchObject({ httpGet: { path: "/readyz", port: 17472 } })
    // Started only once this pod's own speaker took over: the health port may still be the old pod's.
    const startedFile = argValue(container, "started-file")
    expect(startedFile).toMatch(/^\/tmp\//)
    expect(container.volumeMounts?.some((m) => m.mountPath === "/tmp")).toBe(true)
    expect(JSON.stringify(container.startupProbe?.["exec"])).toContain(startedFile)
  })

  it("uses memberlist port 7946 and reads its key and the excluded interfaces from mounted volumes", () => {
    expect(argValue(container, "memberlist-port")).toBe("7946")
    const mountOf = (file: string | undefined) => container.volumeMounts?.find((m) => file?.startsWith(`${m.mountPath}/`))
    const keyMount = mountOf(argValue(container, "memberlist-key-file"))
    const excludeMount = mountOf(argValue(container, "excludel2-file"))
    const volume = (name: string | undefined) => pod.volumes?.find((v) => v.name === name)
    expect(volume(keyMount?.name)?.["secret"]).toMatchObject({ secretName: "memberlist" })
    expect(volume(excludeMount?.name)?.["configMap"]).toMatchObject({ name: "metallb-excludel2" })
    find(base, "ConfigMap", "metallb-excludel2")
  })

  it("tolerates control-plane nodes", () => {
    expect(pod.tolerations).toContainEqual({ key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" })
  })

  it("finds the other speakers by the labels its pods carry", () => {
    const labels = Object.fromEntries((argValue(container, "memberlist-labels") ?? "").split(",").map((kv) => kv.split("=")))
    expect(selects(labels, podLabels(speaker))).toBe(true)
  })
})

describe("wiring", () => {
  it("every workload's ServiceAccount exists and is bound; every binding's role exists", () => {
    for (const workload of [controller, speaker]) {
      const account = podSpec(workload).serviceAccountName
      find(base, "ServiceAccount", account!)
      const bindings = base.filter((o) => o.kind.endsWith("Binding") && (o["subjects"] as Array<Json>).some((s) => s["name"] === account))
      expect(bindings.map((b) => b.kind).sort()).toEqual(["ClusterRoleBinding", "RoleBinding"])
    }
    for (const binding of [...base, ...overlay].filter((o) => o.kind.endsWith("Binding"))) {
      const ref = binding["roleRef"] as { kind: string; name: string }
      find([...base, ...overlay], ref.kind, ref.name)
    }
  })

  it("RBAC has no wildcards, no ClusterRole touches Secrets, and names only metallb.io resources that exist", () => {
    const plurals = base.filter((o) => o.kind === "CustomResourceDefinition").map((o) => ((o["spec"] as Json)["names"] as Json)["plural"])
    for (const role of [...base, ...overlay].filter((o) => o.kind === "Role" || o.kind === "ClusterRole")) {
      for (const rule of role["rules"] as Array<Record<string, Array<string>>>) {
        for (const list of Object.values(rule)) expect(list, role.metadata.name).not.toContain("*")
        if (role.kind === "ClusterRole") expect(rule["resources"] ?? [], role.metadata.name).not.toContain("secrets")
        if (rule["apiGroups"]?.includes("metallb.io")) {
          for (const resource of rule["resources"] ?? []) expect(plurals, resource).toContain(resource.replace(/\/status$/, ""))
        }
      }
    }
  })

  it("the webhook Service reaches the controller's webhook port, and the CRD conversion uses it", () => {
    const service = find(base, "Service", webhookService.name)
    const spec = service["spec"] as { selector: Record<string, string>; ports: Array<Json> }
    expect(selects(spec.selector, podLabels(controller))).toBe(true)
    expect(spec.ports).toEqual([{ name: "webhook", port: webhookService.port, targetPort: "webhook" }])
    expect(service.metadata.namespace).toBe(webhookService.namespace)
  })

  it("the validating webhook covers create and update of every configuration kind (BFDProfile: create and delete), failing closed", () => {
    const configuration = find(base, "ValidatingWebhookConfiguration", "metallb-webhook-configuration")
    const crds = base.filter((o) => o.kind === "CustomResourceDefinition").map((o) => o["spec"] as { names: { plural: string; kind: string }; versions: Array<{ name: string; storage: boolean }> })
    const covered = (configuration["webhooks"] as Array<Json>).map((webhook) => {
      expect(webhook).toMatchObject({ failurePolicy: "Fail", sideEffects: "None", admissionReviewVersions: ["v1"], matchPolicy: "Equivalent" })
      const [rule] = webhook["rules"] as Array<{ resources: Array<string>; apiVersions: Array<string>; operations: Array<string> }>
      const crd = crds.find((c) => c.names.plural === rule?.resources[0])!
      const storage = crd.versions.find((v) => v.storage)!.name
      expect(rule?.apiVersions).toEqual([storage])
      expect((webhook["clientConfig"] as { service: Json }).service).toEqual({
        name: webhookService.name,
        namespace: webhookService.namespace,
        path: `/validate-metallb-io-${storage}-${crd.names.kind.toLowerCase()}`,
      })
      return `${crd.names.kind} ${rule?.operations.join(",")}`
    })
    expect(covered.sort()).toEqual([
      "BFDProfile CREATE,DELETE", "BGPAdvertisement CREATE,UPDATE", "BGPPeer CREATE,UPDATE", "Community CREATE,UPDATE",
      "IPAddressPool CREATE,UPDATE", "L2Advertisement CREATE,UPDATE",
    ])
  })

  it("the excluded-interface patterns are regular expressions that spare ordinary NICs", () => {
    const data = (find(base, "ConfigMap", "metallb-excludel2")["data"] as Record<string, string>)["excludel2.yaml"]!
    const patterns = (parse(data) as { announcedInterfacesToExclude: Array<string> }).announcedInterfacesToExclude.map((p) => new RegExp(p))
    const excluded = (name: string) => patterns.some((p) => p.test(name))
    for (const name of ["docker0", "veth12ab", "lo", "cali123", "flannel.1", "kube-ipvs0", "cni0", "vxlan.calico"]) expect(excluded(name), name).toBe(true)
    for (const name of ["eth0", "ens3", "bond0", "enp1s0f0", "br-lan", "lo0x", "vlan10"]) expect(excluded(name), name).toBe(false)
  })

  it("the Prometheus overlay's ServiceMonitors select its Services, which target the pods' metrics port (the speaker's by number)", () => {
    for (const monitor of overlay.filter((o) => o.kind === "ServiceMonitor")) {
      const selector = ((monitor["spec"] as Json)["selector"] as Json)["matchLabels"] as Record<string, string>
      const service = overlay.find((o) => o.kind === "Service" && selects(selector, o.metadata.labels ?? {}))!
      const podSelector = (service["spec"] as Json)["selector"] as Record<string, string>
      const workload = [controller, speaker].find((w) => selects(podSelector, podLabels(w)))!
      const target = (((service["spec"] as Json)["ports"] as Array<Json>)[0] as Json)["targetPort"]
      const container = firstContainer(workload)
      if (typeof target === "number") expect(argValue(container, "metrics-port")).toBe(String(target))
      else expect(container.ports?.find((p) => p.name === target)?.containerPort).toBe(Number(argValue(container, "metrics-port")))
    }
  })
})
