// The controller's HTTPS endpoint for the API server: the validating admission webhooks at MetalLB's
// paths (/validate-metallb-io-<version>-<kind>) and the BGPPeer /convert webhook, served with the
// certificate the controller manages itself (certificates.ts) and swapped in place when it rotates, so
// a rotation never drops a connection. The server never crashes on input: what is not a review gets a
// 4xx with a sentence saying why, a configuration it cannot read refuses the write (failurePolicy Fail
// would anyway) instead of letting it through unjudged.
import { createServer, type Server } from "node:https"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Data, Effect, FiberSet, Result, type Scope, Stream } from "effect"
import { type CertificateOptions, manageCertificates } from "./certificates.ts"
import type { KubeApi } from "./kube-api.ts"
import { admissionReview, admit, admittedKinds, type AdmittedKind, decodeAdmissionReview } from "./webhook/admission.ts"
import { convert, decodeConversionReview } from "./webhook/conversion.ts"
import type { ObjectSource } from "./webhook/source.ts"
import type { KeyPair } from "./webhook/x509.ts"

export class WebhookServerError extends Data.TaggedError("WebhookServerError")<{ readonly message: string }> {}

export interface WebhookServerOptions {
  /** The namespace metallb-ts runs in: objects elsewhere are refused. */
  readonly namespace: string
  /** The namespace's current metallb.io objects and Secrets (the controller's informer caches). */
  readonly objects: ObjectSource
  readonly certificate: KeyPair
  /** Default 9443 (MetalLB's); 0 picks a free port. */
  readonly port?: number
  /** Default "::" (every address of both families). */
  readonly host?: string
  /** Largest request body read; an AdmissionReview holds two objects of up to ~1.5 MiB each. Default 8 MiB. */
  readonly maxBodyBytes?: number
}

export interface WebhookServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number
  /** New connections use this certificate from now on; open ones keep theirs. */
  readonly setCertificate: (certificate: KeyPair) => Effect.Effect<void, WebhookServerError>
}

interface Reply {
  readonly status: number
  readonly body: unknown
}

const validatePrefix = "/validate-metallb-io-"

const text = (status: number, message: string): Reply => ({ status, body: message })

const readBody = (req: IncomingMessage, limit: number): Promise<Buffer | "too large"> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    let done = false
    req.on("data", (chunk: Buffer) => {
      if (done) return
      size += chunk.length
      if (size > limit) {
        done = true
        resolve("too large")
        return
      }
      chunks.push(chunk)
    })
    req.on("end", () => {
      if (!done) resolve(Buffer.concat(chunks))
    })
    req.on("error", reject)
    // A client that goes away mid-body: settle, so nothing waits for an end that never comes.
    req.on("close", () => {
      if (!req.complete) reject(new Error("connection closed before the body ended"))
    })
  })

const handle = (options: WebhookServerOptions, req: IncomingMessage): Effect.Effect<Reply> =>
  Effect.gen(function* () {
    const path = (req.url ?? "").split("?")[0] ?? "" // the API server appends ?timeout=10s
    const kind: AdmittedKind | undefined = path.startsWith(validatePrefix)
      ? (admittedKinds as Record<string, AdmittedKind>)[path.slice(validatePrefix.length)]
      : undefined
    if (path !== "/convert" && kind === undefined) return text(404, `no webhook at ${JSON.stringify(path)}`)
    if (req.method !== "POST") return text(405, `${req.method ?? "?"} ${path}: webhooks take POST`)
    const raw = yield* Effect.promise(() => readBody(req, options.maxBodyBytes ?? 8 * 1024 * 1024).catch(() => "unreadable" as const))
    if (raw === "too large") return text(413, `request body larger than ${options.maxBodyBytes ?? 8 * 1024 * 1024} bytes`)
    if (raw === "unreadable") return text(400, "request body could not be read")
    let body: unknown
    try {
      body = JSON.parse(raw.toString("utf8"))
    } catch (error) {
      return text(400, `request body is not JSON: ${(error as Error).message}`)
    }
    if (kind === undefined) {
      const request = decodeConversionReview(body)
      if (Result.isFailure(request)) return text(400, request.failure.message)
      const response = convert(request.success)
      if (response.response.result.status === "Failure") yield* Effect.logWarning(`webhook /convert: ${response.response.result.message}`)
      return { status: 200, body: response }
    }
    const request = decodeAdmissionReview(body, kind)
    if (Result.isFailure(request)) return text(400, request.failure.message)
    const current = yield* Effect.result(options.objects)
    if (Result.isFailure(current)) {
      const message = `metallb-ts cannot read the current configuration to judge this change: ${String(current.failure)}`
      yield* Effect.logWarning(`webhook ${path}: ${message}`)
      return { status: 200, body: admissionReview({ uid: request.success.uid, allowed: false, status: { code: 503, reason: "ServiceUnavailable", message } }) }
    }
    const response = admit(request.success, kind, current.success, options.namespace)
    if (!response.allowed) {
      yield* Effect.logInfo(`webhook: refused ${request.success.operation} ${kind} ${request.success.namespace ?? ""}/${request.success.name ?? ""}: ${response.status?.message ?? ""}`)
    }
    return { status: 200, body: admissionReview(response) }
  })

