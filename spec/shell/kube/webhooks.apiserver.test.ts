// The webhooks as the API server calls them: the shipped ValidatingWebhookConfiguration and the BGPPeer
// CRD's conversion, pointed at runWebhooks() by URL, with the caBundle the controller patches in itself
// (running as the controller ServiceAccount with the shipped RBAC). kubectl applies every valid
// fixture; every invalid one is refused with core's text (or by the CRD's own schema first); an error
// already in the cluster does not block an unrelated edit; a BFDProfile in use cannot be deleted;
// enableGracefulRestart cannot change; v1beta1 BGPPeers are read and written through /convert without
// loss; and with short lifetimes the serving certificate and then the CA rotate under live traffic.
import { X509Certificate } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import { connect } from "node:tls"
import { join } from "node:path"
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node"
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { formatConfigError } from "../../../core/config/errors.ts"
import { lostInV1beta1Annotation } from "../../../core/config/kinds/bgp-peer.ts"
import { resolve } from "../../../core/config/resolve.ts"
import { pemBlocks } from "../../../shell/kube/certificates.ts"
import { runWebhooks } from "../../../shell/kube/webhooks.ts"
import { makeKubeApi } from "../../../shell/kube/kube-api.ts"
import { apiObjectSource } from "../../../shell/kube/webhook/source.ts"
import { type ApiServer, apiServerSkipReason, freePorts, startApiServer } from "../../support/apiserver.ts"
import { eventually } from "../../support/netns.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { type K8sObject, kubectlAsync, parseYaml, readYaml, repoRoot, type RunResult } from "../../manifests/support.ts"

const ns = "metallb-system"
const fixtureDir = "spec/fixtures/config"
const fixtures = readdirSync(join(repoRoot, fixtureDir)).filter((f) => f.endsWith(".yaml")).sort()
const skipLabel = "test.metallb-ts.io/skip-webhook"
const transientCodes = ["UnknownSecret", "UnknownBfdProfile", "UnknownCommunity"]

const toYaml = (objects: ReadonlyArray<unknown>): string => objects.map((o) => JSON.stringify(o)).join("\n---\n")
const isClusterObject = (o: K8sObject): boolean =>
  o.apiVersion.startsWith("metallb.io/") || (o.apiVersion === "v1" && (o.kind === "Secret" || o.kind === "Node"))
const pool = (name: string, addresses: Array<string>, labels: Record<string, string> = {}) =>
  ({ apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name, namespace: ns, labels }, spec: { addresses } })
