// A plan for people (text) and for pipelines (JSON). The text leads with what changes for Services,
// then announcements, then the configuration's warnings; every line names the object it is about.
import { formatConfigError } from "../config/errors.ts"
import type { Announcement } from "./announcements.ts"
import { exitCodeOf, type Plan, recordsPoolOnly, type ServiceChange } from "./plan.ts"
import { describeReason } from "./reasons.ts"

const list = (addresses: ReadonlyArray<string>) => (addresses.length === 0 ? "none" : addresses.join(","))
const count = (n: number, noun: string, plural = `${noun}s`) => `${n} ${n === 1 ? noun : plural}`

const serviceLine = (change: ServiceChange): string => {
  const why = change.reasons.map(describeReason)
  const pending = change.alreadyPending ? [`with the live configuration alone it would get ${list(change.withLiveConfig ?? [])}`] : []
  const because = [...why, ...pending].join("; ")
  const suffix = because === "" ? "" : ` (${because})`
  switch (change.kind) {
    case "moves":
      return `~ ${change.service}: ${list(change.before)} -> ${list(change.after)}${suffix}`
    case "loses":
      return `- ${change.service}: loses ${list(change.before)}${suffix}`
    case "gains":
      return `+ ${change.service}: gets ${list(change.after)}${suffix}`
    case "pool":
      if (change.poolBefore === undefined) return `. ${change.service}: keeps ${list(change.after)}; its pool ${change.poolAfter} is recorded in the metallb.io/ip-allocated-from-pool annotation`
      return `~ ${change.service}: keeps ${list(change.after)}, pool ${change.poolBefore ?? "none"} -> ${change.poolAfter ?? "none"}${suffix}`
  }
}

const announcementText = (a: Announcement): string =>
  a.protocol === "layer2"
    ? `layer2 ${a.target} (${a.service}) from ${a.node} on ${a.interfaces === undefined || a.interfaces.length === 0 ? "every interface" : a.interfaces.join(",")}`
    : `bgp ${a.target} (${a.service}) from ${a.node} to peer ${a.peer}${a.localPref === undefined ? "" : ` local-pref ${a.localPref}`}${
      a.communities === undefined || a.communities.length === 0 ? "" : ` communities ${a.communities.join(",")}`
    }`

export const formatPlanText = (plan: Plan): string => {
  const lines: Array<string> = [`cluster: ${plan.source}${plan.mode === "takeover" ? " (takeover: the live configuration, a controller starting from the addresses in status)" : ""}`]
  for (const note of plan.notes) lines.push(`note: ${note}`)
  for (const e of plan.liveErrors) lines.push(`live configuration error: ${formatConfigError(e)}`)
  if (plan.objects.length > 0) {
    lines.push("configuration:")
    for (const o of plan.objects) lines.push(`  ${o.change} ${o.kind}/${o.name}`)
  }
  if (plan.ignoredDocuments > 0) lines.push(`ignored: ${count(plan.ignoredDocuments, "document")} of other kinds`)
  for (const e of plan.errors) lines.push(`error: ${formatConfigError(e)}`)
  for (const w of plan.warnings) lines.push(`warning: ${formatConfigError(w)}`)
  if (!plan.valid) {
    lines.push(`invalid: ${count(plan.errors.length, "error")}; nothing would be applied (the controller keeps the configuration in force)`)
    return lines.join("\n")
  }
  if (plan.services.length > 0) {
    lines.push("services:")
    for (const change of plan.services) lines.push(`  ${serviceLine(change)}`)
  }
  for (const p of plan.pending) lines.push(`  . ${p.service}: still without an address (${p.message})`)
  const { appearing, disappearing, changing } = plan.announcements
  if (appearing.length + disappearing.length + changing.length > 0) {
    lines.push("announcements:")
    for (const a of disappearing) lines.push(`  - ${announcementText(a)}`)
    for (const a of appearing) lines.push(`  + ${announcementText(a)}`)
    for (const [b, a] of changing) lines.push(`  ~ ${announcementText(b)} -> ${announcementText(a)}`)
  }
  const by = (kind: ServiceChange["kind"]) => plan.services.filter((s) => s.kind === kind && !recordsPoolOnly(s)).length
  lines.push(
    `summary: ${count(by("moves"), "service")} change address, ${by("loses")} lose it, ${by("gains")} get one, ${by("pool")} change pool only, ` +
      `${plan.unchanged} keep theirs, ${plan.pending.length} stay pending; ` +
      `${appearing.length} announcements appear, ${disappearing.length} disappear, ${changing.length} change`,
    exitCodeOf(plan) === 0 ? "no change for any Service" : "changes: exit status 2",
  )
  return lines.join("\n")
}

export const formatPlanJson = (plan: Plan): string =>
  JSON.stringify({ exitCode: exitCodeOf(plan), ...plan }, (_, value) => (typeof value === "bigint" ? value.toString() : value), 2)
