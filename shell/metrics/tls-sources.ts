// Where a /metrics endpoint's TLS certificate comes from. PEM files (cert-manager or a mounted Secret)
// are read again at every reload, so a rotated file is served without a restart. Without files, a
// speaker makes its own: a throwaway CA and a serving certificate for the node's name and addresses,
// made at start and made again well before it expires. That is what kube-rbac-proxy does in MetalLB's
// manifests: the scraper skips verification (the ServiceMonitor's insecureSkipVerify) and the bearer
// token check is what guards the endpoint; TLS keeps the token and the figures off the wire.
import { readFileSync } from "node:fs"
import { Effect } from "effect"
import { issueCa, issueServing } from "../kube/webhook/x509.ts"
import type { TlsCertificate } from "./server.ts"

/** The certificate and key files as they are now; undefined (logged) while either is unreadable. */
export const certificateFromFiles = (certFile: string, keyFile: string): Effect.Effect<TlsCertificate | undefined> =>
  Effect.try(() => ({ certPem: readFileSync(certFile, "utf8"), keyPem: readFileSync(keyFile, "utf8") })).pipe(
    Effect.catch((error) => Effect.logWarning(`metrics: cannot read ${certFile} / ${keyFile}: ${String(error.cause ?? error)}`).pipe(Effect.as(undefined))),
  )

export interface SelfSignedIdentity {
  readonly commonName: string
  readonly dnsNames: ReadonlyArray<string>
  readonly ipAddresses: ReadonlyArray<string>
}

export interface SelfSignedOptions {
  readonly lifetimeMs?: number
  /** A new certificate is made once less than this is left. */
  readonly renewBeforeMs?: number
  readonly nowMs?: () => number
}

const dayMs = 24 * 3600 * 1000

/**
 * A source that makes a certificate on first use and a fresh one when the current one is within
 * `renewBeforeMs` of expiring (defaults: a year's lifetime, renewed 30 days before). The chain served
 * is the serving certificate followed by its CA.
 */
export const selfSignedCertificate = (identity: SelfSignedIdentity, options: SelfSignedOptions = {}): Effect.Effect<TlsCertificate | undefined> => {
  const lifetimeMs = options.lifetimeMs ?? 365 * dayMs
  const renewBeforeMs = options.renewBeforeMs ?? 30 * dayMs
  const now = options.nowMs ?? Date.now
  let current: { readonly certificate: TlsCertificate; readonly notAfterMs: number } | undefined
  return Effect.try(() => {
    const nowMs = now()
    if (current !== undefined && nowMs < current.notAfterMs - renewBeforeMs) return current.certificate
    // Back-dated a little: a scraper whose clock is behind must not see a certificate from the future.
    const validity = { notBeforeMs: nowMs - 5 * 60_000, notAfterMs: nowMs + lifetimeMs }
    const ca = issueCa(`${identity.commonName}-ca`, validity)
    const serving = issueServing(ca, { ...identity, ...validity })
    current = { certificate: { certPem: serving.certPem + ca.certPem, keyPem: serving.keyPem }, notAfterMs: validity.notAfterMs }
    return current.certificate
  }).pipe(Effect.catch((error) => Effect.logError(`metrics: cannot make a certificate for ${identity.commonName}: ${String(error.cause ?? error)}`).pipe(Effect.as(current?.certificate))))
}
