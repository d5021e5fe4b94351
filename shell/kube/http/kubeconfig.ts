// Kubeconfigs and in-cluster settings read by our own code, so that starting the controller or the speaker
// does not load @kubernetes/client-node (its KubeConfig module pulls in the whole generated model graph,
// ~80 MiB of RSS). Where to look follows client-node's loadFromDefault: --kubeconfig, else $KUBECONFIG
// (files joined by ":", the first to name a cluster, user or context wins, as kubectl merges them), else
// ~/.kube/config, else in-cluster. Every field of a kubeconfig is honoured or refused with an error that
// names it; fields that do not affect a connection (preferences, extensions, a context's namespace) are
// accepted, unknown ones are warned about. A user with `exec` or `auth-provider` (OIDC, cloud plugins)
// is left to client-node, imported only then: that is where it earns its place.
import { existsSync, readFileSync } from "node:fs"
import type { RequestOptions } from "node:https"
import { homedir } from "node:os"
import { delimiter, dirname, isAbsolute, join } from "node:path"
import { parse } from "yaml"
import { type ClusterAccess, type Credentials, KubeConfigError, staticAccess, type TlsSettings, tokenFile } from "./cluster-access.ts"

export interface LoadOptions {
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly home?: string
  /** Where a pod finds its ServiceAccount's token, CA and namespace. */
  readonly serviceAccountDir?: string
  /** Fields accepted but not understood (a newer kubeconfig version) are reported here; default: stderr. */
  readonly warn?: (message: string) => void
  readonly tokenRefreshMs?: number
}

export const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

type Raw = Record<string, unknown>

const warnToStderr = (message: string) => {
  process.stderr.write(`metallb-ts: ${message}\n`)
}

/** The settings `--kubeconfig path` (or, without it, the default places) describe. */
export const loadClusterAccess = (path: string | undefined, options: LoadOptions = {}): ClusterAccess => {
  const env = options.env ?? process.env
  if (path !== undefined && path !== "") return fromFiles([path], options)
  const fromEnv = (env["KUBECONFIG"] ?? "").split(delimiter).filter((p) => p !== "")
  if (fromEnv.length > 0) return fromFiles(fromEnv, options)
  const home = join(options.home ?? homedir(), ".kube", "config")
  if (existsSync(home)) return fromFiles([home], options)
  return inClusterAccess(options)
}

/** A pod's own settings: KUBERNETES_SERVICE_HOST/PORT, the ServiceAccount token (re-read as it rotates) and CA. */
export const inClusterAccess = (options: LoadOptions = {}): ClusterAccess => {
  const env = options.env ?? process.env
  const host = env["KUBERNETES_SERVICE_HOST"]
  const port = env["KUBERNETES_SERVICE_PORT"]
  if (host === undefined || host === "" || port === undefined || port === "") {
    throw new KubeConfigError("no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) and not in a cluster (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set)")
  }
  const dir = options.serviceAccountDir ?? serviceAccountDir
  const caFile = join(dir, "ca.crt")
  const token = tokenFile(join(dir, "token"), "in-cluster ServiceAccount token", options.tokenRefreshMs)
  token.token() // a missing token is an error now, not at the first request
  return staticAccess({
    server: new URL(`https://${host.includes(":") ? `[${host}]` : host}:${port}`),
    context: "",
    origin: "in-cluster",
    tls: { ca: readNamed(caFile, "in-cluster CA"), rejectUnauthorized: true },
    token,
  })
}

const readNamed = (path: string, field: string): Buffer => {
  try {
    return readFileSync(path)
  } catch (error) {
    throw new KubeConfigError(`${field}: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`)
  }
}

interface Named {
  readonly name: string
  readonly value: Raw
  /** The directory relative paths in `value` are resolved against. */
  readonly dir: string
  readonly file: string
}

interface Merged {
  readonly files: ReadonlyArray<string>
  readonly clusters: Map<string, Named>
  readonly users: Map<string, Named>
  readonly contexts: Map<string, Named>
  currentContext: string
}

const isRecord = (value: unknown): value is Raw => typeof value === "object" && value !== null && !Array.isArray(value)

const fromFiles = (paths: ReadonlyArray<string>, options: LoadOptions): ClusterAccess => {
  const merged: Merged = { files: paths, clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: "" }
  for (const file of paths) {
    let text: string
    try {
      text = readFileSync(file, "utf8")
    } catch (error) {
      // kubectl skips a missing file in $KUBECONFIG's list; one named on its own must exist.
      if (paths.length > 1 && (error as { code?: string }).code === "ENOENT") continue
      throw new KubeConfigError(`cannot read the kubeconfig ${file}: ${error instanceof Error ? error.message : String(error)}`)
    }
    mergeText(merged, text, file, options)
  }
  return accessOf(merged, options)
}

