// The kubectl plugin as kubectl runs it: with shell/main/kubectl-metallb.ts on PATH as `kubectl-metallb`
// (what npm's bin link makes), `kubectl metallb explain` runs the explain command.
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { kubeBinDir } from "../../support/apiserver.ts"
import { skipUnlessCi } from "../../support/skip.ts"

const repo = new URL("../../..", import.meta.url).pathname
const kubectl = join(kubeBinDir(), "kubectl")
const dir = mkdtempSync(join(tmpdir(), "mlbt-plugin-"))

describe.skipIf(skipUnlessCi(existsSync(kubectl) ? undefined : `no ${kubectl}: run \`bash .ci/kube-binaries\``))("kubectl metallb", () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("dispatches `kubectl metallb explain` to the explain command", () => {
    symlinkSync(join(repo, "shell/main/kubectl-metallb.ts"), join(dir, "kubectl-metallb"))
    const dump = join(dir, "dump.yaml")
    writeFileSync(dump, JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: "p", namespace: "metallb-system" }, spec: { addresses: ["198.51.100.8/32"] } },
        { apiVersion: "v1", kind: "Service", metadata: { name: "web", namespace: "shop" }, spec: { type: "LoadBalancer", clusterIPs: ["198.18.0.1"], ports: [{ port: 80 }] } },
      ],
    }))
    // The pinned Node first on PATH: the plugin's shebang is `env node`.
    const path = [dir, dirname(process.execPath), process.env["PATH"] ?? ""].join(":")
    const out = execFileSync(kubectl, ["metallb", "explain", "--cluster-state", dump, "-o", "json", "shop/web"], { env: { ...process.env, PATH: path }, encoding: "utf8" })
    const explanation = JSON.parse(out) as { services: Array<{ service: string; allocation: { _tag: string; addresses?: Array<string> } }> }
    expect(explanation.services).toMatchObject([{ service: "shop/web", allocation: { _tag: "Assigned", addresses: ["198.51.100.8"] } }])
  })
})
