// The few HTTP requests KubeApi sends, over node:http/node:https with keep-alive connection pools: a
// request/response with a JSON body, and a streamed response read line by line (watches). One pool per
// distinct TLS settings (a rotated client certificate gets a pool of its own; tokens travel in headers).
// A 401 makes the credentials be read again (a rotated token file) and the request is sent once more.
import { createHash } from "node:crypto"
import * as http from "node:http"
import * as https from "node:https"
import type { ClusterAccess, Credentials, TlsSettings } from "./cluster-access.ts"
import { LineSplitter } from "./lines.ts"

export interface HttpResult {
  readonly status: number
  readonly text: string
}

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>
  readonly body?: unknown
  readonly contentType?: string
  readonly signal?: AbortSignal | undefined
  /** No byte for this long fails the request (ETIMEDOUT); default 60 s. */
  readonly idleTimeoutMs?: number
}

/** A failure before a status arrived (refused, reset, TLS, timeout): the status is absent. */
export class TransportError extends Error {
  override readonly name = "TransportError"
  readonly code: string | undefined
  constructor(message: string, code?: string) {
    super(message)
    this.code = code
  }
}

const fingerprint = (tls: TlsSettings): string => {
  const hash = createHash("sha256")
  for (const value of [tls.ca, tls.cert, tls.key, tls.servername, String(tls.rejectUnauthorized)]) {
    hash.update(value === undefined ? "\u0000" : value)
    hash.update("\u0001")
  }
  return hash.digest("hex")
}

export class KubeHttp {
  private readonly agents = new Map<string, http.Agent>()
  private lastTls: TlsSettings | undefined
  private lastAgent: http.Agent | undefined
  private readonly secure: boolean
  private readonly basePath: string

  readonly access: ClusterAccess

  constructor(access: ClusterAccess) {
    this.access = access
    this.secure = access.server.protocol === "https:"
    this.basePath = access.server.pathname.replace(/\/+$/, "")
  }

  private agentFor(tls: TlsSettings): http.Agent {
    if (tls === this.lastTls && this.lastAgent !== undefined) return this.lastAgent
    const key = fingerprint(tls)
    let agent = this.agents.get(key)
    if (agent === undefined) {
      // keepAlive: the Lease renewal every 2 s and the status writes reuse a connection instead of a
      // TCP and TLS handshake each.
      agent = this.secure
        ? new https.Agent({
          keepAlive: true,
          ...(tls.ca === undefined ? {} : { ca: tls.ca }),
          ...(tls.cert === undefined ? {} : { cert: tls.cert }),
          ...(tls.key === undefined ? {} : { key: tls.key }),
          ...(tls.servername === undefined ? {} : { servername: tls.servername }),
          rejectUnauthorized: tls.rejectUnauthorized,
        })
        : new http.Agent({ keepAlive: true })
      this.agents.set(key, agent)
    }
    this.lastTls = tls
    this.lastAgent = agent
    return agent
  }

  private url(path: string, query: RequestOptions["query"]): string {
    const params = new URLSearchParams()
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) params.set(key, String(value))
    const search = params.toString()
    return `${this.basePath}${path}${search === "" ? "" : `?${search}`}`
  }

  private open(method: string, path: string, options: RequestOptions, credentials: Credentials, onResponse: (response: http.IncomingMessage, done: (result: HttpResult | Error) => void) => void): Promise<HttpResult> {
    return new Promise((resolve, reject) => {
      let settled = false
      const done = (result: HttpResult | Error) => {
        if (settled) return
        settled = true
        if (result instanceof Error) reject(result)
        else resolve(result)
      }
      const body = options.body === undefined ? undefined : JSON.stringify(options.body)
      const headers: Record<string, string | Array<string>> = { accept: "application/json", "user-agent": "metallb-ts" }
      for (const [key, value] of Object.entries(credentials.headers)) headers[key] = typeof value === "string" ? value : [...value]
      if (body !== undefined) {
        headers["content-type"] = options.contentType ?? "application/json"
        headers["content-length"] = String(Buffer.byteLength(body))
      }
      const { hostname, port } = this.access.server
      const request = (this.secure ? https : http).request({
        method,
        hostname: hostname.startsWith("[") ? hostname.slice(1, -1) : hostname,
        port: port === "" ? (this.secure ? 443 : 80) : Number(port),
        path: this.url(path, options.query),
        headers,
        agent: this.agentFor(credentials.tls),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        timeout: options.idleTimeoutMs ?? 60_000,
      }, (response) => onResponse(response, done))
      request.on("timeout", () => request.destroy(new TransportError(`no answer from ${this.access.server.host} for ${Math.round((options.idleTimeoutMs ?? 60_000) / 1000)} s`, "ETIMEDOUT")))
      request.on("error", (error: Error & { code?: string }) =>
        done(error.name === "AbortError" || error instanceof TransportError ? error : new TransportError(`${error.code === undefined ? "" : `${error.code}: `}${error.message}`, error.code)))
      request.end(body)
    })
  }

  private async withCredentials(run: (credentials: Credentials) => Promise<HttpResult>): Promise<HttpResult> {
    const first = await run(await this.access.credentials())
    if (first.status !== 401) return first
    this.access.unauthorized()
    return run(await this.access.credentials())
  }

  /** A request with a JSON body (or none); the whole response as text. */
  request(method: string, path: string, options: RequestOptions = {}): Promise<HttpResult> {
    return this.withCredentials((credentials) =>
      this.open(method, path, options, credentials, (response, done) => {
        const chunks: Array<Buffer> = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("end", () => done({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }))
        response.on("error", (error) => done(new TransportError(`reading the response: ${error.message}`)))
        response.on("aborted", () => done(new TransportError("the response was cut off", "ECONNRESET")))
      }))
  }

  /**
   * A streamed GET: each complete line of a 200 response goes to `onLine` as it arrives; resolves when the
   * server ends the stream ({ status: 200, text: "" }). Any other status resolves with the whole body.
   */
  stream(path: string, options: RequestOptions, onLine: (line: string) => void): Promise<HttpResult> {
    return this.withCredentials((credentials) =>
      this.open("GET", path, options, credentials, (response, done) => {
        const status = response.statusCode ?? 0
        response.setEncoding("utf8")
        if (status !== 200) {
          let text = ""
          response.on("data", (chunk: string) => {
            text += chunk
          })
          response.on("end", () => done({ status, text }))
          response.on("error", (error) => done(new TransportError(`reading the response: ${error.message}`)))
          return
        }
        const splitter = new LineSplitter()
        const deliver = (lines: ReadonlyArray<string>) => {
          try {
            for (const line of lines) onLine(line)
          } catch (error) {
            // Settled first: destroying the response emits its own "aborted" at once.
            done(error instanceof Error ? error : new Error(String(error)))
            response.destroy()
          }
        }
        response.on("data", (chunk: string) => deliver(splitter.push(chunk)))
        response.on("end", () => {
          const last = splitter.end()
          if (last !== undefined) deliver([last])
          done({ status, text: "" })
        })
        response.on("error", (error) => done(new TransportError(`the watch stream failed: ${error.message}`)))
        response.on("aborted", () => done(new TransportError("the watch stream was cut off", "ECONNRESET")))
      }))
  }

  /** Closes idle pooled connections (open requests finish). */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy()
    this.agents.clear()
    this.lastAgent = undefined
    this.lastTls = undefined
  }
}