const send = (res: ServerResponse, reply: Reply) => {
  if (res.headersSent || res.destroyed) return
  const json = typeof reply.body !== "string"
  const payload = json ? JSON.stringify(reply.body) : `${String(reply.body)}\n`
  res.writeHead(reply.status, {
    "content-type": json ? "application/json" : "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(payload),
    ...(reply.status === 405 ? { allow: "POST" } : {}),
    // A body we did not read to the end cannot be followed by another request on this connection.
    ...(reply.status === 413 ? { connection: "close" } : {}),
  })
  res.end(payload)
}

/** Serves the webhooks until the scope closes. */
export const serveWebhooks = (options: WebhookServerOptions): Effect.Effect<WebhookServer, WebhookServerError, Scope.Scope> =>
  Effect.gen(function* () {
    const run = yield* FiberSet.makeRuntimePromise<never>()
    const server = yield* Effect.try({
      try: () => createServer({ cert: options.certificate.certPem, key: options.certificate.keyPem, minVersion: "TLSv1.2" }),
      catch: (error) => new WebhookServerError({ message: `webhook certificate unusable: ${String(error)}` }),
    })
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      run(handle(options, req)).then(
        (reply) => send(res, reply),
        (error: unknown) => send(res, text(500, `internal error: ${String(error)}`)),
      )
    })
    // Handshake failures (a client that does not trust us yet) and broken sockets are the client's
    // problem: never an unhandled 'error' event.
    server.on("tlsClientError", () => undefined)
    server.on("clientError", (_error, socket) => socket.destroy())
    yield* Effect.acquireRelease(listen(server, options.port ?? 9443, options.host ?? "::"), () =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      }))
    const port = (server.address() as AddressInfo).port
    yield* Effect.logInfo(`webhooks: serving HTTPS on port ${port}`)
    return {
      port,
      setCertificate: (certificate: KeyPair) =>
        Effect.try({
          try: () => server.setSecureContext({ cert: certificate.certPem, key: certificate.keyPem, minVersion: "TLSv1.2" }),
          catch: (error) => new WebhookServerError({ message: `new webhook certificate unusable, keeping the old one: ${String(error)}` }),
        }),
    }
  })

const listen = (server: Server, port: number, host: string) =>
  Effect.callback<void, WebhookServerError>((resume) => {
    const onError = (error: Error) => resume(Effect.fail(new WebhookServerError({ message: `cannot listen on [${host}]:${port}: ${error.message}` })))
    server.once("error", onError)
    server.listen(port, host, () => {
      server.off("error", onError)
      server.on("error", () => undefined)
      resume(Effect.void)
    })
  })

export interface WebhookOptions extends Omit<WebhookServerOptions, "certificate"> {
  /** The API the certificate Secret and the caBundles are written through. */
  readonly api: KubeApi["Service"]
  /** Overrides of the certificate manager's defaults (names, validity, extra IP SANs, check interval). */
  readonly certificates?: Omit<CertificateOptions, "api" | "namespace">
}

/**
 * Everything the controller needs: the managed certificate (Secret metallb-webhook-cert, caBundles
 * patched), the HTTPS server with it, and every rotation (by this replica or another) swapped in.
 */
export const runWebhooks = (options: WebhookOptions): Effect.Effect<WebhookServer, WebhookServerError, Scope.Scope> =>
  Effect.gen(function* () {
    const certificates = yield* manageCertificates({ ...options.certificates, api: options.api, namespace: options.namespace })
    const server = yield* serveWebhooks({ ...options, certificate: yield* certificates.current })
    yield* Effect.forkScoped(Stream.runForEach(certificates.changes, (certificate) =>
      server.setCertificate(certificate).pipe(
        Effect.andThen(Effect.logInfo("webhooks: serving the rotated certificate")),
        Effect.catch((error) => Effect.logWarning(error.message)),
      )))
    return server
  })
