// The webhooks' own PKI. Without an API server: the hand-encoded certificates are accepted by OpenSSL
// and by Node's X.509 parser with the names, flags and dates asked for, and the renewal policy (reuse,
// renew the serving certificate, renew everything keeping the old CA in the bundle) decides as
// documented. Against a real API server, as the controller's ServiceAccount with the shipped RBAC: the
// Secret is created, reused on restart, created once when two replicas race, rotated near expiry (with
// a shifted clock), and the caBundle lands in every webhook and in the BGPPeer CRD's conversion.
import { execFileSync } from "node:child_process"
import { X509Certificate } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AdmissionregistrationV1Api, ApiextensionsV1Api, CoreV1Api, type KubeConfig } from "@kubernetes/client-node"
import { Clock, Effect, Exit, Fiber, Scope, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  assess,
  certificateDefaults,
  ensureCertificates,
  manageCertificates,
  pemBlocks,
  renew,
  type SecretContents,
  servingDnsNames,
} from "../../../shell/kube/certificates.ts"
import { makeKubeApi } from "../../../shell/kube/kube-api.ts"
import { issueCa, issueServing } from "../../../shell/kube/webhook/x509.ts"
import { type ApiServer, apiServerSkipReason, startApiServer } from "../../support/apiserver.ts"
import { eventually } from "../../support/netns.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { kubectlAsync, type RunResult } from "../../manifests/support.ts"

const ns = "metallb-system"
const hour = 3600_000
const year = 365 * 24 * hour
const identity = { dnsNames: servingDnsNames("metallb-webhook-service", ns), ipAddresses: ["127.0.0.1"] }
const settings = {
  ...certificateDefaults,
  ...identity,
}

const hasOpenssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

