// The generated CRDs in a real kube-apiserver (no webhook running, as after a fresh install before the
// controller is up): they become Established; every valid configuration fixture applies and, read back
// with the CRDs' defaults, resolves in core to exactly the same configuration; the invalid fixtures
// whose errors a schema or a CEL rule can see are refused naming the same field core names, and the
// others apply (judging them is the webhook's job); immutability, defaults and printer columns hold.
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { resolve } from "../../core/config/resolve.ts"
import { type ApiServer, apiServerSkipReason, startApiServer } from "../support/apiserver.ts"
import { skipUnlessCi } from "../support/skip.ts"
import { type K8sObject, kubectlAsync, parseYaml, repoRoot, type RunResult } from "./support.ts"

const fixtureDir = "spec/fixtures/config"
const fixtures = readdirSync(join(repoRoot, fixtureDir)).filter((f) => f.endsWith(".yaml")).sort()

/** `# expect: Code Kind/name field` header lines of an invalid fixture, as "Kind/name field". */
const expectations = (text: string): Array<string> =>
  [...text.matchAll(/^# expect: \S+ (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`)

/** Invalid fixtures whose every error the CRDs catch (schema or CEL), and the partial one. */
const refusedByCrd: Record<string, ReadonlyArray<string> | "all"> = {
  "invalid-bfd-multiplier.yaml": "all",
  "invalid-bgp-aggregation-too-long.yaml": "all",
  "invalid-bgp-aggregation-v6-too-long.yaml": "all",
  "invalid-bgp-service-selectors-aggregation.yaml": "all",
  "invalid-l2-preferred-weight.yaml": "all",
  "invalid-peer-address-and-interface.yaml": "all",
  "invalid-peer-asn-and-dynamic.yaml": "all",
  "invalid-peer-bad-duration.yaml": "all",
  "invalid-peer-connect-time.yaml": "all",
  "invalid-peer-hold-time.yaml": "all",
  "invalid-peer-keepalive-above-hold.yaml": "all",
  "invalid-peer-multihop-ibgp.yaml": "all",
  "invalid-peer-no-asn.yaml": "all",
  "invalid-peer-password-and-secret.yaml": "all",
  "invalid-peer-port.yaml": "all",
  "invalid-peer-zero-asn.yaml": "all",
  "invalid-pool-empty.yaml": "all",
  "invalid-pool-unknown-field.yaml": "all",
  "invalid-pool-wrong-type.yaml": "all",
  // CIDR overlaps and bad CIDRs need the webhook; the peer and the advertisement do not.
  "invalid-many-errors-at-once.yaml": ["BGPPeer/p spec.myASN", "BGPPeer/p spec.holdTime", "BGPAdvertisement/ad spec.aggregationLength"],
}

const isClusterObject = (o: K8sObject): boolean => o.apiVersion.startsWith("metallb.io/") || (o.apiVersion === "v1" && o.kind === "Secret")
/** v1beta1 BGPPeers need the conversion webhook to be stored; they are tested on their own below. */
const needsConversion = (o: K8sObject): boolean => o.apiVersion === "metallb.io/v1beta1" && o.kind === "BGPPeer"

const toYaml = (objects: ReadonlyArray<unknown>): string => objects.map((o) => JSON.stringify(o)).join("\n---\n")

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("metallb.io CRDs in a real kube-apiserver", () => {
  let api: ApiServer
  let kubectl: (args: ReadonlyArray<string>, input?: string) => Promise<RunResult>
  const mustKubectl = async (args: ReadonlyArray<string>): Promise<string> => {
    const result = await kubectl(args)
    if (!result.ok) throw new Error(`kubectl ${args.join(" ")}:\n${result.output}`)
    return result.stdout
  }
  const apply = (objects: ReadonlyArray<unknown>, ...extra: Array<string>) => kubectl(["apply", "--server-side", "-f", "-", ...extra], toYaml(objects))
  const remove = async (objects: ReadonlyArray<K8sObject>) => {
    if (objects.length > 0) await kubectl(["delete", "--ignore-not-found", "--wait=false", "-f", "-"], toYaml(objects))
  }
  const ensureNamespaces = async (objects: ReadonlyArray<K8sObject>) => {
    const namespaces = [...new Set(objects.map((o) => o.metadata.namespace ?? "default"))]
    await apply(namespaces.map((name) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } })))
  }
  /** The part of kubectl's output about one object's refusal. */
  const refusalOf = (output: string, kind: string, name: string): string | undefined =>
    output.split(/(?=Error from server|The \w+ "[^"]+" is invalid)/).find((chunk) => chunk.includes(kind) && (chunk.includes(`"${name}"`) || chunk.includes(`/${name};`)))
  const peer = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: "metallb.io/v1beta2",
    kind: "BGPPeer",
    metadata: { name, namespace: "metallb-system" },
    spec: { myASN: 64500, peerASN: 64501, peerAddress: "192.0.2.1", ...spec },
  })

  beforeAll(async () => {
    // Webhook Services resolve through their endpoints: with none, a webhook call fails at once instead
    // of dialling a cluster IP that leads nowhere.
    api = await startApiServer({ extraArgs: ["--enable-aggregator-routing=true"] })
    kubectl = kubectlAsync(api.kubeConfigPath)
    await mustKubectl(["apply", "--server-side", "-f", "manifests/base/namespace.yaml"])
    await mustKubectl(["apply", "--server-side", "-k", "manifests/base/crds"])
  })
  afterAll(async () => {
    await api?.stop()
  })

  it("applies every CRD server-side and each becomes Established with the storage version core expects", async () => {
    const names = JSON.parse(await mustKubectl(["get", "crd", "-o", "json"])).items.map((c: K8sObject) => c.metadata.name).sort()
    expect(names).toEqual([
      "bfdprofiles.metallb.io", "bgpadvertisements.metallb.io", "bgppeers.metallb.io", "bgpsessionstates.frrk8s.metallb.io", "communities.metallb.io",
      "configurationstates.metallb.io", "ipaddresspools.metallb.io", "l2advertisements.metallb.io",
      "servicebgpstatuses.metallb.io", "servicel2statuses.metallb.io",
    ])
    await mustKubectl(["wait", "--for=condition=Established", "--timeout=30s", ...names.map((n: string) => `crd/${n}`)])
    const peers = JSON.parse(await mustKubectl(["get", "crd", "bgppeers.metallb.io", "-o", "json"]))
    expect(peers.status.storedVersions).toEqual(["v1beta2"])
  })

  describe("valid fixtures", () => {
    it.each(fixtures.filter((f) => f.startsWith("valid-")))("%s applies, and reads back to the same configuration in core", async (file) => {
      const text = readFileSync(join(repoRoot, fixtureDir, file), "utf8")
      const objects = parseYaml(text, file).filter(isClusterObject).filter((o) => !needsConversion(o))
      if (objects.length === 0) return
      try {
        const applied = await apply(objects)
        expect(applied.ok, applied.output).toBe(true)
        const readBack = await Promise.all(objects.map(async (o) => {
          const resource = o.apiVersion === "v1" ? "secret" : `${o.kind.toLowerCase()}.metallb.io`
          return JSON.parse(await mustKubectl(["get", resource, o.metadata.name, "-n", o.metadata.namespace ?? "default", "-o", "json"]))
        }))
        const before = resolve(objects.map((value) => ({ value })))
        const after = resolve(readBack.map((value) => ({ value })))
        expect(before._tag).toBe("Valid")
        expect(after).toEqual(before)
      } finally {
        await remove(objects)
      }
    })
  })

  describe("invalid fixtures", () => {
    it.each(fixtures.filter((f) => f.startsWith("invalid-")))("%s: the CRDs refuse exactly what they can see", async (file) => {
      const text = readFileSync(join(repoRoot, fixtureDir, file), "utf8")
      const objects = parseYaml(text, file).filter(isClusterObject).filter((o) => !needsConversion(o))
      await ensureNamespaces(objects)
      const expected = refusedByCrd[file]
      try {
        const applied = await apply(objects)
        if (expected === undefined) {
          expect(applied.ok, `only the webhook should judge ${file}, but the API server refused it:\n${applied.output}`).toBe(true)
          return
        }
        expect(applied.ok).toBe(false)
        for (const line of expected === "all" ? expectations(text) : expected) {
          const [ref, field] = line.split(" ") as [string, string]
          const [kind, name] = ref.split("/") as [string, string]
          expect(refusalOf(applied.output, kind, name), `${line} not refused:\n${applied.output}`).toContain(`${field}: `)
        }
      } finally {
        await remove(objects)
      }
    })
  })

  describe("schema bounds and CEL rules (server-side dry run)", () => {
    it.each([
      ["peerPort 0", peer("p", { peerPort: 0 }), false, "spec.peerPort"],
      ["peerPort 16384", peer("p", { peerPort: 16384 }), true, ""],
      ["peerASN and dynamicASN", peer("p", { dynamicASN: "external" }), false, "spec.dynamicASN"],
      ["peerASN 0 with dynamicASN", peer("p", { peerASN: 0, dynamicASN: "external" }), true, ""],
      ["neither peerASN nor dynamicASN", peer("p", { peerASN: undefined }), false, "spec.peerASN"],
      ["an unknown dynamicASN", peer("p", { peerASN: undefined, dynamicASN: "both" }), false, "spec.dynamicASN"],
      ["peerAddress and interface", peer("p", { interface: "eth0" }), false, "spec.interface"],
      ["interface alone", peer("p", { peerAddress: undefined, interface: "eth0" }), true, ""],
      ["an empty peerAddress and no interface", peer("p", { peerAddress: "" }), false, "spec.peerAddress"],
      ["ebgpMultiHop on iBGP", peer("p", { peerASN: 64500, ebgpMultiHop: true }), false, "spec.ebgpMultiHop"],
      ["ebgpMultiHop with dynamicASN internal", peer("p", { peerASN: undefined, dynamicASN: "internal", ebgpMultiHop: true }), false, "spec.ebgpMultiHop"],
      ["ebgpMultiHop on eBGP", peer("p", { ebgpMultiHop: true }), true, ""],
      ["password and passwordSecret", peer("p", { password: "a", passwordSecret: { name: "s" } }), false, "spec.passwordSecret"],
      ["password and an empty passwordSecret", peer("p", { password: "a", passwordSecret: {} }), true, ""],
      ["password and a passwordSecret with only a namespace (no Secret is read, as in MetalLB)", peer("p", { password: "a", passwordSecret: { namespace: "kube-system" } }), true, ""],
      ["holdTime 1m30s", peer("p", { holdTime: "1m30s" }), true, ""],
      ["holdTime 0s with keepaliveTime 0s", peer("p", { holdTime: "0s", keepaliveTime: "0s" }), true, ""],
      ["holdTime 2s", peer("p", { holdTime: "2s" }), false, "spec.holdTime"],
      ["holdTime 1500ms", peer("p", { holdTime: "1500ms" }), false, "spec.holdTime"],
      ["holdTime -90s", peer("p", { holdTime: "-90s" }), false, "spec.holdTime"],
      ["holdTime 65536s", peer("p", { holdTime: "65536s" }), false, "spec.holdTime"],
      ["holdTime ninety", peer("p", { holdTime: "ninety" }), false, "spec.holdTime"],
      ["keepaliveTime above holdTime", peer("p", { holdTime: "9s", keepaliveTime: "10s" }), false, "spec.keepaliveTime"],
      ["keepaliveTime alone", peer("p", { keepaliveTime: "30s" }), true, ""],
      ["keepaliveTime alone beyond 65535s / 3", peer("p", { keepaliveTime: "21846s" }), false, "spec.keepaliveTime"],
      ["connectTime 0s", peer("p", { connectTime: "0s" }), false, "spec.connectTime"],
      ["connectTime 1s", peer("p", { connectTime: "1s" }), true, ""],
      ["connectTime 2.5s", peer("p", { connectTime: "2.5s" }), false, "spec.connectTime"],
      ["myASN 0", peer("p", { myASN: 0 }), false, "spec.myASN"],
      ["myASN 4294967295", peer("p", { myASN: 4294967295, peerASN: 1 }), true, ""],
      ["myASN 4294967296", peer("p", { myASN: 4294967296 }), false, "spec.myASN"],
      ["BFD detectMultiplier 1", { apiVersion: "metallb.io/v1beta1", kind: "BFDProfile", metadata: { name: "b", namespace: "metallb-system" }, spec: { detectMultiplier: 1 } }, false, "spec.detectMultiplier"],
      ["BFD minimumTtl 255", { apiVersion: "metallb.io/v1beta1", kind: "BFDProfile", metadata: { name: "b", namespace: "metallb-system" }, spec: { minimumTtl: 255 } }, false, "spec.minimumTtl"],
      ["a selector operator that does not exist", { apiVersion: "metallb.io/v1beta1", kind: "L2Advertisement", metadata: { name: "l", namespace: "metallb-system" }, spec: { nodeSelectors: [{ matchExpressions: [{ key: "a", operator: "Is" }] }] } }, false, "spec.nodeSelectors[0].matchExpressions[0].operator"],
      ["serviceSelectors with default aggregation", { apiVersion: "metallb.io/v1beta1", kind: "BGPAdvertisement", metadata: { name: "a", namespace: "metallb-system" }, spec: { aggregationLength: 32, serviceSelectors: [{ matchLabels: { a: "b" } }] } }, true, ""],
      ["aggregationLength 0", { apiVersion: "metallb.io/v1beta1", kind: "BGPAdvertisement", metadata: { name: "a", namespace: "metallb-system" }, spec: { aggregationLength: 0 } }, false, "spec.aggregationLength"],
      ["duplicate community names", { apiVersion: "metallb.io/v1beta1", kind: "Community", metadata: { name: "c", namespace: "metallb-system" }, spec: { communities: [{ name: "a", value: "1:1" }, { name: "a", value: "1:2" }] } }, false, "spec.communities: duplicate entries for key [name=\"a\"]"],
    ])("%s", async (_, object, accepted, field) => {
      const result = await apply([JSON.parse(JSON.stringify(object))], "--dry-run=server")
      expect(result.ok, result.output).toBe(accepted)
      if (!accepted) expect(result.output).toContain(field)
    })
  })

  it("fills in MetalLB's defaults", async () => {
    const pool = { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: "defaults", namespace: "metallb-system" }, spec: { addresses: ["198.51.100.0/24"] } }
    const ad = { apiVersion: "metallb.io/v1beta1", kind: "BGPAdvertisement", metadata: { name: "defaults", namespace: "metallb-system" }, spec: {} }
    const applied = await apply([pool, ad, peer("defaults", {})])
    expect(applied.ok, applied.output).toBe(true)
    const get = async (resource: string) => JSON.parse(await mustKubectl(["get", resource, "defaults", "-n", "metallb-system", "-o", "json"])).spec
    expect(await get("ipaddresspools.metallb.io")).toMatchObject({ autoAssign: true, avoidBuggyIPs: false })
    expect(await get("bgpadvertisements.metallb.io")).toEqual({ aggregationLength: 32, aggregationLengthV6: 128 })
    expect(await get("bgppeers.metallb.io")).toMatchObject({ peerPort: 179 })
  })

  it("shows pool usage from status in the printer columns (int64: MetalLB's saturated 2^63-1 fits)", async () => {
    await apply([{ apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: "usage", namespace: "metallb-system" }, spec: { addresses: ["203.0.113.0/24", "2001:db8:5::/64"] } }])
    // Written as text: the number does not survive a JavaScript number.
    await mustKubectl(["patch", "ipaddresspools.metallb.io", "usage", "-n", "metallb-system", "--subresource=status", "--type=merge", "-p",
      '{"status":{"assignedIPv4":3,"availableIPv4":253,"assignedIPv6":1,"availableIPv6":9223372036854775807}}'])
    const table = await mustKubectl(["get", "ipaddresspools.metallb.io", "usage", "-n", "metallb-system"])
    const [header, row] = table.trim().split("\n")
    expect(header?.split(/\s{2,}/)).toEqual(["NAME", "AUTO ASSIGN", "AVOID BUGGY IPS", "ADDRESSES", "ASSIGNED IPV4", "AVAILABLE IPV4", "ASSIGNED IPV6", "AVAILABLE IPV6"])
    expect(row?.split(/\s{2,}/).slice(-4)).toEqual(["3", "253", "1", "9223372036854775807"])
  })

  it("keeps enableGracefulRestart immutable (unset counts as false)", async () => {
    expect((await apply([peer("gr", { enableGracefulRestart: true })])).ok).toBe(true)
    const flip = await apply([peer("gr", { enableGracefulRestart: false })])
    expect(flip.ok).toBe(false)
    expect(flip.output).toContain("spec.enableGracefulRestart: ")
    expect(flip.output).toContain("enableGracefulRestart cannot be changed")
    expect((await apply([peer("gr", { enableGracefulRestart: true, holdTime: "30s" })])).ok).toBe(true)
    expect((await apply([peer("plain", {})])).ok).toBe(true)
    expect((await apply([peer("plain", { enableGracefulRestart: false })])).ok).toBe(true)
    expect((await apply([peer("plain", { enableGracefulRestart: true })])).ok).toBe(false)
  })

  it.each([["servicel2statuses", "ServiceL2Status"], ["servicebgpstatuses", "ServiceBGPStatus"]])("keeps %s node, serviceName and serviceNamespace immutable", async (plural, kind) => {
    await apply([{ apiVersion: "metallb.io/v1beta1", kind, metadata: { name: "s", namespace: "metallb-system" } }])
    const patch = (status: Record<string, unknown>) =>
      kubectl(["patch", `${plural}.metallb.io`, "s", "-n", "metallb-system", "--subresource=status", "--type=merge", "-p", JSON.stringify({ status })])
    const first = await patch({ node: "worker-1", serviceName: "web", serviceNamespace: "default" })
    expect(first.ok, first.output).toBe(true)
    for (const field of ["node", "serviceName", "serviceNamespace"]) {
      const changed = await patch({ [field]: "other" })
      expect(changed.ok).toBe(false)
      expect(changed.output).toContain(`status.${field}: Invalid value`)
      expect(changed.output).toContain("Value is immutable")
    }
    expect((await patch({ [kind === "ServiceL2Status" ? "interfaces" : "peers"]: kind === "ServiceL2Status" ? [{ name: "eth0" }] : ["tor"] })).ok).toBe(true)
    const table = await mustKubectl(["get", `${plural}.metallb.io`, "s", "-n", "metallb-system"])
    expect(table).toMatch(/ALLOCATED NODE\s+SERVICE NAME\s+SERVICE NAMESPACE/)
    expect(table).toMatch(/worker-1\s+web\s+default/)
  })

  describe("BGPPeer v1beta1", () => {
    const legacy = parseYaml(readFileSync(join(repoRoot, fixtureDir, "valid-bgp-peer-v1beta1.yaml"), "utf8"))

    it("is stored through the controller's /convert webhook, so without a controller it is refused naming that Service", async () => {
      const applied = await apply(legacy)
      expect(applied.ok).toBe(false)
      expect(applied.output).toMatch(/conversion webhook for metallb\.io\/v1beta1, Kind=BGPPeer failed/)
      expect(applied.output).toContain('service "metallb-webhook-service" not found')
    })

    it("with conversion switched off (this API server only), the v1beta1 schema accepts the fixture and refuses a bad timer", async () => {
      await mustKubectl(["patch", "crd", "bgppeers.metallb.io", "--type=merge", "-p", JSON.stringify({ spec: { conversion: { strategy: "None", webhook: null } } })])
      const applied = await apply(legacy)
      expect(applied.ok, applied.output).toBe(true)
      expect(applied.output).toContain("Warning: metallb.io/v1beta1 BGPPeer is deprecated; use metallb.io/v1beta2")
      const bad = await apply([{ ...legacy[0], metadata: { name: "bad", namespace: "metallb-system" }, spec: { ...(legacy[0]?.["spec"] as object), holdTime: "2s" } }])
      expect(bad.ok).toBe(false)
      expect(bad.output).toContain("spec.holdTime")
    })
  })
})
