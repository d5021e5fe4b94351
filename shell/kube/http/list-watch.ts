// List+watch of one collection with a cache keyed by namespace/name, behind client-node's Informer and
// ObjectCache surface (on/off add, update, delete, change, error; start, stop; list, get), so
// shell/kube/informer.ts wraps it unchanged. As client-go's reflector does: the list is read in pages of
// 500 (no 20,000-object response held as one string), the watch starts at the list's resourceVersion with
// bookmarks (a reconnect resumes where the last event or bookmark left off, instead of listing again), a
// watch the server ends (timeoutSeconds, 5 to 10 minutes) is opened again at once, a dropped connection or
// a 5xx/429 after a backoff, and 410 Gone (the version is too old) lists again; a list that fails, or a
// watch refused for another reason (401, 403, 404), is an "error" and the informer stops (the wrapper
// restarts it, with its own backoff). Handlers get the very object the cache keeps, so a handler may slim
// it in place (shell/kube/informer.ts projections).
import type { KubernetesObject } from "@kubernetes/client-node"
import type { KubeApiError } from "../api-error.ts"
import type { ListOptions, ResourceType, WatchSource } from "../kube-api.ts"
import type { KubeHttp } from "./client.ts"
import { apiError, type Target } from "./errors.ts"

export interface ListWatchSettings {
  readonly pageSize?: number
  /** The server ends each watch after this many seconds (default: 300 to 600, at random, as client-go). */
  readonly watchSeconds?: () => number
  readonly backoffInitialMs?: number
  readonly backoffMaxMs?: number
}

type Verb = "add" | "update" | "delete" | "change" | "error" | "connect"

const keyOf = (o: KubernetesObject) => (o.metadata?.namespace === undefined ? (o.metadata?.name ?? "") : `${o.metadata.namespace}/${o.metadata.name ?? ""}`)