/** The settings a kubeconfig's text describes (relative paths resolved against `file`'s directory). */
export const clusterAccessFromText = (text: string, file: string, options: LoadOptions = {}): ClusterAccess => {
  const merged: Merged = { files: [file], clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: "" }
  mergeText(merged, text, file, options)
  return accessOf(merged, options)
}

const topLevel = new Set(["apiVersion", "kind", "clusters", "users", "contexts", "current-context", "preferences", "extensions"])

const mergeText = (merged: Merged, text: string, file: string, options: LoadOptions) => {
  let document: unknown
  try {
    document = parse(text)
  } catch (error) {
    throw new KubeConfigError(`${file}: not YAML: ${error instanceof Error ? error.message : String(error)}`)
  }
  if (document === null || document === undefined) return
  if (!isRecord(document)) throw new KubeConfigError(`${file}: a kubeconfig is a mapping (apiVersion, clusters, users, contexts, current-context)`)
  const warn = options.warn ?? warnToStderr
  for (const key of Object.keys(document)) if (!topLevel.has(key)) warn(`${file}: kubeconfig field ${key} is not understood and ignored`)
  const dir = dirname(file)
  const section = (key: "clusters" | "users" | "contexts", inner: "cluster" | "user" | "context", into: Map<string, Named>) => {
    const list = document[key]
    if (list === undefined || list === null) return
    if (!Array.isArray(list)) throw new KubeConfigError(`${file}: ${key} is not a list`)
    list.forEach((entry: unknown, index) => {
      if (!isRecord(entry) || typeof entry["name"] !== "string" || entry["name"] === "") throw new KubeConfigError(`${file}: ${key}[${index}].name is missing`)
      const value = entry[inner] ?? {}
      if (!isRecord(value)) throw new KubeConfigError(`${file}: ${key}[${index}].${inner} is not a mapping`)
      if (!into.has(entry["name"])) into.set(entry["name"], { name: entry["name"], value, dir, file })
    })
  }
  section("clusters", "cluster", merged.clusters)
  section("users", "user", merged.users)
  section("contexts", "context", merged.contexts)
  const current = document["current-context"]
  if (merged.currentContext === "" && typeof current === "string") merged.currentContext = current
}

const clusterFields = new Set(["server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify", "tls-server-name", "proxy-url", "disable-compression", "extensions"])
const userFields = new Set([
  "client-certificate",
  "client-certificate-data",
  "client-key",
  "client-key-data",
  "token",
  "tokenFile",
  "username",
  "password",
  "as",
  "as-uid",
  "as-groups",
  "as-user-extra",
  "exec",
  "auth-provider",
  "extensions",
])
const contextFields = new Set(["cluster", "user", "namespace", "extensions", "name"])

