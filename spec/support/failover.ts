// Layer 2 failover in the end-to-end lab, measured as issue 6 asks, for the lab test and the failover
// bench alike. A crash: the owner's speaker is SIGKILLed together with its backend (a node's processes
// die together) while the client probes the address over HTTP and captures its segment; the figures
// are the time from the death to the new owner's gratuitous ARP / unsolicited NA, and to the client's
// first answer from the new owner. A hand-over: the owner's speaker gets SIGTERM while the client pings,
// and the node's link goes down as soon as the speaker has exited; the figure is the pings lost.
import { formatAddress } from "../../core/net/address.ts"
import { type CapturedFrame, type E2eLab, httpGet, type LabNode, type ProbeResult, type Recovery, recoveryOf, startCapture, startProbe, until, urlOf } from "./lab.ts"
import { type Host, sleep } from "./netns.ts"

export const nodeNamed = (lab: E2eLab, name: string | undefined): LabNode => {
  const node = lab.nodes.find((n) => n.name === name)
  if (node === undefined) throw new Error(`no node ${name}`)
  return node
}

/** Waits until the client reaches `address` on the same node several times in a row. */
export const settledOwner = async (lab: E2eLab, address: string): Promise<LabNode> => {
  let last: string | undefined
  let streak = 0
  const name = await until(`a settled owner for ${address}`, async () => {
    const body = await httpGet(lab.client, urlOf(address), 1_000)
    streak = body !== undefined && body === last ? streak + 1 : 0
    last = body
    return streak >= 3 ? body : undefined
  }, { timeoutMs: 20_000, intervalMs: 200 })
  return nodeNamed(lab, name)
}

/** Brings a node's speaker and backend back and waits until every speaker sees every other. */
export const restoreNode = async (lab: E2eLab, node: LabNode): Promise<void> => {
  if (lab.speaker(node) === undefined) lab.startSpeaker(node)
  await lab.startBackend(node).catch(() => undefined)
  await lab.waitSpeakersReady()
}

/** MACs that answered arping for `target` on `device` (Habets' arping, Debian's `arping`; or iputils'). */
export const arpingReplies = async (client: Host, target: string, device = "eth0"): Promise<ReadonlyArray<string>> => {
  const help = await client.run("arping", ["--help"]).then((r) => r.stdout + r.stderr, (e: unknown) => String(e))
  const habets = help.includes("Habets")
  const args = habets ? ["-c", "2", "-w", "2", "-i", device, target] : ["-c", "2", "-w", "2", "-I", device, target]
  const output = await client.run("arping", args, { timeoutMs: 10_000 }).then((r) => r.stdout + r.stderr, (e: unknown) => String(e))
  const escaped = target.replace(/\./g, "\\.")
  const pattern = habets ? new RegExp(`bytes from ([0-9a-f:]{17}) \\(${escaped}\\)`, "gi") : new RegExp(`reply from ${escaped} \\[([0-9a-f:]{17})\\]`, "gi")
  return [...output.matchAll(pattern)].map((m) => (m[1] ?? "").toLowerCase())
}

/** The client's neighbour entry for `address` on `device` (the MAC it sends to), if any. */
export const neighbourMac = async (client: Host, address: string, device = "eth0"): Promise<string | undefined> => {
  const { stdout } = await client.run("ip", ["-j", "neigh", "show", address, "dev", device])
  const [entry] = JSON.parse(stdout || "[]") as Array<{ lladdr?: string }>
  return entry?.lladdr?.toLowerCase()
}

export const isGratuitousArp = (f: CapturedFrame, address: string, mac: string) =>
  f.frame._tag === "ArpFrame" && f.frame.ethernet.src === mac &&
  formatAddress(f.frame.arp.senderIp) === address && formatAddress(f.frame.arp.targetIp) === address

export const isUnsolicitedNa = (f: CapturedFrame, address: string, mac: string) =>
  f.frame._tag === "NdpFrame" && f.frame.ethernet.src === mac && f.frame.ndp._tag === "NeighborAdvertisement" &&
  !f.frame.ndp.solicited && formatAddress(f.frame.ndp.target) === address

