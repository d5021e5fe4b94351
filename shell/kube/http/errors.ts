// A failed request as the KubeApiError callers decide on: the operation, the object, the HTTP status and
// the reason and message of the Status body the API server sends with every failure (a body that is not a
// Status, from a proxy say, becomes the message as it came).
import { KubeApiError } from "../api-error.ts"
import type { ResourceType } from "../kube-api.ts"
import type { HttpResult } from "./client.ts"

export interface Target {
  readonly type: ResourceType
  /** namespace/name, name, namespace/* or * (with a label selector). */
  readonly object: string
}

const resourceOf = (type: ResourceType) => (type.group === "" ? type.plural : `${type.plural}.${type.group}`)

/** From a response with a failing status, or from an error thrown before one arrived. */
export const apiError = (operation: string, target: Target, failure: HttpResult | unknown): KubeApiError => {
  if (failure instanceof KubeApiError) return failure
  const base = { operation, resource: resourceOf(target.type), object: target.object }
  const result = failure as Partial<HttpResult>
  if (typeof result?.status === "number" && typeof result.text === "string") {
    let status: { reason?: unknown; message?: unknown } | undefined
    try {
      const parsed = JSON.parse(result.text) as unknown
      if (typeof parsed === "object" && parsed !== null) status = parsed as typeof status
    } catch {
      status = undefined
    }
    const message = typeof status?.message === "string" && status.message !== "" ? status.message : result.text.trim() === "" ? `HTTP ${result.status}` : result.text.trim().slice(0, 500)
    return new KubeApiError({ ...base, status: result.status, ...(typeof status?.reason === "string" && status.reason !== "" ? { reason: status.reason } : {}), message })
  }
  return new KubeApiError({ ...base, message: failure instanceof Error ? failure.message : String(failure) })
}
