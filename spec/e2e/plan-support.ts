// What the plan e2e tests share: running `metallb-ts plan` as a process against the testbed's API
// server (as the admin, like an operator's kubectl), and the Services' addresses and pools as they are.
import { spawnSync } from "node:child_process"
import type { CoreV1Api } from "@kubernetes/client-node"
import type { ApiServer } from "../support/apiserver.ts"
import { ingressOf } from "../support/controller-process.ts"

const repo = new URL("../..", import.meta.url).pathname

export interface PlannedChange {
  readonly service: string
  readonly kind: string
  readonly before: ReadonlyArray<string>
  readonly after: ReadonlyArray<string>
  readonly poolAfter?: string
  readonly alreadyPending: boolean
  readonly reasons: ReadonlyArray<{ readonly _tag: string }>
}

export interface PlannedAnnouncement {
  readonly protocol: "layer2" | "bgp"
  readonly service: string
  readonly node: string
  readonly target: string
  readonly peer?: string
  readonly localPref?: number
}

export interface PlanJson {
  readonly exitCode: number
  readonly announcements: { readonly appearing: ReadonlyArray<PlannedAnnouncement>; readonly disappearing: ReadonlyArray<PlannedAnnouncement> }
  readonly valid: boolean
  readonly services: ReadonlyArray<PlannedChange>
  readonly unchanged: number
  readonly notes: ReadonlyArray<string>
}

export interface PlanRun {
  readonly status: number | null
  readonly json: PlanJson
  readonly text: string
}

/** `metallb-ts plan --kubeconfig <admin> ARGS` with -o json, then again as text for failure messages. */
export const runPlan = (api: ApiServer, args: ReadonlyArray<string>): PlanRun => {
  const run = (output: "json" | "text") =>
    spawnSync(process.execPath, ["shell/main/cli.ts", "plan", "--kubeconfig", api.kubeConfigPath, "-o", output, ...args], { cwd: repo, encoding: "utf8", timeout: 120_000 })
  const json = run("json")
  if (json.status !== 0 && json.status !== 2) throw new Error(`plan failed (${json.status}): ${json.stderr}${json.stdout}`)
  const text = run("text")
  return { status: json.status, json: JSON.parse(json.stdout) as PlanJson, text: text.stdout }
}

export interface ServiceState {
  readonly ingress: string
  readonly pool: string | undefined
}

/** namespace/name -> its addresses (comma-separated, in status order) and pool annotation. */
export const servicesIn = async (core: CoreV1Api, namespace: string): Promise<Map<string, ServiceState>> =>
  new Map((await core.listNamespacedService({ namespace })).items.map((s) => [
    `${namespace}/${s.metadata?.name}`,
    { ingress: ingressOf(s).join(","), pool: s.metadata?.annotations?.["metallb.io/ip-allocated-from-pool"] },
  ]))

/** The services as the plan says the controller will leave them. */
export const predicted = (live: ReadonlyMap<string, ServiceState>, plan: PlanJson): Map<string, ServiceState> => {
  const next = new Map(live)
  for (const change of plan.services) next.set(change.service, { ingress: change.after.join(","), pool: change.poolAfter })
  return next
}
