// The webhooks served by the real controller process: the API server calls them (by URL) for every
// metallb.io write, with the certificate the controller manages itself (Secret + caBundle patched into
// the ValidatingWebhookConfiguration). Runs as the controller's ServiceAccount with the manifests' RBAC.
import { readFileSync } from "node:fs"
import { parseAllDocuments } from "yaml"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { apiServerSkipReason, freePorts } from "../support/apiserver.ts"
import { type ControllerTestbed, startControllerTestbed } from "../support/controller-process.ts"
import { eventually } from "../support/netns.ts"
import { skipUnlessCi } from "../support/skip.ts"

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("the controller's admission webhooks, called by the real API server", () => {
  let bed: ControllerTestbed
  let port = 0
  beforeAll(async () => {
    bed = await startControllerTestbed()
    ;[port] = (await freePorts(1)) as [number]
    // The manifests' webhook configuration, calling the controller by URL instead of through the Service.
    const configuration = parseAllDocuments(readFileSync("manifests/base/webhook.yaml", "utf8")).map((d) => d.toJS())
      .find((d: { kind?: string }) => d.kind === "ValidatingWebhookConfiguration") as { webhooks: Array<{ clientConfig: Record<string, unknown> }> }
    for (const webhook of configuration.webhooks) {
      const path = (webhook.clientConfig["service"] as { path: string }).path
      webhook.clientConfig = { url: `https://127.0.0.1:${port}${path}` }
    }
    bed.api.kubectl(["apply", "-f", "-"], JSON.stringify(configuration))
    await bed.start("webhooks", ["--webhook-port", String(port), "--webhook-cert-ips", "127.0.0.1"])
    await eventually("the caBundle patched in by the controller", async () => {
      const bundle = bed.api.kubectl(["get", "validatingwebhookconfiguration", "metallb-webhook-configuration", "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}"])
      return bundle.length > 100 ? true : undefined
    }, { timeoutMs: 30_000 })
  }, 120_000)
  afterAll(async () => {
    await bed?.stop()
  })

  const apply = (file: string) => {
    try {
      return { ok: true, output: bed.api.kubectl(["apply", "-f", file]) }
    } catch (error) {
      return { ok: false, output: String((error as { stderr?: string }).stderr ?? error) }
    }
  }

  it("admits a valid configuration and refuses an invalid one with core's message", async () => {
    const valid = await eventually("the webhook answering", async () => {
      const result = apply("spec/fixtures/config/valid-pool-cidr.yaml")
      return result.ok ? result : undefined
    }, { timeoutMs: 30_000 })
    expect(valid.output).toContain("ipaddresspool.metallb.io/first-pool")
    const refused = apply("spec/fixtures/config/invalid-pool-overlap-across.yaml")
    expect(refused.ok).toBe(false)
    expect(refused.output).toContain("denied the request")
    expect(refused.output).toContain("overlaps with")
    const community = apply("spec/fixtures/config/invalid-bgp-community-literal.yaml")
    expect(community.ok).toBe(false)
  })
})
