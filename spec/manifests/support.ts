// Shared by the manifest tests: reading YAML manifests as objects, the cached kubectl (kustomize) and
// helm binaries, and running them with their output captured whether they succeed or not.
import { execFile, execFileSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { parseAllDocuments } from "yaml"
import { kubeBinDir } from "../support/apiserver.ts"

export const repoRoot = new URL("../..", import.meta.url).pathname

export interface K8sObject {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> }
  readonly [key: string]: unknown
}

/** Every non-empty document of a multi-document YAML text; a syntax error throws with its message. */
export const parseYaml = (text: string, label = "<text>"): Array<K8sObject> =>
  parseAllDocuments(text).flatMap((doc, index) => {
    if (doc.errors.length > 0) throw new Error(`${label} document ${index}: ${doc.errors.map((e) => e.message).join("; ")}`)
    const value = doc.toJS() as K8sObject | null
    return value === null ? [] : [value]
  })

export const readYaml = (path: string): Array<K8sObject> => parseYaml(readFileSync(join(repoRoot, path), "utf8"), path)

/** Repository-relative paths of the files under `dir` (recursively) whose names satisfy `keep`. */
export const filesUnder = (dir: string, keep: (name: string) => boolean): Array<string> => {
  const out: Array<string> = []
  const walk = (at: string) => {
    for (const name of readdirSync(at).sort()) {
      const path = join(at, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (keep(name)) out.push(relative(repoRoot, path))
    }
  }
  walk(join(repoRoot, dir))
  return out
}

export const objectKey = (o: K8sObject): string => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`

export const kubectlPath = (): string => join(kubeBinDir(), "kubectl")
export const helmPath = (): string => join(kubeBinDir(), "helm")

/** Why the kubectl/helm-based tests cannot run here, or undefined. */
export const toolsSkipReason = (): string | undefined => {
  for (const tool of [kubectlPath(), helmPath()]) {
    if (!existsSync(tool)) return `no ${tool}: run \`bash .ci/kube-binaries\``
  }
  return undefined
}

export interface RunResult {
  readonly ok: boolean
  readonly stdout: string
  /** stdout and stderr together. */
  readonly output: string
}

/** Runs a command to completion; a non-zero exit is a result, not an exception. */
export const run = (command: string, args: ReadonlyArray<string>, input?: string): RunResult => {
  try {
    const output = execFileSync(command, [...args], {
      cwd: repoRoot,
      encoding: "utf8",
      timeout: 60_000,
      stdio: ["pipe", "pipe", "pipe"],
      ...(input === undefined ? {} : { input }),
    })
    return { ok: true, stdout: output, output }
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string }
    return { ok: false, stdout: e.stdout ?? "", output: `${e.stdout ?? ""}${e.stderr ?? ""}` || e.message }
  }
}

/**
 * `run`, without blocking the event loop. Tests against startApiServer() must use this: the API server's
 * logs are read by this process, and while a synchronous child runs nobody drains them, so a long run of
 * requests that log (refusals do) fills the pipe and the API server stalls mid-request.
 */
export const runAsync = (command: string, args: ReadonlyArray<string>, input?: string): Promise<RunResult> =>
  new Promise((resolve) => {
    const child = execFile(command, [...args], { cwd: repoRoot, encoding: "utf8", timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ ok: error === null, stdout, output: `${stdout}${stderr}` || (error?.message ?? "") })
    })
    child.stdin?.end(input ?? "")
  })

/** kubectl against a test API server, asynchronously (see runAsync). */
export const kubectlAsync = (kubeConfigPath: string) => (args: ReadonlyArray<string>, input?: string): Promise<RunResult> =>
  runAsync(kubectlPath(), [`--kubeconfig=${kubeConfigPath}`, ...args], input)

const mustRun = (command: string, args: ReadonlyArray<string>): string => {
  const result = run(command, args)
  if (!result.ok) throw new Error(`${command} ${args.join(" ")} failed:\n${result.output}`)
  return result.output
}

export const kustomize = (dir: string): Array<K8sObject> => parseYaml(mustRun(kubectlPath(), ["kustomize", dir]), `kustomize ${dir}`)

export const helmTemplate = (args: ReadonlyArray<string>): Array<K8sObject> =>
  parseYaml(mustRun(helmPath(), ["template", "metallb-ts", "manifests/charts/metallb-ts", ...args]), "helm template")

export const chartDir = "manifests/charts/metallb-ts"

type Json = Record<string, unknown>

export interface Container {
  readonly name: string
  readonly image: string
  readonly args?: Array<string>
  readonly env?: Array<Json>
  readonly ports?: Array<{ readonly name?: string; readonly containerPort: number; readonly protocol?: string }>
  readonly securityContext?: Json
  readonly livenessProbe?: Json
  readonly readinessProbe?: Json
  readonly startupProbe?: Json
  readonly volumeMounts?: Array<{ readonly name: string; readonly mountPath: string }>
}

export interface PodSpec {
  readonly containers: Array<Container>
  readonly serviceAccountName?: string
  readonly hostNetwork?: boolean
  readonly securityContext?: Json
  readonly tolerations?: Array<Json>
  readonly nodeSelector?: Record<string, string>
  readonly volumes?: Array<Json & { readonly name: string }>
  readonly [key: string]: unknown
}

export const find = (objects: ReadonlyArray<K8sObject>, kind: string, name: string): K8sObject => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name)
  if (found === undefined) throw new Error(`no ${kind} ${name}`)
  return found
}

export const podSpec = (workload: K8sObject): PodSpec =>
  ((workload["spec"] as Json)["template"] as Json)["spec"] as PodSpec

export const firstContainer = (workload: K8sObject): Container => {
  const container = podSpec(workload).containers[0]
  if (container === undefined) throw new Error(`${objectKey(workload)} has no container`)
  return container
}