describe("x509: the hand-encoded certificates", () => {
  const now = Date.UTC(2026, 0, 1)
  const ca = issueCa("metallb-ts-webhook-ca", { notBeforeMs: now - hour, notAfterMs: now + 30 * year })
  const serving = issueServing(ca, { commonName: "metallb-webhook-service.metallb-system.svc", ...identity, ipAddresses: ["127.0.0.1", "2001:db8::1"], notBeforeMs: now - hour, notAfterMs: now + year })

  it("parse with the dates, names and flags asked for (GeneralizedTime after 2049)", () => {
    const caCert = new X509Certificate(ca.certPem)
    const leaf = new X509Certificate(serving.certPem)
    expect(caCert.ca).toBe(true)
    expect(leaf.ca).toBe(false)
    expect(caCert.validToDate.getTime()).toBe(now + 30 * year)
    expect(caCert.validToDate.getUTCFullYear()).toBe(2055)
    expect(leaf.validFromDate.getTime()).toBe(now - hour)
    expect(leaf.subjectAltName).toBe(`${identity.dnsNames.map((d) => `DNS:${d}`).join(", ")}, IP Address:127.0.0.1, IP Address:2001:DB8:0:0:0:0:0:1`)
    expect(leaf.checkIssued(caCert)).toBe(true)
    expect(leaf.verify(caCert.publicKey)).toBe(true)
    expect(leaf.issuer).toBe(caCert.subject)
    expect(leaf.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"])
    expect(BigInt(`0x${leaf.serialNumber}`) > 0n).toBe(true)
  })

  it.skipIf(!hasOpenssl)("verify with OpenSSL as a TLS server certificate for the Service name and 127.0.0.1", () => {
    const dir = mkdtempSync(join(tmpdir(), "mlbt-x509-"))
    try {
      writeFileSync(join(dir, "ca.pem"), ca.certPem)
      writeFileSync(join(dir, "leaf.pem"), serving.certPem)
      const verify = (...extra: Array<string>) =>
        execFileSync("openssl", ["verify", "-CAfile", join(dir, "ca.pem"), "-purpose", "sslserver", "-attime", String(now / 1000 + 60), ...extra, join(dir, "leaf.pem")], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
      expect(verify("-verify_hostname", "metallb-webhook-service.metallb-system.svc")).toContain("OK")
      expect(verify("-verify_ip", "127.0.0.1")).toContain("OK")
      expect(() => verify("-verify_hostname", "elsewhere.example")).toThrow()
      const text = execFileSync("openssl", ["x509", "-in", join(dir, "ca.pem"), "-noout", "-text"], { encoding: "utf8" })
      expect(text).toMatch(/CA:TRUE, pathlen:0/)
      expect(text).toMatch(/Certificate Sign, CRL Sign/)
      expect(text).toMatch(/ASN1 OID: prime256v1/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("assess and renew: the renewal policy", () => {
  const t0 = Date.UTC(2026, 0, 1)
  const fresh = renew({ _tag: "RenewAll", reason: "test" }, t0, settings, ns)

  it("creates everything when there is nothing, and reuses a fresh Secret", () => {
    expect(assess(undefined, t0, identity)._tag).toBe("RenewAll")
    const plan = assess(fresh, t0 + hour, identity)
    expect(plan._tag).toBe("Reuse")
    if (plan._tag === "Reuse") expect(plan.certificate).toMatchObject({ certPem: fresh.tlsCrt, keyPem: fresh.tlsKey, caBundlePem: fresh.caCrt, notAfterMs: t0 + year })
  })

  it("renews the serving certificate once less than a third of its year remains, keeping the CA", () => {
    expect(assess(fresh, t0 + 0.66 * year, identity)._tag).toBe("Reuse")
    const plan = assess(fresh, t0 + 0.67 * year, identity)
    expect(plan).toMatchObject({ _tag: "RenewServing", reason: "the serving certificate has less than a third of its lifetime left" })
    if (plan._tag !== "RenewServing") return
    const next = renew(plan, t0 + 0.67 * year, settings, ns)
    expect(next.caCrt).toBe(fresh.caCrt)
    expect(next.caKey).toBe(fresh.caKey)
    expect(new X509Certificate(next.tlsCrt).verify(new X509Certificate(fresh.caCrt).publicKey)).toBe(true)
    expect(assess(next, t0 + 0.67 * year, identity)._tag).toBe("Reuse")
  })

  it("renews the CA after two thirds of its ten years, publishing the old one beside it until it expires", () => {
    const at = t0 + 6.7 * year
    const plan = assess(fresh, at, identity)
    expect(plan).toMatchObject({ _tag: "RenewAll", reason: "the CA has less than a third of its lifetime left" })
    if (plan._tag !== "RenewAll") return
    const next = renew(plan, at, settings, ns)
    const bundle = pemBlocks(next.caCrt)
    expect(bundle).toHaveLength(2)
    expect(bundle[1]).toBe(fresh.caCrt)
    expect(new X509Certificate(next.tlsCrt).verify(new X509Certificate(bundle[0] ?? "").publicKey)).toBe(true)
    const reused = assess(next, at + hour, identity)
    expect(reused._tag).toBe("Reuse")
    if (reused._tag === "Reuse") expect(pemBlocks(reused.certificate.caBundlePem)).toHaveLength(2)
    // After the old CA's end, the next renewal drops it.
    const later = assess(next, t0 + 10.1 * year, identity)
    expect(later._tag).toBe("RenewServing")
    if (later._tag === "RenewServing") expect(later.bundle).toEqual([bundle[0]])
  })

  it.each<[string, (c: Required<SecretContents>) => SecretContents, string]>([
    ["garbage in ca.crt", (c) => ({ ...c, caCrt: "garbage" }), "RenewAll"],
    ["a CA key that does not match", (c) => ({ ...c, caKey: renew({ _tag: "RenewAll", reason: "" }, t0, settings, ns).caKey }), "RenewAll"],
    ["no tls.key", ({ tlsKey: _, ...c }) => c, "RenewServing"],
    ["a serving key that does not match", (c) => ({ ...c, tlsKey: c.caKey }), "RenewServing"],
    ["a serving certificate of another CA", (c) => ({ ...c, ...(({ tlsCrt, tlsKey }) => ({ tlsCrt, tlsKey }))(renew({ _tag: "RenewAll", reason: "" }, t0, settings, ns)) }), "RenewServing"],
    ["a CA that is not a CA", (c) => ({ ...c, caCrt: c.tlsCrt, caKey: c.tlsKey }), "RenewAll"],
  ])("replaces %s", (_, damage, expected) => {
    expect(assess(damage(fresh), t0 + hour, identity)._tag).toBe(expected)
  })

  it("renews a serving certificate that lacks a name now required (e.g. an added IP)", () => {
    expect(assess(fresh, t0 + hour, { ...identity, ipAddresses: ["127.0.0.1", "192.0.2.10"] })).toMatchObject({ _tag: "RenewServing", reason: "tls.crt does not name 192.0.2.10" })
  })
})

// --- against the API server ---

/** Effect's clock, shifted by a settable offset: renewal decisions see the future, timers stay real. */
const shiftedClock = (offset: { ms: number }): Clock.Clock => {
  const real = Clock.Clock.defaultValue()
  const millis = () => real.currentTimeMillisUnsafe() + offset.ms
  return {
    currentTimeMillisUnsafe: millis,
    currentTimeMillis: Effect.sync(millis),
    currentTimeNanosUnsafe: () => BigInt(millis()) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(millis()) * 1_000_000n),
    monotonicTimeNanosUnsafe: () => real.monotonicTimeNanosUnsafe(),
    monotonicTimeNanos: real.monotonicTimeNanos,
    sleep: (duration) => real.sleep(duration),
  }
}

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("certificates in a real API server (controller ServiceAccount, shipped RBAC)", () => {
  let api: ApiServer
  let controller: KubeConfig
  let kubectl: (args: ReadonlyArray<string>, input?: string) => Promise<RunResult>
  const must = async (args: ReadonlyArray<string>) => {
    const result = await kubectl(args)
    if (!result.ok) throw new Error(`kubectl ${args.join(" ")}:\n${result.output}`)
    return result.stdout
  }
  const readSecret = () => api.kubeConfig.makeApiClient(CoreV1Api).readNamespacedSecret({ name: "metallb-webhook-cert", namespace: ns })
  const deleteSecret = () => api.kubeConfig.makeApiClient(CoreV1Api).deleteNamespacedSecret({ name: "metallb-webhook-cert", namespace: ns }).catch(() => undefined)
  const caBundles = async () => {
    const vwc = await api.kubeConfig.makeApiClient(AdmissionregistrationV1Api).readValidatingWebhookConfiguration({ name: "metallb-webhook-configuration" })
    const crd = await api.kubeConfig.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: "bgppeers.metallb.io" })
    const decode = (b64: string | undefined) => (b64 === undefined ? undefined : Buffer.from(b64, "base64").toString("utf8"))
    return { webhooks: (vwc.webhooks ?? []).map((w) => decode(w.clientConfig.caBundle)), conversion: decode(crd.spec.conversion?.webhook?.clientConfig?.caBundle) }
  }
  const options = () => ({ api: makeKubeApi(controller), namespace: ns, ipAddresses: ["127.0.0.1"] })
  const at = (offsetMs: number) => <A, E>(effect: Effect.Effect<A, E>) => Effect.provideService(effect, Clock.Clock, shiftedClock({ ms: offsetMs }))

  beforeAll(async () => {
    api = await startApiServer()
    kubectl = kubectlAsync(api.kubeConfigPath)
    await must(["apply", "--server-side", "-f", "manifests/base/namespace.yaml"])
    await must(["apply", "--server-side", "-k", "manifests/base/crds"])
    await must(["apply", "--server-side", "-f", "manifests/base/rbac.yaml"])
    // The shipped webhook configuration, as is: nothing calls it in these tests (no metallb.io writes).
    await must(["apply", "--server-side", "-f", "manifests/base/webhook.yaml"])
    controller = (await api.serviceAccountToken(ns, "controller")).kubeConfig
  })
  afterAll(async () => {
    await api?.stop()
  })

  it("creates the Secret (kubernetes.io/tls; ca.crt, ca.key, tls.crt, tls.key) and patches every caBundle", async () => {
    const served = await Effect.runPromise(ensureCertificates(options()))
    const secret = await readSecret()
    expect(secret.type).toBe("kubernetes.io/tls")
    expect(Object.keys(secret.data ?? {}).sort()).toEqual(["ca.crt", "ca.key", "tls.crt", "tls.key"])
    expect(Buffer.from(secret.data?.["tls.crt"] ?? "", "base64").toString()).toBe(served.certPem)
    const leaf = new X509Certificate(served.certPem)
    expect(leaf.checkHost("metallb-webhook-service.metallb-system.svc")).toBe("metallb-webhook-service.metallb-system.svc")
    expect(leaf.checkIP("127.0.0.1")).toBe("127.0.0.1")
    const bundles = await caBundles()
    expect(bundles.webhooks).toHaveLength(6)
    expect(bundles.webhooks.every((b) => b === served.caBundlePem)).toBe(true)
    expect(bundles.conversion).toBe(served.caBundlePem)
  })

  it("reuses a valid Secret on restart without writing anything", async () => {
    const before = await readSecret()
    const vwcVersion = (await api.kubeConfig.makeApiClient(AdmissionregistrationV1Api).readValidatingWebhookConfiguration({ name: "metallb-webhook-configuration" })).metadata?.resourceVersion
    const served = await Effect.runPromise(ensureCertificates(options()))
    expect(served.certPem).toBe(Buffer.from(before.data?.["tls.crt"] ?? "", "base64").toString())
    expect((await readSecret()).metadata?.resourceVersion).toBe(before.metadata?.resourceVersion)
    expect((await api.kubeConfig.makeApiClient(AdmissionregistrationV1Api).readValidatingWebhookConfiguration({ name: "metallb-webhook-configuration" })).metadata?.resourceVersion).toBe(vwcVersion)
  })

  it("creates one certificate when two replicas start at once", async () => {
    await deleteSecret()
    const [a, b] = await Promise.all([Effect.runPromise(ensureCertificates(options())), Effect.runPromise(ensureCertificates(options()))])
    expect(a?.certPem).toBe(b?.certPem)
    expect(Buffer.from((await readSecret()).data?.["tls.crt"] ?? "", "base64").toString()).toBe(a?.certPem)
    expect((await caBundles()).conversion).toBe(a?.caBundlePem)
  })

  it("renews the serving certificate near its expiry, then the CA (old CA kept in the bundle), and patches the caBundles", async () => {
    const first = await Effect.runPromise(ensureCertificates(options()))
    const serving = await Effect.runPromise(at(0.7 * year)(ensureCertificates(options())))
    expect(serving.certPem).not.toBe(first.certPem)
    expect(serving.caBundlePem).toBe(first.caBundlePem)
    expect((await caBundles()).conversion).toBe(first.caBundlePem)
    const ca = await Effect.runPromise(at(7 * year)(ensureCertificates(options())))
    const bundle = pemBlocks(ca.caBundlePem)
    expect(bundle).toHaveLength(2)
    expect(bundle[1]).toBe(pemBlocks(first.caBundlePem)[0])
    const bundles = await caBundles()
    expect(bundles.conversion).toBe(ca.caBundlePem)
    expect(bundles.webhooks.every((b) => b === ca.caBundlePem)).toBe(true)
    expect(Buffer.from((await readSecret()).data?.["ca.crt"] ?? "", "base64").toString()).toBe(ca.caBundlePem)
  })

  it("manageCertificates publishes every replacement of the served certificate (the Secret re-created elsewhere, its own renewal)", async () => {
    await deleteSecret()
    const offset = { ms: 0 }
    const scope = Effect.runSync(Scope.make())
    try {
      const managed = await Effect.runPromise(Scope.provide(scope)(Effect.provideService(manageCertificates({ ...options(), checkIntervalMs: 200 }), Clock.Clock, shiftedClock(offset))))
      const initial = await Effect.runPromise(managed.current)
      const next = Effect.runFork(Stream.runHead(managed.changes))
      // Another replica starts over (the Secret was deleted under it): this one picks its certificate up.
      await deleteSecret()
      const other = await Effect.runPromise(ensureCertificates(options()))
      const seen = await Effect.runPromise(Fiber.join(next))
      expect(seen._tag === "Some" && seen.value.certPem).toBe(other.certPem)
      expect(other.certPem).not.toBe(initial.certPem)
      // Its own renewal, once its clock gets there.
      const own = Effect.runFork(Stream.runHead(managed.changes))
      offset.ms = 0.7 * year
      const renewed = await Effect.runPromise(Fiber.join(own))
      expect(renewed._tag === "Some" && renewed.value.certPem).not.toBe(other.certPem)
      await eventually("the Secret to hold the renewed certificate", async () =>
        Buffer.from((await readSecret()).data?.["tls.crt"] ?? "", "base64").toString() === (await Effect.runPromise(managed.current)).certPem || undefined, { timeoutMs: 10_000 })
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })
})