export interface CrashFailover {
  readonly owner: LabNode
  readonly successor: LabNode
  /** Death -> the successor's first gratuitous ARP for the IPv4 address (undefined: none captured). */
  readonly garpMs: number | undefined
  /** Death -> the successor's first unsolicited NA for the IPv6 address. */
  readonly naMs: number | undefined
  readonly v4: Recovery
  readonly v6: Recovery
  readonly results: ReadonlyArray<ProbeResult>
}

/**
 * SIGKILLs the settled owner of `web4`/`web6` (one Service, one owner) and measures the failover over
 * `probeMs` of probing (a failover slower than that shows as no successor). The owner stays down.
 */
export const crashOwner = async (lab: E2eLab, web4: string, web6: string, probeMs = 5_000): Promise<CrashFailover> => {
  const owner = await settledOwner(lab, web4)
  const capture = await startCapture(lab.client, "eth0", lab.dir)
  const probe = startProbe(lab.client, [urlOf(web4), urlOf(web6)], { durationMs: probeMs, timeoutMs: 250, gapMs: 20 })
  await probe.started
  await sleep(700)
  const [death] = await Promise.all([lab.stopSpeaker(owner, "SIGKILL"), lab.stopBackend(owner)])
  const results = await probe.results()
  const frames = await capture.stop()
  const v4 = recoveryOf(results.filter((r) => r.url === urlOf(web4)), death.signalledAtMs, owner.name)
  const v6 = recoveryOf(results.filter((r) => r.url === urlOf(web6)), death.signalledAtMs, owner.name)
  if (v4.firstNew === undefined) throw new Error(`the client got no answer from a new owner of ${web4} within ${probeMs} ms of ${owner.name}'s death`)
  const successor = nodeNamed(lab, v4.firstNew.body)
  const since = (frame: CapturedFrame | undefined) => (frame === undefined ? undefined : Math.round(frame.atMs - death.signalledAtMs))
  return {
    owner,
    successor,
    garpMs: since(frames.find((f) => f.atMs >= death.signalledAtMs && isGratuitousArp(f, web4, successor.mac))),
    naMs: since(frames.find((f) => f.atMs >= death.signalledAtMs && isUnsolicitedNa(f, web6, successor.mac))),
    v4,
    v6,
    results,
  }
}

export interface PingCount {
  readonly sent: number
  readonly received: number
}

export interface HandOver {
  readonly owner: LabNode
  /** SIGTERM -> the speaker's exit. */
  readonly exitedAfterMs: number
  /** The client's neighbour entries right after the old owner's speaker exited. */
  readonly mac4: string | undefined
  readonly mac6: string | undefined
  readonly ping4: PingCount
  readonly ping6: PingCount
}

const pingsOf = (output: string): PingCount => {
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(output)
  return { sent: Number(m?.[1] ?? -1), received: Number(m?.[2] ?? -2) }
}

/** SIGTERMs the settled owner while the client pings both addresses (80 each, 50 ms apart); the node's link comes back afterwards, its speaker does not. */
export const handOverOwner = async (lab: E2eLab, web4: string, web6: string): Promise<HandOver> => {
  const owner = await settledOwner(lab, web4)
  const ping4 = lab.client.spawn("ping", ["-n", "-i", "0.05", "-c", "80", "-W", "1", web4])
  const ping6 = lab.client.spawn("ping", ["-6", "-n", "-i", "0.05", "-c", "80", "-W", "1", web6])
  await sleep(500)
  const stopped = await lab.stopSpeaker(owner, "SIGTERM")
  const mac4 = await neighbourMac(lab.client, web4)
  const mac6 = await neighbourMac(lab.client, web6)
  // The node goes away once its speaker is done: any ping still sent to it from now on is lost.
  await lab.setNodeLink(owner, false)
  await Promise.all([ping4.exited, ping6.exited])
  await lab.setNodeLink(owner, true)
  return { owner, exitedAfterMs: stopped.exitedAtMs - stopped.signalledAtMs, mac4, mac6, ping4: pingsOf(ping4.output()), ping6: pingsOf(ping6.output()) }
}
