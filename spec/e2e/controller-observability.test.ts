// What an operator sees of the controller process (run as its ServiceAccount with the manifests'
// RBAC against the real API server): Prometheus metrics under MetalLB's names whose pool counters
// match the pools (exact for a /64) and the IPAddressPool status; Warning events naming each invalid
// metallb.io object, once per error; JSON log lines; and HTTPS metrics admitting only tokens the API
// server says may GET /metrics (the Prometheus overlay's ClusterRole).
import { execFileSync } from "node:child_process"
import { X509Certificate } from "node:crypto"
import { mkdtempSync, readFileSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { type TLSSocket } from "node:tls"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { apiServerSkipReason, metricsReaderToken } from "../support/apiserver.ts"
import { applyYaml, type ControllerProcess, type ControllerTestbed, ingressOf, metallbNamespace, poolYaml, startControllerTestbed } from "../support/controller-process.ts"
import { eventually } from "../support/netns.ts"
import { skipUnlessCi } from "../support/skip.ts"

interface Scrape {
  readonly status: number
  readonly body: string
  readonly peerFingerprint?: string
}

const scrape = (port: number, options: { readonly tls?: boolean; readonly token?: string } = {}): Promise<Scrape> =>
  new Promise((resolve, reject) => {
    const headers = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }
    const done = (res: import("node:http").IncomingMessage) => {
      let body = ""
      res.on("data", (c: Buffer) => (body += c.toString()))
      res.on("end", () => {
        const socket = res.socket as TLSSocket
        const fingerprint = options.tls === true ? socket.getPeerCertificate?.().fingerprint256 : undefined
        resolve({ status: res.statusCode ?? 0, body, ...(fingerprint === undefined ? {} : { peerFingerprint: fingerprint }) })
      })
    }
    const req = options.tls === true
      // The ServiceMonitor's insecureSkipVerify: the token check is what protects the endpoint.
      ? httpsRequest({ host: "127.0.0.1", port, path: "/metrics", headers, rejectUnauthorized: false, agent: false }, done)
      : httpRequest({ host: "127.0.0.1", port, path: "/metrics", headers }, done)
    req.on("error", reject)
    req.end()
  })