const accessOf = (merged: Merged, options: LoadOptions): ClusterAccess => {
  const where = merged.files.join(delimiter)
  const contextName = merged.currentContext
  if (contextName === "") throw new KubeConfigError(`kubeconfig ${where}: current-context is not set`)
  const context = merged.contexts.get(contextName)
  if (context === undefined) throw new KubeConfigError(`kubeconfig ${where}: current-context ${contextName} names no entry in contexts`)
  const warn = options.warn ?? warnToStderr
  const unknown = (entry: Named, known: Set<string>, path: string) => {
    for (const key of Object.keys(entry.value)) if (!known.has(key)) warn(`${entry.file}: ${path}.${key} is not understood and ignored`)
  }
  unknown(context, contextFields, `contexts[${contextName}].context`)
  const clusterName = context.value["cluster"]
  if (typeof clusterName !== "string" || clusterName === "") throw new KubeConfigError(`${context.file}: contexts[${contextName}].context.cluster is missing`)
  const cluster = merged.clusters.get(clusterName)
  if (cluster === undefined) throw new KubeConfigError(`${context.file}: contexts[${contextName}].context.cluster ${clusterName} names no entry in clusters`)
  const userName = context.value["user"]
  const user = typeof userName === "string" && userName !== "" ? merged.users.get(userName) : undefined
  if (typeof userName === "string" && userName !== "" && user === undefined) {
    throw new KubeConfigError(`${context.file}: contexts[${contextName}].context.user ${userName} names no entry in users`)
  }
  const c = `clusters[${clusterName}].cluster`
  const u = `users[${String(userName)}].user`
  unknown(cluster, clusterFields, c)
  if (user !== undefined) unknown(user, userFields, u)
  const origin = `kubeconfig ${where} context ${contextName}`

  const cv = cluster.value
  const str = (entry: Named, key: string, path: string): string | undefined => {
    const value = entry.value[key]
    if (value === undefined || value === null || value === "") return undefined
    if (typeof value !== "string") throw new KubeConfigError(`${entry.file}: ${path}.${key} is not a string`)
    return value
  }
  const file = (entry: Named, key: string, path: string) => {
    const p = str(entry, key, path)
    return p === undefined ? undefined : isAbsolute(p) ? p : join(entry.dir, p)
  }
  const data = (entry: Named, key: string, path: string) => {
    const b64 = str(entry, key, path)
    if (b64 === undefined) return undefined
    const bytes = Buffer.from(b64, "base64")
    if (bytes.length === 0) throw new KubeConfigError(`${entry.file}: ${path}.${key} is not base64`)
    return bytes
  }
  const one = (entry: Named, path: string, dataKey: string, fileKey: string): Buffer | undefined => {
    const inline = data(entry, dataKey, path)
    const fromFile = file(entry, fileKey, path)
    if (inline !== undefined && fromFile !== undefined) throw new KubeConfigError(`${entry.file}: ${path}: ${dataKey} and ${fileKey} are both set; keep one`)
    return inline ?? (fromFile === undefined ? undefined : readNamed(fromFile, `${path}.${fileKey}`))
  }

  const serverText = str(cluster, "server", c)
  if (serverText === undefined) throw new KubeConfigError(`${cluster.file}: ${c}.server is missing`)
  let server: URL
  try {
    server = new URL(serverText)
  } catch {
    throw new KubeConfigError(`${cluster.file}: ${c}.server ${serverText} is not a URL`)
  }
  if (server.protocol !== "https:" && server.protocol !== "http:") throw new KubeConfigError(`${cluster.file}: ${c}.server ${serverText}: only https:// and http:// are supported`)
  const proxy = str(cluster, "proxy-url", c)
  if (proxy !== undefined) {
    throw new KubeConfigError(`${cluster.file}: ${c}.proxy-url ${proxy}: metallb-ts connects to the API server directly and does not support a proxy; remove the field or reach the server without one`)
  }
  const insecure = cv["insecure-skip-tls-verify"]
  if (insecure !== undefined && typeof insecure !== "boolean") throw new KubeConfigError(`${cluster.file}: ${c}.insecure-skip-tls-verify is not true or false`)
  const ca = one(cluster, c, "certificate-authority-data", "certificate-authority")
  if (insecure === true && ca !== undefined) throw new KubeConfigError(`${cluster.file}: ${c}: insecure-skip-tls-verify and a certificate authority are both set; keep one`)
  const servername = str(cluster, "tls-server-name", c)

  const uv = user?.value ?? {}
  if (user !== undefined && (uv["exec"] !== undefined || uv["auth-provider"] !== undefined)) {
    return pluginAccess(merged, contextName, server, origin)
  }
  const cert = user === undefined ? undefined : one(user, u, "client-certificate-data", "client-certificate")
  const key = user === undefined ? undefined : one(user, u, "client-key-data", "client-key")
  if ((cert === undefined) !== (key === undefined)) throw new KubeConfigError(`${user?.file}: ${u}: a client certificate needs its key (client-certificate and client-key, or their -data forms)`)
  const token = user === undefined ? undefined : str(user, "token", u)
  const tokenPath = user === undefined ? undefined : file(user, "tokenFile", u)
  const username = user === undefined ? undefined : str(user, "username", u)
  const password = user === undefined ? undefined : str(user, "password", u)
  if ((token !== undefined || tokenPath !== undefined) && (username !== undefined || password !== undefined)) {
    throw new KubeConfigError(`${user?.file}: ${u}: a bearer token (token, tokenFile) and basic auth (username, password) are both set; keep one`)
  }
  const headers: Record<string, string | ReadonlyArray<string>> = {}
  if (username !== undefined || password !== undefined) headers["authorization"] = `Basic ${Buffer.from(`${username ?? ""}:${password ?? ""}`).toString("base64")}`
  if (user !== undefined) Object.assign(headers, impersonation(user, u))
  const tls: TlsSettings = { ca, cert, key, rejectUnauthorized: insecure !== true, servername }
  return staticAccess({
    server,
    context: contextName,
    origin,
    tls,
    headers,
    // client-go: the file's last successful read takes precedence over token.
    token: tokenPath !== undefined ? readFirst(tokenFile(tokenPath, `${u}.tokenFile`, options.tokenRefreshMs)) : token,
  })
}

const readFirst = <T extends { readonly token: () => string }>(source: T): T => {
  source.token()
  return source
}