export const collectionPathOf = (type: ResourceType, namespace?: string) =>
  `${type.group === "" ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`}${namespace === undefined ? "" : `/namespaces/${namespace}`}/${type.plural}`

const listTarget = (type: ResourceType, options: ListOptions): Target => ({
  type,
  object: `${options.namespace === undefined ? "*" : `${options.namespace}/*`}${options.labelSelector ? ` (${options.labelSelector})` : ""}`,
})

/**
 * Every object of a collection, a page at a time, with the list's resourceVersion. Items get the
 * apiVersion and kind the server leaves out of a core list's items (a watch's objects carry them).
 */
export const listAll = async <T extends KubernetesObject>(
  http: KubeHttp,
  type: ResourceType,
  options: ListOptions,
  signal?: AbortSignal,
  pageSize = 500,
): Promise<{ readonly items: Array<T>; readonly resourceVersion: string | undefined }> => {
  const target = listTarget(type, options)
  const apiVersion = type.group === "" ? type.version : `${type.group}/${type.version}`
  const items: Array<T> = []
  let resourceVersion: string | undefined
  let next: string | undefined
  do {
    const result = await http.request("GET", collectionPathOf(type, options.namespace), {
      query: { labelSelector: options.labelSelector || undefined, limit: pageSize, continue: next },
      signal,
    }).catch((error: unknown) => {
      throw apiError("list", target, error)
    })
    if (result.status !== 200) throw apiError("list", target, result)
    const page = JSON.parse(result.text) as { items?: Array<T> | null; metadata?: { resourceVersion?: string; continue?: string } }
    for (const item of page.items ?? []) {
      if (item.apiVersion === undefined) item.apiVersion = apiVersion
      if (item.kind === undefined) item.kind = type.kind
      items.push(item)
    }
    resourceVersion = page.metadata?.resourceVersion
    next = page.metadata?.continue || undefined
  } while (next !== undefined)
  return { items, resourceVersion }
}

/** The watch's answer to a version too old: list again. */
class Gone extends Error {}
/** An ERROR event other than 410: the informer stops. */
class Refused extends Error {
  readonly error: KubeApiError
  constructor(error: KubeApiError) {
    super(error.message)
    this.error = error
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener("abort", done)
      resolve()
    }
    signal.addEventListener("abort", done, { once: true })
  })

export const listWatch = <T extends KubernetesObject>(http: KubeHttp, type: ResourceType, options: ListOptions, settings: ListWatchSettings = {}): WatchSource<T> => {
  const handlers = new Map<Verb, Set<(value?: unknown) => void>>()
  const cache = new Map<string, T>()
  const target = listTarget(type, options)
  const path = collectionPathOf(type, options.namespace)
  const watchSeconds = settings.watchSeconds ?? (() => 300 + Math.floor(Math.random() * 300))
  const initialMs = settings.backoffInitialMs ?? 500
  const maxMs = settings.backoffMaxMs ?? 30_000
  let resourceVersion: string | undefined
  let current: AbortController | undefined

  const fire = (verb: Verb, value?: unknown) => {
    for (const handler of handlers.get(verb) ?? []) handler(value)
  }
  const upsert = (object: T) => {
    const key = keyOf(object)
    const old = cache.get(key)
    if (old !== undefined && old.metadata?.resourceVersion === object.metadata?.resourceVersion) return
    cache.set(key, object)
    fire(old === undefined ? "add" : "update", object)
    fire("change", object)
  }
  const removed = (object: T) => {
    cache.delete(keyOf(object))
    fire("delete", object)
    fire("change", object)
  }

  const relist = async (signal: AbortSignal) => {
    const list = await listAll<T>(http, type, options, signal, settings.pageSize)
    if (signal.aborted) return
    const seen = new Set<string>()
    for (const object of list.items) {
      seen.add(keyOf(object))
      upsert(object)
    }
    for (const [key, object] of cache) if (!seen.has(key)) removed(object)
    resourceVersion = list.resourceVersion
  }

  const onLine = (line: string) => {
    const event = JSON.parse(line) as { type?: string; object?: T & { code?: number; reason?: string; message?: string } }
    const object = event.object
    if (object === undefined) return
    switch (event.type) {
      case "ADDED":
      case "MODIFIED":
        upsert(object)
        break
      case "DELETED":
        if (cache.has(keyOf(object))) removed(object)
        break
      case "BOOKMARK":
        break
      case "ERROR":
        if (object.code === 410) throw new Gone()
        throw new Refused(apiError("watch", target, { status: object.code ?? 500, text: JSON.stringify(object) }))
      default:
        return
    }
    const version = object.metadata?.resourceVersion
    if (version !== undefined) resourceVersion = version
  }

  /** Lists again after 410 Gone; a list that fails is an "error" (false: the informer stops). */
  const relisted = async (signal: AbortSignal): Promise<boolean> => {
    try {
      await relist(signal)
      return !signal.aborted
    } catch (error) {
      if (!signal.aborted) fire("error", error)
      return false
    }
  }

  const watchLoop = async (signal: AbortSignal) => {
    let backoffMs = initialMs
    const backOff = async () => {
      await sleep(backoffMs, signal)
      backoffMs = Math.min(backoffMs * 2, maxMs)
    }
    while (!signal.aborted) {
      const seconds = watchSeconds()
      let events = 0
      try {
        const result = await http.stream(path, {
          query: { watch: 1, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: seconds, labelSelector: options.labelSelector || undefined },
          signal,
          // The server ends the watch after `seconds`; a connection silent well past that is dead.
          idleTimeoutMs: (seconds + 60) * 1000,
        }, (line) => {
          events += 1
          onLine(line)
        })
        if (signal.aborted) return
        if (result.status === 200) {
          if (events > 0) backoffMs = initialMs
          else await backOff() // ended at once with nothing: do not spin
          continue
        }
        if (result.status === 410) {
          if (await relisted(signal)) continue
          return
        }
        if (result.status === 429 || result.status >= 500) {
          await backOff()
          continue
        }
        fire("error", apiError("watch", target, result))
        return
      } catch (error) {
        if (signal.aborted) return
        if (error instanceof Gone) {
          if (await relisted(signal)) continue
          return
        }
        if (error instanceof Refused) {
          fire("error", error.error)
          return
        }
        if (error instanceof SyntaxError) {
          // A line that is not JSON: the stream cannot be trusted past it; list again to be whole.
          fire("error", apiError("watch", target, error))
          return
        }
        if (events > 0) backoffMs = initialMs
        await backOff()
      }
    }
  }

  const source = {
    on: (verb: Verb, handler: (value?: unknown) => void) => {
      const set = handlers.get(verb) ?? new Set()
      set.add(handler)
      handlers.set(verb, set)
    },
    off: (verb: Verb, handler: (value?: unknown) => void) => {
      handlers.get(verb)?.delete(handler)
    },
    /** Lists (the cache is diffed against the list: adds, updates, deletes) and starts watching. */
    start: async () => {
      current?.abort()
      const controller = new AbortController()
      current = controller
      try {
        await relist(controller.signal)
      } catch (error) {
        if (!controller.signal.aborted) fire("error", error)
        throw error
      }
      if (controller.signal.aborted) return
      fire("connect")
      void watchLoop(controller.signal).catch((error: unknown) => {
        if (!controller.signal.aborted) fire("error", apiError("watch", target, error))
      })
    },
    stop: async () => {
      current?.abort()
      current = undefined
    },
    list: (namespace?: string) => {
      const out: Array<T> = []
      for (const object of cache.values()) if (namespace === undefined || object.metadata?.namespace === namespace) out.push(object)
      return out
    },
    get: (name: string, namespace?: string) => cache.get(namespace === undefined ? name : `${namespace}/${name}`),
  }
  return source as unknown as WatchSource<T>
}
