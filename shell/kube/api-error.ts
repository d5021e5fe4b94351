// A failed Kubernetes API call as a typed error: which operation on which object, the HTTP status and
// the server's Status reason and message (NotFound, Conflict, AlreadyExists, Forbidden, ...), so callers
// decide on `status`/`reason` instead of probing an unknown error for a `code` field.
import { Schema } from "effect"

export class KubeApiError extends Schema.TaggedError<KubeApiError>()("KubeApiError", {
  /** list, get, create, replace, patch, patch status, delete. */
  operation: Schema.String,
  /** The resource's plural with its group: services, ipaddresspools.metallb.io. */
  resource: Schema.String,
  /** namespace/name, name for cluster-scoped objects, namespace/* or * for lists. */
  object: Schema.String,
  /** The HTTP status; absent when no response came (connection refused, timeout, TLS). */
  status: Schema.optional(Schema.Number),
  /** The Status object's reason (NotFound, Conflict, AlreadyExists, Forbidden, Invalid, ...). */
  reason: Schema.optional(Schema.String),
  message: Schema.String,
}) {}

export const isNotFound = (error: KubeApiError): boolean => error.status === 404
export const isConflict = (error: KubeApiError): boolean => error.status === 409

/** The error as a person reads it: operation, object, status and the server's message (500 characters at most). */
export const apiErrorText = (error: unknown): string => {
  if (error instanceof KubeApiError) {
    const status = error.status === undefined ? "no response" : `${error.status}${error.reason === undefined ? "" : ` ${error.reason}`}`
    return `${error.operation} ${error.resource} ${error.object}: ${status}: ${error.message}`.slice(0, 500)
  }
  const e = error as { code?: number; body?: unknown; message?: string }
  const body = typeof e.body === "string" ? e.body : JSON.stringify(e.body)
  return `${e.code ?? ""} ${e.message ?? String(error)} ${body ?? ""}`.trim().slice(0, 500)
}
