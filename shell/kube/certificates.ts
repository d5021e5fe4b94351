// The webhooks' certificates, managed by the controller itself (no cert-manager): a CA and a serving
// certificate for metallb-webhook-service.<ns>.svc kept in Secret metallb-webhook-cert (ca.crt, ca.key,
// tls.crt, tls.key), and the CA written as caBundle into every webhook of the
// ValidatingWebhookConfiguration and into the BGPPeer CRD's conversion webhook.
// Policy: ECDSA P-256; the CA lives 10 years, the serving certificate 1 year (capped at the CA's end);
// either is renewed once less than a third of its lifetime remains (a serving certificate after about 8
// months, the CA after about 6.7 years), so a controller that was down for weeks still finds a valid
// one. Both are backdated an hour for clocks that run behind. A new CA is published next to the
// previous one (ca.crt holds both until the old one expires): replicas still serving a certificate of
// the old CA stay trusted until they pick up the new one. Replicas race safely: the Secret is created
// or read (409 -> read), and replaced only at the resourceVersion it was read at.
import { createPrivateKey, X509Certificate } from "node:crypto"
import type { V1CustomResourceDefinition, V1Secret, V1ValidatingWebhookConfiguration } from "@kubernetes/client-node"
import { Clock, Data, Duration, Effect, Queue, Ref, Schedule, type Scope, Stream } from "effect"
import { apiErrorText, type KubeApiError } from "./api-error.ts"
import { type JsonPatchOperation, type KubeApi, resources } from "./kube-api.ts"
import { issueCa, issueServing, type KeyPair } from "./webhook/x509.ts"

export interface CertificateOptions {
  readonly api: KubeApi["Service"]
  readonly namespace: string
  readonly secretName?: string
  readonly serviceName?: string
  readonly webhookConfigurationName?: string
  /** The CRD whose conversion webhook is ours. */
  readonly conversionCrdName?: string
  /** Extra IP subjectAltNames (tests reach the server as https://127.0.0.1:<port>). */
  readonly ipAddresses?: ReadonlyArray<string>
  readonly caValidityMs?: number
  readonly servingValidityMs?: number
  readonly backdateMs?: number
  /** How often the Secret and the caBundles are re-checked (renewal, another replica's rotation). */
  readonly checkIntervalMs?: number
}

export interface ServingCertificate extends KeyPair {
  /** PEM of every CA the API server should trust (the current one first). */
  readonly caBundlePem: string
  readonly notAfterMs: number
}

export class CertificateError extends Data.TaggedError("CertificateError")<{ readonly message: string }> {}

const year = 365 * 24 * 3600 * 1000
export const certificateDefaults = {
  secretName: "metallb-webhook-cert",
  serviceName: "metallb-webhook-service",
  webhookConfigurationName: "metallb-webhook-configuration",
  conversionCrdName: "bgppeers.metallb.io",
  caValidityMs: 10 * year,
  servingValidityMs: year,
  backdateMs: 3600 * 1000,
  checkIntervalMs: 60 * 1000,
} as const

const caCommonName = "metallb-ts-webhook-ca"

