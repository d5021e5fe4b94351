// How to reach one API server: its URL, the TLS settings and the headers that authenticate a request.
// Credentials are asked for at every request, so a token file that the kubelet rotates (a projected
// ServiceAccount token, renewed well before its hour is up) is read again, as client-go does: at most once
// a minute, and at once after a 401. An exec or auth-provider user gets its credentials from client-node
// (loaded only then: shell/kube/http/kubeconfig.ts).
import { readFileSync } from "node:fs"

export interface TlsSettings {
  /** PEM; absent: the system's roots. */
  readonly ca?: string | Buffer | undefined
  readonly cert?: string | Buffer | undefined
  readonly key?: string | Buffer | undefined
  readonly rejectUnauthorized: boolean
  /** SNI and the name the server's certificate must carry (kubeconfig tls-server-name). */
  readonly servername?: string | undefined
}

export interface Credentials {
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string>>>
  readonly tls: TlsSettings
}

export interface ClusterAccess {
  /** The API server's base URL (a path prefix is kept). */
  readonly server: URL
  /** The kubeconfig context in use; "" in-cluster. */
  readonly context: string
  /** Where the settings came from, for messages: "in-cluster", "kubeconfig /root/.kube/config context kind". */
  readonly origin: string
  readonly credentials: () => Promise<Credentials>
  /** The server answered 401: credentials read from files are read again before the next request. */
  readonly unauthorized: () => void
}

export class KubeConfigError extends Error {
  override readonly name = "KubeConfigError"
}

export interface TokenFile {
  readonly token: () => string
  readonly invalidate: () => void
}

/**
 * A bearer token kept in a file, read again once `refreshMs` has passed (client-go: one minute) or after
 * invalidate(). A read that fails keeps the last token (the kubelet swaps the file by renaming; a
 * request in between must not lose its credentials); a first read that fails is an error naming `field`.
 */
export const tokenFile = (path: string, field: string, refreshMs = 60_000, now: () => number = Date.now): TokenFile => {
  let cached: { readonly token: string; readonly readAtMs: number } | undefined
  return {
    token: () => {
      if (cached !== undefined && now() - cached.readAtMs < refreshMs) return cached.token
      try {
        const token = readFileSync(path, "utf8").trim()
        if (token === "") throw new Error("the file is empty")
        cached = { token, readAtMs: now() }
      } catch (error) {
        if (cached === undefined) throw new KubeConfigError(`${field}: cannot read the token file ${path}: ${error instanceof Error ? error.message : String(error)}`)
        cached = { token: cached.token, readAtMs: now() }
      }
      return cached.token
    },
    invalidate: () => {
      if (cached !== undefined) cached = { token: cached.token, readAtMs: Number.NEGATIVE_INFINITY }
    },
  }
}

export interface StaticAccess {
  readonly server: URL
  readonly context: string
  readonly origin: string
  readonly tls: TlsSettings
  /** Headers that do not change (basic auth, impersonation). */
  readonly headers?: Readonly<Record<string, string | ReadonlyArray<string>>>
  readonly token?: string | TokenFile | undefined
}

/** Access with fixed TLS settings and a fixed or file-backed bearer token. */
export const staticAccess = (settings: StaticAccess): ClusterAccess => {
  const fixed: Credentials = { headers: settings.headers ?? {}, tls: settings.tls }
  const token = settings.token
  let last: { readonly token: string; readonly credentials: Credentials } | undefined
  return {
    server: settings.server,
    context: settings.context,
    origin: settings.origin,
    credentials: () => {
      if (token === undefined) return Promise.resolve(fixed)
      try {
        const value = typeof token === "string" ? token : token.token()
        // The same object while the token is the same: the HTTP client keys its connection pools by it.
        if (last?.token !== value) last = { token: value, credentials: { tls: settings.tls, headers: { ...fixed.headers, authorization: `Bearer ${value}` } } }
        return Promise.resolve(last.credentials)
      } catch (error) {
        return Promise.reject(error)
      }
    },
    unauthorized: () => {
      if (typeof token === "object") token.invalidate()
    },
  }
}