/** as, as-uid, as-groups, as-user-extra: the Impersonate-* headers, as kubectl sends them. */
const impersonation = (user: Named, path: string): Record<string, string | ReadonlyArray<string>> => {
  const v = user.value
  const out: Record<string, string | ReadonlyArray<string>> = {}
  const strings = (value: unknown, field: string): ReadonlyArray<string> => {
    if (!Array.isArray(value) || value.some((x) => typeof x !== "string")) throw new KubeConfigError(`${user.file}: ${path}.${field} is not a list of strings`)
    return value as ReadonlyArray<string>
  }
  if (v["as"] !== undefined && v["as"] !== "") {
    if (typeof v["as"] !== "string") throw new KubeConfigError(`${user.file}: ${path}.as is not a string`)
    out["impersonate-user"] = v["as"]
  }
  if (v["as-uid"] !== undefined && v["as-uid"] !== "") {
    if (typeof v["as-uid"] !== "string") throw new KubeConfigError(`${user.file}: ${path}.as-uid is not a string`)
    out["impersonate-uid"] = v["as-uid"]
  }
  if (v["as-groups"] !== undefined && v["as-groups"] !== null) out["impersonate-group"] = strings(v["as-groups"], "as-groups")
  const extra = v["as-user-extra"]
  if (extra !== undefined && extra !== null) {
    if (!isRecord(extra)) throw new KubeConfigError(`${user.file}: ${path}.as-user-extra is not a mapping`)
    for (const [key, values] of Object.entries(extra)) out[`impersonate-extra-${encodeURIComponent(key)}`] = strings(values, `as-user-extra.${key}`)
  }
  if (Object.keys(out).length > 0 && out["impersonate-user"] === undefined && out["impersonate-uid"] === undefined) {
    // kubectl refuses groups or extras without a user to impersonate; so does the API server.
    throw new KubeConfigError(`${user.file}: ${path}: as-groups or as-user-extra need as (the user to impersonate)`)
  }
  return out
}

/** The merged kubeconfig as one document with absolute paths, for client-node to read. */
const documentOf = (merged: Merged): Raw => {
  const absolute = (entry: Named, keys: ReadonlyArray<string>) => {
    const value = { ...entry.value }
    for (const key of keys) {
      const p = value[key]
      if (typeof p === "string" && p !== "" && !isAbsolute(p)) value[key] = join(entry.dir, p)
    }
    return value
  }
  return {
    apiVersion: "v1",
    kind: "Config",
    "current-context": merged.currentContext,
    clusters: [...merged.clusters.values()].map((e) => ({ name: e.name, cluster: absolute(e, ["certificate-authority"]) })),
    users: [...merged.users.values()].map((e) => ({ name: e.name, user: absolute(e, ["client-certificate", "client-key", "tokenFile"]) })),
    contexts: [...merged.contexts.values()].map((e) => ({ name: e.name, context: e.value })),
  }
}

/**
 * An exec or auth-provider user: client-node's KubeConfig runs the plugin (and caches what it returns until
 * it expires); each request takes the headers and TLS settings it would apply. Loaded at the first request.
 */
const pluginAccess = (merged: Merged, contextName: string, server: URL, origin: string): ClusterAccess => {
  const text = JSON.stringify(documentOf(merged))
  let loaded: Promise<import("@kubernetes/client-node").KubeConfig> | undefined
  const load = () =>
    (loaded ??= import("@kubernetes/client-node").then((module) => {
      const kc = new module.KubeConfig()
      kc.loadFromString(text)
      kc.setCurrentContext(contextName)
      return kc
    }))
  return {
    server,
    context: contextName,
    origin: `${origin} (user credentials from client-node)`,
    credentials: async (): Promise<Credentials> => {
      const kc = await load()
      const options: RequestOptions = {}
      await kc.applyToHTTPSOptions(options)
      const headers: Record<string, string | ReadonlyArray<string>> = {}
      for (const [key, value] of Object.entries(options.headers ?? {})) if (value !== undefined) headers[key.toLowerCase()] = Array.isArray(value) ? value.map(String) : String(value)
      if (options.auth !== undefined && options.auth !== null) headers["authorization"] = `Basic ${Buffer.from(options.auth).toString("base64")}`
      const pem = (value: unknown) => (typeof value === "string" || Buffer.isBuffer(value) ? value : undefined)
      return {
        headers,
        tls: {
          ca: pem(options.ca),
          cert: pem(options.cert),
          key: pem(options.key),
          rejectUnauthorized: options.rejectUnauthorized !== false,
          servername: options.servername ?? undefined,
        },
      }
    },
    unauthorized: () => undefined,
  }
}