/** The names the API server may dial: <svc>.<ns>.svc is what it uses; the others cost nothing. */
export const servingDnsNames = (service: string, namespace: string): ReadonlyArray<string> =>
  [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`, service]

// --- judging what the Secret holds (pure apart from parsing) ---

export interface SecretContents {
  readonly caCrt?: string
  readonly caKey?: string
  readonly tlsCrt?: string
  readonly tlsKey?: string
}

export type Plan =
  | { readonly _tag: "Reuse"; readonly certificate: ServingCertificate }
  | { readonly _tag: "RenewServing"; readonly reason: string; readonly ca: KeyPair; readonly bundle: ReadonlyArray<string> }
  | { readonly _tag: "RenewAll"; readonly reason: string; readonly previousCa?: string }

export const pemBlocks = (pem: string | undefined): ReadonlyArray<string> =>
  (pem ?? "").match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((b) => `${b}\n`) ?? []

const parse = (pem: string | undefined): X509Certificate | undefined => {
  try {
    return pem === undefined ? undefined : new X509Certificate(pem)
  } catch {
    return undefined
  }
}

const fresh = (cert: X509Certificate, nowMs: number): string | undefined => {
  const notBefore = cert.validFromDate.getTime()
  const notAfter = cert.validToDate.getTime()
  if (nowMs < notBefore) return "is not valid yet"
  if (nowMs >= notAfter) return "has expired"
  if (notAfter - nowMs < (notAfter - notBefore) / 3) return "has less than a third of its lifetime left"
  return undefined
}

const keyMatches = (cert: X509Certificate, keyPem: string | undefined): boolean => {
  try {
    if (keyPem === undefined) return false
    const key = createPrivateKey(keyPem)
    return key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1" && cert.checkPrivateKey(key)
  } catch {
    return false
  }
}

export const assess = (
  contents: SecretContents | undefined,
  nowMs: number,
  identity: { readonly dnsNames: ReadonlyArray<string>; readonly ipAddresses: ReadonlyArray<string> },
): Plan => {
  if (contents === undefined) return { _tag: "RenewAll", reason: "no certificate Secret yet" }
  const caBlocks = pemBlocks(contents.caCrt)
  const caPem = caBlocks[0]
  const ca = parse(caPem)
  if (caPem === undefined || ca === undefined || !ca.ca) return { _tag: "RenewAll", reason: "ca.crt holds no CA certificate" }
  const previousCa = { previousCa: caPem }
  if (!keyMatches(ca, contents.caKey)) return { _tag: "RenewAll", reason: "ca.key is missing or does not match ca.crt", ...previousCa }
  const caProblem = fresh(ca, nowMs)
  if (caProblem !== undefined) return { _tag: "RenewAll", reason: `the CA ${caProblem}`, ...previousCa }
  const bundle = caBlocks.filter((block) => {
    const cert = parse(block)
    return cert !== undefined && cert.validToDate.getTime() > nowMs
  })
  const renew = (reason: string): Plan => ({ _tag: "RenewServing", reason, ca: { certPem: caPem, keyPem: contents.caKey ?? "" }, bundle })
  const serving = parse(contents.tlsCrt)
  if (serving === undefined || contents.tlsCrt === undefined || contents.tlsKey === undefined) return renew("tls.crt is missing or unreadable")
  if (!keyMatches(serving, contents.tlsKey)) return renew("tls.key does not match tls.crt")
  if (!serving.verify(ca.publicKey) || serving.checkIssued(ca) === false) return renew("tls.crt is not signed by the CA in ca.crt")
  const missing = [
    ...identity.dnsNames.filter((dns) => serving.checkHost(dns, { wildcards: false }) !== dns),
    ...identity.ipAddresses.filter((ip) => serving.checkIP(ip) === undefined),
  ]
  if (missing.length > 0) return renew(`tls.crt does not name ${missing.join(", ")}`)
  const servingProblem = fresh(serving, nowMs)
  if (servingProblem !== undefined) return renew(`the serving certificate ${servingProblem}`)
  return {
    _tag: "Reuse",
    certificate: { certPem: contents.tlsCrt, keyPem: contents.tlsKey, caBundlePem: bundle.join(""), notAfterMs: serving.validToDate.getTime() },
  }
}

interface Settings {
  readonly secretName: string
  readonly serviceName: string
  readonly webhookConfigurationName: string
  readonly conversionCrdName: string
  readonly caValidityMs: number
  readonly servingValidityMs: number
  readonly backdateMs: number
  readonly checkIntervalMs: number
  readonly dnsNames: ReadonlyArray<string>
  readonly ipAddresses: ReadonlyArray<string>
}

/** Carries out a renewal plan: the new Secret contents. */
export const renew = (plan: Exclude<Plan, { _tag: "Reuse" }>, nowMs: number, settings: Settings, namespace: string): Required<SecretContents> => {
  const notBeforeMs = nowMs - settings.backdateMs
  const ca = plan._tag === "RenewAll" ? issueCa(caCommonName, { notBeforeMs, notAfterMs: nowMs + settings.caValidityMs }) : plan.ca
  const previous = plan._tag === "RenewAll" && plan.previousCa !== undefined && (parse(plan.previousCa)?.validToDate.getTime() ?? 0) > nowMs ? [plan.previousCa] : []
  const bundle = plan._tag === "RenewAll" ? [ca.certPem, ...previous] : plan.bundle
  const caNotAfterMs = new X509Certificate(ca.certPem).validToDate.getTime()
  const serving = issueServing(ca, {
    commonName: `${settings.serviceName}.${namespace}.svc`,
    dnsNames: settings.dnsNames,
    ipAddresses: settings.ipAddresses,
    notBeforeMs,
    notAfterMs: Math.min(nowMs + settings.servingValidityMs, caNotAfterMs),
  })
  return { caCrt: bundle.join(""), caKey: ca.keyPem, tlsCrt: serving.certPem, tlsKey: serving.keyPem }
}

// --- the cluster side ---

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")
const unb64 = (data: Record<string, string> | undefined, key: string) => {
  const value = data?.[key]
  return value === undefined ? {} : { [key]: Buffer.from(value, "base64").toString("utf8") }
}

const contentsOf = (secret: V1Secret): SecretContents => {
  const d = { ...unb64(secret.data, "ca.crt"), ...unb64(secret.data, "ca.key"), ...unb64(secret.data, "tls.crt"), ...unb64(secret.data, "tls.key") }
  return {
    ...(d["ca.crt"] === undefined ? {} : { caCrt: d["ca.crt"] }),
    ...(d["ca.key"] === undefined ? {} : { caKey: d["ca.key"] }),
    ...(d["tls.crt"] === undefined ? {} : { tlsCrt: d["tls.crt"] }),
    ...(d["tls.key"] === undefined ? {} : { tlsKey: d["tls.key"] }),
  }
}

const dataOf = (c: Required<SecretContents>) => ({ "ca.crt": b64(c.caCrt), "ca.key": b64(c.caKey), "tls.crt": b64(c.tlsCrt), "tls.key": b64(c.tlsKey) })

const failure = (what: string) => (error: KubeApiError) => new CertificateError({ message: `${what}: ${apiErrorText(error)}` })

class Conflict extends Data.TaggedError("Conflict")<{}> {}

const settingsOf = (options: CertificateOptions): Settings => {
  const serviceName = options.serviceName ?? certificateDefaults.serviceName
  return {
    secretName: options.secretName ?? certificateDefaults.secretName,
    serviceName,
    webhookConfigurationName: options.webhookConfigurationName ?? certificateDefaults.webhookConfigurationName,
    conversionCrdName: options.conversionCrdName ?? certificateDefaults.conversionCrdName,
    caValidityMs: options.caValidityMs ?? certificateDefaults.caValidityMs,
    servingValidityMs: options.servingValidityMs ?? certificateDefaults.servingValidityMs,
    backdateMs: options.backdateMs ?? certificateDefaults.backdateMs,
    checkIntervalMs: options.checkIntervalMs ?? certificateDefaults.checkIntervalMs,
    dnsNames: servingDnsNames(serviceName, options.namespace),
    ipAddresses: options.ipAddresses ?? [],
  }
}

/**
 * One pass: read the Secret, reuse or renew what it holds (create-or-read, replace at the version
 * read), then make sure both caBundles carry ca.crt. Returns what to serve.
 */
export const ensureCertificates = (options: CertificateOptions): Effect.Effect<ServingCertificate, CertificateError> => {
  const settings = settingsOf(options)
  const { namespace } = options
  const { api } = options
  const name = settings.secretName

  const once: Effect.Effect<ServingCertificate, CertificateError | Conflict> = Effect.gen(function* () {
    const existing = yield* api.get<V1Secret>(resources.secrets, { namespace, name }).pipe(
      Effect.map((s): V1Secret | undefined => s),
      Effect.catchIf((error) => error.status === 404, () => Effect.succeed(undefined)),
      Effect.mapError(failure(`reading Secret ${namespace}/${name}`)),
    )
    const nowMs = yield* Clock.currentTimeMillis
    const plan = assess(existing === undefined ? undefined : contentsOf(existing), nowMs, settings)
    if (plan._tag === "Reuse") return plan.certificate
    const contents = renew(plan, nowMs, settings, namespace)
    const write = existing === undefined
      ? api.create<V1Secret>(resources.secrets, namespace, {
        metadata: { name, namespace, labels: { app: "metallb" } },
        type: "kubernetes.io/tls",
        data: dataOf(contents),
      })
      : api.replace<V1Secret>(resources.secrets, { namespace, name }, { ...existing, data: { ...existing.data, ...dataOf(contents) } })
    yield* write.pipe(Effect.mapError((error) => (error.status === 409 ? new Conflict() : failure(`writing Secret ${namespace}/${name}`)(error))))
    yield* Effect.logInfo(`webhook certificates: ${plan._tag === "RenewAll" ? "new CA and serving certificate" : "new serving certificate"} in Secret ${namespace}/${name} (${plan.reason})`)
    const serving = new X509Certificate(contents.tlsCrt)
    return { certPem: contents.tlsCrt, keyPem: contents.tlsKey, caBundlePem: contents.caCrt, notAfterMs: serving.validToDate.getTime() }
  })

  // Another replica wrote first: what it wrote is read (and reused) on the next attempt.
  const settled = once.pipe(
    Effect.retry({ while: (e) => e._tag === "Conflict", times: 5 }),
    Effect.catchTag("Conflict", () => Effect.fail(new CertificateError({ message: `Secret ${namespace}/${name} kept changing under us` }))),
  )
  return Effect.gen(function* () {
    const certificate = yield* settled
    yield* patchCaBundles(api, settings, certificate.caBundlePem)
    return certificate
  })
}

type JsonPatch = ReadonlyArray<JsonPatchOperation>

/**
 * Reads an object and, when `ops` says something differs, JSON-patches it guarded by the
 * resourceVersion read. A concurrent writer (another replica) fails the guard (422, or 409): read again.
 * 404 means nothing to patch (an installation without that object).
 */
const patchGuarded = <T extends { readonly metadata?: { readonly resourceVersion?: string } }>(
  what: string,
  read: Effect.Effect<T, KubeApiError>,
  ops: (object: T) => JsonPatch | undefined,
  patch: (body: JsonPatch) => Effect.Effect<unknown, KubeApiError>,
): Effect.Effect<"patched" | "unchanged" | "missing", CertificateError> => {
  class Raced extends Data.TaggedError("Raced")<{}> {}
  const attempt = Effect.gen(function* () {
    const object = yield* read.pipe(
      Effect.map((o): T | undefined => o),
      Effect.catchIf((error) => error.status === 404, () => Effect.succeed(undefined)),
      Effect.mapError(failure(`reading ${what}`)),
    )
    if (object === undefined) return "missing" as const
    const changes = ops(object)
    if (changes === undefined || changes.length === 0) return "unchanged" as const
    yield* patch([{ op: "test", path: "/metadata/resourceVersion", value: object.metadata?.resourceVersion }, ...changes]).pipe(
      Effect.mapError((error) => (error.status === 422 || error.status === 409 ? new Raced() : failure(`patching the caBundle of ${what}`)(error))),
    )
    return "patched" as const
  })
  return attempt.pipe(
    Effect.retry({ while: (e) => e._tag === "Raced", times: 5 }),
    Effect.catchTag("Raced", () => Effect.fail(new CertificateError({ message: `${what} kept changing under us` }))),
  )
}

/**
 * Both caBundles. A failure is logged, not raised: the certificate can be served regardless, and the
 * next pass tries again.
 */
const patchCaBundles = (api: KubeApi["Service"], settings: Settings, bundlePem: string): Effect.Effect<void> => {
  const caBundle = b64(bundlePem)
  const vwcName = settings.webhookConfigurationName
  const crdName = settings.conversionCrdName
  const webhooks = patchGuarded(
    `ValidatingWebhookConfiguration ${vwcName}`,
    api.get<V1ValidatingWebhookConfiguration>(resources.validatingWebhookConfigurations, { name: vwcName }),
    (vwc) => (vwc.webhooks ?? []).flatMap((w, i) =>
      w.clientConfig.caBundle === caBundle
        ? []
        : [{ op: "test" as const, path: `/webhooks/${i}/name`, value: w.name }, { op: "add" as const, path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle }]),
    (body) => api.patchJson(resources.validatingWebhookConfigurations, { name: vwcName }, body),
  )
  const conversion = patchGuarded(
    `CustomResourceDefinition ${crdName}`,
    api.get<V1CustomResourceDefinition>(resources.customResourceDefinitions, { name: crdName }),
    (crd) => {
      const webhook = crd.spec.conversion?.strategy === "Webhook" ? crd.spec.conversion.webhook : undefined
      if (webhook?.clientConfig === undefined || webhook.clientConfig.caBundle === caBundle) return undefined
      return [{ op: "add" as const, path: "/spec/conversion/webhook/clientConfig/caBundle", value: caBundle }]
    },
    (body) => api.patchJson(resources.customResourceDefinitions, { name: crdName }, body),
  )
  const report = (what: string) => (outcome: "patched" | "unchanged" | "missing") =>
    outcome === "patched" ? Effect.logInfo(`webhook certificates: caBundle written to ${what}`)
    : outcome === "missing" ? Effect.logDebug(`webhook certificates: no ${what} to patch`)
    : Effect.void
  return Effect.gen(function* () {
    yield* webhooks.pipe(Effect.flatMap(report(`ValidatingWebhookConfiguration ${vwcName}`)), Effect.catch((e) => Effect.logWarning(`webhook certificates: ${e.message}`)))
    yield* conversion.pipe(Effect.flatMap(report(`the conversion webhook of CustomResourceDefinition ${crdName}`)), Effect.catch((e) => Effect.logWarning(`webhook certificates: ${e.message}`)))
  })
}

export interface ManagedCertificates {
  /** What to serve now. */
  readonly current: Effect.Effect<ServingCertificate>
  /** Each certificate that replaces the one served (renewed here or by another replica). */
  readonly changes: Stream.Stream<ServingCertificate>
  /** A pass now (otherwise every checkIntervalMs). */
  readonly refresh: Effect.Effect<ServingCertificate, CertificateError>
}

/**
 * The first pass (retried with backoff until it succeeds: nothing can be served without it), then a
 * pass every checkIntervalMs for the life of the scope. A failing pass is logged and retried at the
 * next interval; the certificate in use stays.
 */
export const manageCertificates = (options: CertificateOptions): Effect.Effect<ManagedCertificates, never, Scope.Scope> =>
  Effect.gen(function* () {
    const settings = settingsOf(options)
    const pass = ensureCertificates(options)
    const initial = yield* pass.pipe(
      Effect.tapError((error) => Effect.logWarning(`webhook certificates: ${error.message} (retrying)`)),
      Effect.retry(Schedule.min([Schedule.exponential("500 millis"), Schedule.spaced("30 seconds")])),
      Effect.orDie, // the schedule never ends
    )
    const current = yield* Ref.make(initial)
    const changes = yield* Queue.sliding<ServingCertificate>(1)
    const refresh = Effect.gen(function* () {
      const next = yield* pass
      const before = yield* Ref.getAndSet(current, next)
      if (before.certPem !== next.certPem) yield* Queue.offer(changes, next)
      return next
    })
    yield* Effect.forkScoped(Effect.forever(
      Effect.sleep(Duration.millis(settings.checkIntervalMs)).pipe(
        Effect.andThen(refresh),
        Effect.catch((error) => Effect.logWarning(`webhook certificates: ${error.message}`)),
      ),
    ))
    return { current: Ref.get(current), changes: Stream.fromQueue(changes), refresh }
  })