/** Sample lines as name{labels} -> value text (kept as text: bigints stay exact). */
const samplesOf = (body: string): Map<string, string> =>
  new Map(body.split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((l) => {
    const at = l.lastIndexOf(" ")
    return [l.slice(0, at), l.slice(at + 1)] as const
  }))

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("metallb-ts controller: metrics, events and logs against the real API server", () => {
  let bed: ControllerTestbed
  let controller: ControllerProcess

  beforeAll(async () => {
    bed = await startControllerTestbed()
    applyYaml(bed.api, [
      poolYaml("v4", ["192.0.2.0/24"]),
      poolYaml("v6", ["2001:db8:3::/64"], "  autoAssign: false\n"),
      poolYaml("both", ["198.51.100.0/25", "2001:db8:4::/120"], "  autoAssign: false\n"),
      poolYaml("buggy", ["203.0.113.0/24"], "  autoAssign: false\n  avoidBuggyIPs: true\n"),
    ].join("---\n"))
    controller = await bed.start("controller-metrics", [], { metrics: true })
    const create = (name: string, annotations: Record<string, string>, extra: Record<string, unknown> = {}) =>
      bed.core.createNamespacedService({ namespace: "default", body: { metadata: { name, annotations }, spec: { type: "LoadBalancer", selector: { app: name }, ports: [{ port: 80 }], ...extra } } })
    await Promise.all([
      create("a", {}), create("b", {}), create("c", {}),
      create("six-1", { "metallb.io/address-pool": "v6" }, { ipFamilies: ["IPv6"] }),
      create("six-2", { "metallb.io/address-pool": "v6" }, { ipFamilies: ["IPv6"] }),
      create("dual", { "metallb.io/address-pool": "both" }, { ipFamilyPolicy: "RequireDualStack", ipFamilies: ["IPv4", "IPv6"] }),
    ])
    await eventually("every service addressed", async () => {
      const items = (await bed.core.listNamespacedService({ namespace: "default" })).items.filter((s) => s.spec?.type === "LoadBalancer")
      return items.length === 6 && items.every((s) => ingressOf(s).length > 0) ? true : undefined
    }, { timeoutMs: 30_000 })
  }, 120_000)

  afterAll(async () => {
    await bed?.stop()
  })

  it("exports MetalLB's allocator gauges per pool, exact for a /64, matching the IPAddressPool status", async () => {
    const samples = await eventually("pool gauges with every service counted", async () => {
      const s = samplesOf((await scrape(controller.metricsPort)).body)
      // Gauges follow the allocator at once; the status writes (and their counters) a moment later.
      const written = s.get("metallb_ts_controller_service_address_seconds_count") === "6" && s.has("metallb_ts_controller_reconcile_duration_seconds_count")
      return written && s.get('metallb_allocator_addresses_in_use_total{pool="both"}') === "2" && s.get('metallb_allocator_addresses_in_use_total{pool="v4"}') === "3" ? s : undefined
    })
    const expected: Record<string, Record<string, string>> = {
      v4: { addresses_total: "256", ipv4_addresses_total: "256", ipv6_addresses_total: "0", addresses_in_use_total: "3", ipv4_addresses_in_use_total: "3", ipv6_addresses_in_use_total: "0" },
      v6: { addresses_total: "18446744073709551616", ipv4_addresses_total: "0", ipv6_addresses_total: "18446744073709551616", addresses_in_use_total: "2", ipv4_addresses_in_use_total: "0", ipv6_addresses_in_use_total: "2" },
      both: { addresses_total: "384", ipv4_addresses_total: "128", ipv6_addresses_total: "256", addresses_in_use_total: "2", ipv4_addresses_in_use_total: "1", ipv6_addresses_in_use_total: "1" },
      buggy: { addresses_total: "254", ipv4_addresses_total: "254", ipv6_addresses_total: "0", addresses_in_use_total: "0", ipv4_addresses_in_use_total: "0", ipv6_addresses_in_use_total: "0" },
    }
    for (const [pool, series] of Object.entries(expected)) {
      for (const [suffix, value] of Object.entries(series)) expect(samples.get(`metallb_allocator_${suffix}{pool="${pool}"}`), `${suffix}{pool=${pool}}`).toBe(value)
    }
    // The same numbers as the pools' status (int64 there: the /64 is capped at 2^53-1 in JSON).
    for (const pool of ["v4", "v6", "both", "buggy"]) {
      const status = await eventually(`pool ${pool} status`, async () =>
        ((await bed.custom.getNamespacedCustomObject({ group: "metallb.io", version: "v1beta1", namespace: metallbNamespace, plural: "ipaddresspools", name: pool })) as { status?: Record<string, number> }).status)
      const series = expected[pool]!
      expect(status["assignedIPv4"]).toBe(Number(series["ipv4_addresses_in_use_total"]))
      expect(status["assignedIPv6"]).toBe(Number(series["ipv6_addresses_in_use_total"]))
      expect(status["availableIPv4"]).toBe(Number(BigInt(series["ipv4_addresses_total"]!) - BigInt(series["ipv4_addresses_in_use_total"]!)))
      const availableV6 = BigInt(series["ipv6_addresses_total"]!) - BigInt(series["ipv6_addresses_in_use_total"]!)
      expect(status["availableIPv6"]).toBe(availableV6 > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(availableV6))
    }
    expect(samples.get("metallb_k8s_client_config_loaded_bool")).toBe("1")
    expect(samples.get("metallb_k8s_client_config_stale_bool")).toBe("0")
    expect(samples.get("metallb_ts_controller_leader_bool")).toBe("1")
    expect(Number(samples.get("metallb_k8s_client_updates_total"))).toBeGreaterThanOrEqual(6 * 2) // status with its annotation (one write), event each
    expect(samples.get("metallb_k8s_client_update_errors_total")).toBe("0")
    expect(Number(samples.get("metallb_ts_controller_reconcile_duration_seconds_count"))).toBeGreaterThan(0)
    expect(Number(samples.get("process_cpu_seconds_total"))).toBeGreaterThan(0)
    // Freeing an address shows at once.
    await bed.core.deleteNamespacedService({ name: "c", namespace: "default" })
    await eventually("in-use count down", async () =>
      samplesOf((await scrape(controller.metricsPort)).body).get('metallb_allocator_addresses_in_use_total{pool="v4"}') === "2" ? true : undefined)
  })

  it("names each invalid metallb.io object in a Warning event (ConfigurationError), once per error, and flags the configuration stale", async () => {
    const configEvents = async () =>
      (await bed.events.listNamespacedEvent({ namespace: metallbNamespace })).items.filter((e) => e.reason === "ConfigurationError")
    applyYaml(bed.api, poolYaml("clash", ["192.0.2.128/25"]))
    const [first] = await eventually("a ConfigurationError event", async () => {
      const events = await configEvents()
      return events.length > 0 ? events : undefined
    })
    expect(first?.type).toBe("Warning")
    expect(first?.regarding).toMatchObject({ apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", name: "clash", namespace: metallbNamespace })
    expect(first?.regarding?.uid).toBeTruthy()
    expect(first?.note).toMatch(/overlaps/)
    await eventually("stale flag", async () =>
      samplesOf((await scrape(controller.metricsPort)).body).get("metallb_k8s_client_config_stale_bool") === "1" ? true : undefined)

    // A second bad object: its own event; the first error is not reported again.
    applyYaml(bed.api, poolYaml("clash-2", ["192.0.2.64/26"]))
    await eventually("an event for clash-2", async () => ((await configEvents()).some((e) => e.regarding?.name === "clash-2") ? true : undefined))
    await sleep(5_000) // several resyncs
    const events = await configEvents()
    expect(events.filter((e) => e.regarding?.name === "clash")).toHaveLength(1)
    expect(events.filter((e) => e.regarding?.name === "clash-2")).toHaveLength(1)
    // Nobody lost an address meanwhile, and the gauges still show the configuration in force.
    expect(ingressOf(await bed.core.readNamespacedService({ name: "a", namespace: "default" }))).toHaveLength(1)
    expect(samplesOf((await scrape(controller.metricsPort)).body).get("metallb_k8s_client_config_loaded_bool")).toBe("1")

    bed.api.kubectl(["delete", "ipaddresspool", "clash", "clash-2", "-n", metallbNamespace])
    await eventually("configuration valid again", async () =>
      samplesOf((await scrape(controller.metricsPort)).body).get("metallb_k8s_client_config_stale_bool") === "0" ? true : undefined)
  })

  it("logs one JSON object per line, with level and message, honouring --log-level", () => {
    const lines = controller.output().split("\n").filter((l) => l.trim() !== "")
    expect(lines.length).toBeGreaterThan(5)
    const entries = lines.map((line) => {
      try {
        return JSON.parse(line) as { level: string; message: unknown; timestamp: string }
      } catch {
        throw new Error(`not a JSON log line: ${line}`)
      }
    })
    for (const e of entries) {
      expect(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]).toContain(e.level)
      expect(Number.isNaN(Date.parse(e.timestamp))).toBe(false)
    }
    expect(entries.some((e) => e.level === "INFO" && String(e.message).includes("configuration applied"))).toBe(true)
    expect(entries.some((e) => e.level === "WARN" && String(e.message).includes("configuration invalid"))).toBe(true)
  })

  it("serves HTTPS with the webhook certificate's Secret and admits only tokens allowed to GET /metrics", async () => {
    // The Secret the webhook's certificate manager keeps (tls.crt, tls.key), made here with openssl.
    const dir = mkdtempSync(join(tmpdir(), "mlbt-metrics-tls-"))
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "tls.key"),
      "-out", join(dir, "tls.crt"), "-days", "1", "-subj", "/CN=metallb-webhook-service.metallb-system.svc"], { stdio: "pipe" })
    const certPem = readFileSync(join(dir, "tls.crt"), "utf8")
    await bed.core.createNamespacedSecret({
      namespace: metallbNamespace,
      body: { metadata: { name: "metallb-webhook-cert" }, type: "kubernetes.io/tls", data: { "tls.crt": Buffer.from(certPem).toString("base64"), "tls.key": readFileSync(join(dir, "tls.key")).toString("base64") } },
    })
    // The Prometheus overlay's ClusterRole and binding for monitoring/prometheus-k8s.
    const prometheus = { token: await metricsReaderToken(bed.api) }
    const stranger = await bed.api.serviceAccountToken("monitoring", "stranger")

    // A second replica (a follower: the first holds the Lease), text logs.
    const secure = await bed.start("controller-tls", ["--metrics-tls=true", "--log-format", "text"], { metrics: true })
    const allowed = await eventually("an authorized HTTPS scrape", async () => {
      const r = await scrape(secure.metricsPort, { tls: true, token: prometheus.token }).catch(() => undefined)
      return r?.status === 200 ? r : undefined
    })
    expect(allowed.peerFingerprint).toBe(new X509Certificate(certPem).fingerprint256)
    const samples = samplesOf(allowed.body)
    expect(samples.get("metallb_ts_controller_leader_bool")).toBe("0")
    expect([...samples.keys()].some((k) => k.startsWith("metallb_allocator_"))).toBe(false) // only the leader exports pools
    expect((await scrape(secure.metricsPort, { tls: true })).status).toBe(401)
    expect((await scrape(secure.metricsPort, { tls: true, token: "not-a-token" })).status).toBe(401)
    const forbidden = await scrape(secure.metricsPort, { tls: true, token: stranger.token })
    expect(forbidden.status).toBe(403)
    expect(forbidden.body).toContain("system:serviceaccount:monitoring:stranger")
    await expect(scrape(secure.metricsPort)).rejects.toThrow() // no plain HTTP on the TLS port
    // Text logs when asked for.
    expect(secure.output()).toMatch(/INFO .*metrics: serving https:/)
    expect(secure.output().split("\n").some((l) => l.startsWith("{"))).toBe(false)
  })
})