const peer = (name: string, spec: Record<string, unknown>) =>
  ({ apiVersion: "metallb.io/v1beta2", kind: "BGPPeer", metadata: { name, namespace: ns }, spec: { myASN: 64500, peerASN: 64501, peerAddress: "192.0.2.1", ...spec } })

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("webhooks called by a real API server", () => {
  let api: ApiServer
  let controller: KubeConfig
  let port: number
  let scope: Scope.Closeable
  let kubectl: (args: ReadonlyArray<string>, input?: string) => Promise<RunResult>
  const must = async (args: ReadonlyArray<string>, input?: string) => {
    const result = await kubectl(args, input)
    if (!result.ok) throw new Error(`kubectl ${args.join(" ")}:\n${result.output}`)
    return result.stdout
  }
  const apply = (objects: ReadonlyArray<unknown>, ...extra: Array<string>) => kubectl(["apply", "--server-side", "-f", "-", ...extra], toYaml(objects))
  /** Deletes in reverse order (a BGPPeer before the BFDProfile it uses), bypassing nothing. */
  const remove = async (objects: ReadonlyArray<K8sObject>) => {
    for (const o of [...objects].reverse()) await kubectl(["delete", "--ignore-not-found", "-f", "-"], toYaml([o]))
  }
  const getJson = async (resource: string, name: string) => JSON.parse(await must(["get", resource, name, "-n", ns, "-o", "json"]))
  const secretCaBundle = async () =>
    Buffer.from((await api.kubeConfig.makeApiClient(CoreV1Api).readNamespacedSecret({ name: "metallb-webhook-cert", namespace: ns })).data?.["ca.crt"] ?? "", "base64").toString()
  const caBundlesInPlace = async () => {
    const expected = Buffer.from(await secretCaBundle()).toString("base64")
    const vwc = await getJson("validatingwebhookconfiguration", "metallb-webhook-configuration")
    const crd = await getJson("crd", "bgppeers.metallb.io")
    return vwc.webhooks.every((w: { clientConfig: { caBundle?: string } }) => w.clientConfig.caBundle === expected) &&
        crd.spec.conversion.webhook.clientConfig.caBundle === expected || undefined
  }
  const start = (certificates: Record<string, number> = {}) =>
    Effect.runPromise(Scope.provide(scope)(runWebhooks({
      api: makeKubeApi(controller),
      namespace: ns,
      objects: apiObjectSource(makeKubeApi(controller), ns),
      port,
      host: "127.0.0.1",
      certificates: { ipAddresses: ["127.0.0.1"], checkIntervalMs: 500, ...certificates },
    })))

  beforeAll(async () => {
    api = await startApiServer()
    kubectl = kubectlAsync(api.kubeConfigPath)
    await must(["apply", "--server-side", "-f", "manifests/base/namespace.yaml"])
    await must(["apply", "--server-side", "-k", "manifests/base/crds"])
    await must(["apply", "--server-side", "-f", "manifests/base/rbac.yaml"])
    controller = (await api.serviceAccountToken(ns, "controller")).kubeConfig
    ;[port] = (await freePorts(1)) as [number]
    scope = Effect.runSync(Scope.make())
    await start()
    // The shipped configuration, reached by URL instead of through the Service; objects labelled
    // skipLabel bypass it (how the tests plant an error that predates the webhook).
    const vwc = readYaml("manifests/base/webhook.yaml").find((o) => o.kind === "ValidatingWebhookConfiguration") as K8sObject & { webhooks: Array<Record<string, unknown> & { clientConfig: { service: { path: string } } }> }
    await must(["apply", "--server-side", "-f", "-"], JSON.stringify({
      ...vwc,
      webhooks: vwc.webhooks.map((w) => ({
        ...w,
        clientConfig: { url: `https://127.0.0.1:${port}${w.clientConfig.service.path}` },
        objectSelector: { matchExpressions: [{ key: skipLabel, operator: "DoesNotExist" }] },
      })),
    }))
    await must(["patch", "crd", "bgppeers.metallb.io", "--type=json", "-p",
      JSON.stringify([{ op: "replace", path: "/spec/conversion/webhook/clientConfig", value: { url: `https://127.0.0.1:${port}/convert` } }])])
    await eventually("the controller to patch both caBundles", caBundlesInPlace, { timeoutMs: 20_000 })
  })
  afterAll(async () => {
    if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
    await api?.stop()
  })

  it("patched the managed CA into every webhook and into the conversion webhook", async () => {
    const vwc = await getJson("validatingwebhookconfiguration", "metallb-webhook-configuration")
    expect(vwc.webhooks).toHaveLength(6)
    expect(pemBlocks(await secretCaBundle())).toHaveLength(1)
  })

  describe("valid fixtures", () => {
    it.each(fixtures.filter((f) => f.startsWith("valid-")))("%s applies through the webhooks", async (file) => {
      const objects = parseYaml(readFileSync(join(repoRoot, fixtureDir, file), "utf8"), file).filter(isClusterObject)
      try {
        const applied = await apply(objects)
        expect(applied.ok, applied.output).toBe(true)
        expect(applied.output).not.toContain("denied")
      } finally {
        await remove(objects)
      }
    })
  })

  describe("invalid fixtures", () => {
    // As in the unit test: names repeated within one file are one object in a cluster, and an object
    // refused earlier in the file cannot conflict with a later one.
    const unreachable: Record<string, ReadonlyArray<string>> = {
      "invalid-pool-duplicate-name.yaml": ["IPAddressPool/twice metadata.name"],
      "invalid-many-errors-at-once.yaml": ["IPAddressPool/b spec.addresses[0]"],
    }
    it.each(fixtures.filter((f) => f.startsWith("invalid-")))("%s is refused naming each error (transient ones are warnings)", async (file) => {
      const text = readFileSync(join(repoRoot, fixtureDir, file), "utf8")
      const objects = parseYaml(text, file).filter(isClusterObject)
      const namespaces = [...new Set(objects.filter((o) => o.kind !== "Node").map((o) => o.metadata.namespace ?? "default"))]
      // The fixture's Nodes exist before its configuration is judged (rules on node sets decide on them).
      const nodes = objects.filter((o) => o.kind === "Node")
      await apply([...namespaces.map((name) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } })), ...nodes])
      try {
        const applied = await apply(objects.filter((o) => o.kind !== "Node"))
        for (const [, code, ref, field] of text.matchAll(/^# expect: (\S+) (\S+) (\S+)$/gm)) {
          if (unreachable[file]?.includes(`${ref} ${field}`)) continue
          const [kind, name] = (ref ?? "").split("/") as [string, string]
          const namespace = objects.find((o) => o.kind === kind && o.metadata.name === name)?.metadata.namespace ?? ns
          const coreLine = `${kind} ${namespace}/${name}: ${field}: `
          if (transientCodes.includes(code ?? "")) {
            expect(applied.ok, applied.output).toBe(true)
            expect(applied.output).toContain(`Warning: ${coreLine}`)
            continue
          }
          expect(applied.ok, `${file} was accepted:\n${applied.output}`).toBe(false)
          const byCore = applied.output.includes(coreLine)
          // Or the schema's refusal of that object (server-side apply's, for a field the schema lacks).
          const byCrd = applied.output.split(/(?=Error from server)/).some((chunk) =>
            !chunk.includes("denied the request") && chunk.includes(`"${name}"`) || chunk.includes(`/${name};`) ? chunk.includes(field ?? "") : false)
          expect(byCore || byCrd, `${code} ${ref} ${field} not named:\n${applied.output}`).toBe(true)
        }
      } finally {
        await remove(objects)
      }
    })
  })

  it("refuses an overlapping pool and a bad community with exactly core's lines", async () => {
    const first = pool("first", ["198.51.100.0/24"])
    const second = pool("second", ["198.51.100.10-198.51.100.20"])
    const community = parseYaml(readFileSync(join(repoRoot, fixtureDir, "invalid-bgp-community-literal.yaml"), "utf8"))
    try {
      expect((await apply([first])).ok).toBe(true)
      const refused = await apply([second])
      expect(refused.ok).toBe(false)
      expect(refused.output).toContain('admission webhook "ipaddresspoolvalidationwebhook.metallb.io" denied the request')
      const expected = resolve([{ value: first }, { value: second }])
      expect(expected._tag).toBe("Invalid")
      for (const error of expected._tag === "Invalid" ? expected.errors : []) expect(refused.output).toContain(formatConfigError(error))
      const bad = await apply(community)
      expect(bad.ok).toBe(false)
      const lines = resolve(community.map((value) => ({ value })))
      expect(lines._tag === "Invalid" ? lines.errors : []).toHaveLength(3)
      for (const error of lines._tag === "Invalid" ? lines.errors : []) expect(bad.output).toContain(formatConfigError(error))
    } finally {
      await remove([first, second, ...community])
    }
  })

  it("refuses ebgpMultiHop on an iBGP session (the CRD's CEL rule answers first, with core's message)", async () => {
    const refused = await apply([peer("ibgp", { peerASN: 64500, ebgpMultiHop: true })])
    expect(refused.ok).toBe(false)
    expect(refused.output).toContain("spec.ebgpMultiHop")
  })

  it("does not let an error already in the cluster block an unrelated edit", async () => {
    const first = pool("first", ["198.51.100.0/24"])
    const planted = pool("planted", ["198.51.100.0/25"], { [skipLabel]: "true" })
    const third = pool("third", ["203.0.113.0/24"])
    try {
      expect((await apply([first])).ok).toBe(true)
      const bypass = await apply([planted])
      expect(bypass.ok, bypass.output).toBe(true)
      const created = await apply([third])
      expect(created.ok, created.output).toBe(true)
      const edited = await apply([{ ...third, spec: { addresses: ["203.0.113.0/25"] } }])
      expect(edited.ok, edited.output).toBe(true)
      expect(edited.output).not.toContain("Warning")
      // A new error still refuses; so does the planted one's, once it goes through the webhook again
      // with a change that makes it worse; unchanged, it is only a warning.
      expect((await apply([pool("fourth", ["198.51.100.128/25"])])).ok).toBe(false)
      const relabelled = await apply([{ ...planted, metadata: { ...planted.metadata, labels: {} } }])
      expect(relabelled.ok, relabelled.output).toBe(true)
      expect(relabelled.output).toContain("Warning: IPAddressPool metallb-system/")
      expect(relabelled.output).toContain("overlaps")
    } finally {
      await remove([first, planted, third])
    }
  })

  it("refuses deleting a BFDProfile while a BGPPeer uses it", async () => {
    const profile = { apiVersion: "metallb.io/v1beta1", kind: "BFDProfile", metadata: { name: "fast", namespace: ns }, spec: { receiveInterval: 100 } }
    const user = peer("tor-bfd", { bfdProfile: "fast" })
    try {
      expect((await apply([profile, user])).ok).toBe(true)
      const refused = await kubectl(["delete", "bfdprofiles.metallb.io", "fast", "-n", ns])
      expect(refused.ok).toBe(false)
      expect(refused.output).toContain('admission webhook "bfdprofilevalidationwebhook.metallb.io" denied the request')
      expect(refused.output).toContain('BFDProfile metallb-system/fast: metadata.name: BFDProfile "fast" is used by BGPPeer "tor-bfd"')
      await must(["delete", "bgppeers.metallb.io", "tor-bfd", "-n", ns])
      expect((await kubectl(["delete", "bfdprofiles.metallb.io", "fast", "-n", ns])).ok).toBe(true)
    } finally {
      await remove([profile, user] as Array<K8sObject>)
    }
  })

  it("refuses changing enableGracefulRestart", async () => {
    try {
      expect((await apply([peer("gr", { enableGracefulRestart: true })])).ok).toBe(true)
      const flipped = await apply([peer("gr", { enableGracefulRestart: false })])
      expect(flipped.ok).toBe(false)
      expect(flipped.output).toContain("enableGracefulRestart cannot be changed")
      expect((await apply([peer("gr", { enableGracefulRestart: true, holdTime: "30s" })])).ok).toBe(true)
    } finally {
      await kubectl(["delete", "--ignore-not-found", "bgppeers.metallb.io", "gr", "-n", ns])
    }
  })

  describe("BGPPeer conversion through /convert", () => {
    it("reads a v1beta2 peer as v1beta1 and writes it back without losing v1beta2 fields", async () => {
      try {
        expect((await apply([peer("modern", { connectTime: "5s", enableGracefulRestart: true, dualStackAddressFamily: true })])).ok).toBe(true)
        const legacy = await getJson("bgppeers.v1beta1.metallb.io", "modern")
        expect(legacy.apiVersion).toBe("metallb.io/v1beta1")
        expect(legacy.spec).not.toHaveProperty("connectTime")
        expect(JSON.parse(legacy.metadata.annotations[lostInV1beta1Annotation])).toMatchObject({ connectTime: "5s", enableGracefulRestart: true })
        // A v1beta1 client edits it (the annotation rides along): admission sees GR unchanged.
        const replaced = await kubectl(["replace", "-f", "-"], JSON.stringify({ ...legacy, spec: { ...legacy.spec, holdTime: "30s" } }))
        expect(replaced.ok, replaced.output).toBe(true)
        const modern = await getJson("bgppeers.v1beta2.metallb.io", "modern")
        expect(modern.spec).toMatchObject({ holdTime: "30s", connectTime: "5s", enableGracefulRestart: true, dualStackAddressFamily: true })
        expect(modern.metadata.annotations?.[lostInV1beta1Annotation]).toBeUndefined()
      } finally {
        await kubectl(["delete", "--ignore-not-found", "bgppeers.metallb.io", "modern", "-n", ns])
      }
    })

    it("creates a peer through v1beta1 (stored as v1beta2, judged by the v1beta2 webhook)", async () => {
      const legacy = readYaml(`${fixtureDir}/valid-bgp-peer-v1beta1.yaml`)
      try {
        const applied = await apply(legacy)
        expect(applied.ok, applied.output).toBe(true)
        expect(applied.output).toContain("Warning: metallb.io/v1beta1 BGPPeer is deprecated")
        const stored = await getJson("bgppeers.v1beta2.metallb.io", "legacy")
        expect(stored.spec).toMatchObject({ myASN: 64500, peerASN: 64501, peerAddress: "192.0.2.1", holdTime: "90s", ebgpMultiHop: true })
        expect((await getJson("bgppeers.v1beta1.metallb.io", "legacy")).spec).toMatchObject(legacy[0]?.["spec"] as object)
        const ibgp = await apply([{ ...legacy[0], metadata: { name: "legacy-ibgp", namespace: ns }, spec: { ...(legacy[0]?.["spec"] as object), peerASN: 64500, peerAddress: "192.0.2.2" } }])
        expect(ibgp.ok).toBe(false)
      } finally {
        await remove(legacy)
      }
    })
  })

  describe("certificate rotation under traffic (short lifetimes)", () => {
    const served = () =>
      new Promise<string>((resolvePromise, reject) => {
        const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
          resolvePromise(socket.getPeerCertificate().fingerprint256)
          socket.end()
        })
        socket.on("error", reject)
      })
    const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256
    const secretTls = async () =>
      Buffer.from((await api.kubeConfig.makeApiClient(CoreV1Api).readNamespacedSecret({ name: "metallb-webhook-cert", namespace: ns })).data?.["tls.crt"] ?? "", "base64").toString()
    const admitted = async () => {
      const result = await apply([pool(`probe-${Date.now()}`, ["192.0.2.0/28"])], "--dry-run=server")
      return result.ok || undefined
    }

    it("renews the serving certificate, then the CA, and the API server keeps calling the webhooks", async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await api.kubeConfig.makeApiClient(CoreV1Api).deleteNamespacedSecret({ name: "metallb-webhook-cert", namespace: ns })
      scope = Effect.runSync(Scope.make())
      // CA for 24 s (renewed after 16 s), serving certificates for 7 s (renewed after ~5 s).
      await start({ caValidityMs: 24_000, servingValidityMs: 6_000, backdateMs: 1_000, checkIntervalMs: 250 })
      await eventually("the new CA in both caBundles", caBundlesInPlace, { timeoutMs: 10_000 })
      const firstCa = pemBlocks(await secretCaBundle())[0]
      const firstTls = await secretTls()
      expect(await served()).toBe(fingerprint(firstTls))
      await eventually("admission with the first certificate", admitted, { timeoutMs: 10_000 })

      const renewedTls = await eventually("a renewed serving certificate", async () => {
        const tls = await secretTls()
        return tls !== firstTls ? tls : undefined
      }, { timeoutMs: 15_000, intervalMs: 250 })
      await eventually("the renewed certificate served", async () => (await served()) === fingerprint(renewedTls) || undefined, { timeoutMs: 5_000 })
      expect(pemBlocks(await secretCaBundle())[0]).toBe(firstCa)
      await eventually("admission with the renewed certificate", admitted, { timeoutMs: 10_000 })

      const bundle = await eventually("a renewed CA", async () => {
        const blocks = pemBlocks(await secretCaBundle())
        return blocks.length === 2 ? blocks : undefined
      }, { timeoutMs: 30_000, intervalMs: 250 })
      expect(bundle[1]).toBe(firstCa)
      await eventually("both CAs in both caBundles", caBundlesInPlace, { timeoutMs: 10_000 })
      const underNewCa = new X509Certificate(await secretTls())
      expect(underNewCa.verify(new X509Certificate(bundle[0] ?? "").publicKey)).toBe(true)
      await eventually("the certificate of the new CA served", async () => (await served()) === underNewCa.fingerprint256 || undefined, { timeoutMs: 5_000 })
      await eventually("admission under the new CA", admitted, { timeoutMs: 10_000 })
    })
  })
})
