// The /metrics endpoint: plain HTTP, or HTTPS with a certificate that is re-read periodically (a
// rotated certificate is served without a restart), optionally behind an authorizer that checks the
// scraper's bearer token (what the manifests' ServiceMonitor sends). Only GET /metrics is served.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https"
import { Effect, FiberSet, type Scope } from "effect"

export interface TlsCertificate {
  readonly certPem: string
  readonly keyPem: string
}

export type AccessDecision =
  | { readonly _tag: "Allowed" }
  | { readonly _tag: "Unauthenticated"; readonly reason: string }
  | { readonly _tag: "Forbidden"; readonly reason: string }

export interface MetricsServerOptions {
  readonly port: number
  readonly host?: string
  readonly render: () => string
  readonly tls?: {
    /** The current certificate; undefined while there is none yet (the server waits for one). */
    readonly load: Effect.Effect<TlsCertificate | undefined>
    readonly reloadMs?: number
  }
  /** Decides each scrape; run as a fiber of the server's scope (closing it interrupts reviews in flight). */
  readonly authorize?: (bearerToken: string | undefined) => Effect.Effect<AccessDecision, unknown>
}

const contentType = "text/plain; version=0.0.4; charset=utf-8"

const bearerOf = (req: IncomingMessage): string | undefined => {
  const header = req.headers.authorization
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
  return match?.[1]
}

/** Runs an authorization as a fiber of the server's scope, for the request callback. */
type RunPromise = <A, E>(effect: Effect.Effect<A, E>) => Promise<A>

const handler = (options: MetricsServerOptions, run: RunPromise) => (req: IncomingMessage, res: ServerResponse) => {
  const path = (req.url ?? "/").split("?")[0]
  if (path !== "/metrics") {
    res.writeHead(404).end("not found\n")
    return
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD" }).end()
    return
  }
  const respond = () => {
    const body = options.render()
    res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(body) })
    res.end(req.method === "HEAD" ? undefined : body)
  }
  if (options.authorize === undefined) {
    respond()
    return
  }
  run(options.authorize(bearerOf(req))).then(
    (decision) => {
      if (decision._tag === "Allowed") respond()
      else res.writeHead(decision._tag === "Unauthenticated" ? 401 : 403, { "content-type": "text/plain" }).end(`${decision.reason}\n`)
    },
    (error: unknown) => {
      res.writeHead(500, { "content-type": "text/plain" }).end(`authorization failed: ${String(error)}\n`)
    },
  )
}

const listen = (server: Server | HttpsServer, port: number, host: string | undefined) =>
  Effect.callback<number, Error>((resume) => {
    server.once("error", (error) => resume(Effect.fail(error)))
    server.listen(port, host, () => {
      const address = server.address()
      resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : port))
    })
  })

/** Serves /metrics until the scope closes; returns the port it listens on (useful with port 0). */
export const serveMetrics = (options: MetricsServerOptions): Effect.Effect<number, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const serve = handler(options, yield* FiberSet.makeRuntimePromise<never>())
    let server: Server | HttpsServer
    const tls = options.tls
    if (tls === undefined) {
      server = createHttpServer(serve)
    } else {
      let first = yield* tls.load
      while (first === undefined) {
        yield* Effect.logInfo("metrics: waiting for a TLS certificate")
        yield* Effect.sleep("2 seconds")
        first = yield* tls.load
      }
      const https = createHttpsServer({ cert: first.certPem, key: first.keyPem }, serve)
      server = https
      let current = first
      yield* Effect.gen(function* () {
        yield* Effect.sleep(`${tls.reloadMs ?? 60_000} millis`)
        const next = yield* tls.load
        if (next === undefined || (next.certPem === current.certPem && next.keyPem === current.keyPem)) return
        https.setSecureContext({ cert: next.certPem, key: next.keyPem })
        current = next
        yield* Effect.logInfo("metrics: serving a renewed TLS certificate")
      }).pipe(
        Effect.catchCause((cause) => Effect.logWarning("metrics: certificate reload failed", cause)),
        Effect.forever,
        Effect.forkScoped,
      )
    }
    const port = yield* Effect.acquireRelease(listen(server, options.port, options.host), () =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      }))
    yield* Effect.logInfo(`metrics: serving ${tls === undefined ? "http" : "https"}://${options.host ?? "0.0.0.0"}:${port}/metrics${options.authorize === undefined ? "" : " (bearer token checked)"}`)
    return port
  })
