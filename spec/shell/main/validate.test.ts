// The configuration corpus: every valid file resolves with no error, and every invalid file reports
// exactly the errors its `# expect: Code Kind/name field` header lines list, no more, no fewer; and
// every file reports exactly the warnings its `# warn: ...` lines list.
import { readdirSync, readFileSync } from "node:fs"
import { spawnSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { formatReportText, validateFiles } from "../../../shell/main/validate.ts"

const dir = new URL("../../fixtures/config/", import.meta.url).pathname
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()

const expectedOf = (text: string, prefix = "# expect: ") =>
  text.split("\n").filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length).trim()).sort()

const describeAll = (errors: ReadonlyArray<{ code: string; object: { kind: string; name: string }; field: string }>) =>
  errors.map((e) => `${e.code} ${e.object.kind}/${e.object.name} ${e.field}`).sort()

describe("configuration corpus (spec/fixtures/config)", () => {
  it("has at least 30 files, valid and invalid", () => {
    expect(files.length).toBeGreaterThanOrEqual(30)
    expect(files.filter((f) => f.startsWith("valid-")).length).toBeGreaterThanOrEqual(10)
  })

  for (const file of files) {
    it(file, () => {
      const text = readFileSync(dir + file, "utf8")
      const report = validateFiles([{ path: file, text }])
      expect(describeAll(report.errors), formatReportText(report)).toEqual(expectedOf(text))
      expect(describeAll(report.warnings), formatReportText(report)).toEqual(expectedOf(text, "# warn: "))
      expect(report.valid).toBe(file.startsWith("valid-"))
      for (const error of report.errors) {
        expect(error.object.source?.file).toBe(file)
        expect(error.message.length).toBeGreaterThan(0)
      }
    })
  }
})

describe("metallb-ts validate (the CLI)", () => {
  const cli = (...args: Array<string>) =>
    spawnSync(process.execPath, ["shell/main/cli.ts", "validate", ...args], { encoding: "utf8", timeout: 30_000 })

  it("exits 0 on a valid file and 1 on an invalid one, naming file, document, object and field", () => {
    const ok = cli(`${dir}valid-bgp-communities.yaml`)
    expect(ok.status, ok.stderr).toBe(0)
    expect(ok.stdout).toMatch(/^valid: \d+ objects/m)
    const bad = cli(`${dir}invalid-pool-overlap-across.yaml`)
    expect(bad.status).toBe(1)
    expect(bad.stdout).toContain("invalid-pool-overlap-across.yaml#1: IPAddressPool metallb-system/second: spec.addresses[0]")
  })

  it("prints each pool's exact capacity, beyond int64 for large IPv6 pools", () => {
    const out = cli(`${dir}valid-pool-ipv6.yaml`)
    expect(out.stdout).toContain("pool v6-pool: 0 IPv4 and 18446744073709551616 IPv6 addresses assignable")
    const json = JSON.parse(cli("--output", "json", `${dir}valid-pool-dual-stack.yaml`).stdout) as { pools: Array<{ ipv4: string; ipv6: string }> }
    expect(json.pools).toEqual([{ name: "dual", ipv4: "128", ipv6: "256" }])
  })

  it("prints JSON with --output json", () => {
    const out = cli("--output", "json", `${dir}invalid-peer-zero-asn.yaml`)
    expect(out.status).toBe(1)
    const report = JSON.parse(out.stdout) as { valid: boolean; errors: Array<{ code: string; field: string; value: unknown }> }
    expect(report.valid).toBe(false)
    expect(report.errors).toMatchObject([{ code: "InvalidAsn", field: "spec.myASN", value: 0 }])
  })

  it("renders the peer conflicts with both objects and the fix, and the ignored-namespace warning", () => {
    // One run over two files, resolved together: tor (192.0.2.1, no routerID) also conflicts with spine-a twice.
    const out = cli(`${dir}invalid-peer-router-id-conflict.yaml`, `${dir}valid-peer-secret-namespace-ignored.yaml`)
    expect(out.status).toBe(1)
    expect(out.stdout).toContain(
      "invalid-peer-router-id-conflict.yaml#2: BGPPeer metallb-system/spine-c: spec.routerID: no routerID here but routerID 192.0.2.100 on BGPPeer \"spine-a\"",
    )
    expect(out.stdout).toContain("set the same routerID on both (or on neither), or give them nodeSelectors that select no common node [conflicts with BGPPeer metallb-system/spine-a spec.routerID]")
    expect(out.stdout).toContain(
      `warning: ${dir}valid-peer-secret-namespace-ignored.yaml#1: BGPPeer ` +
        "metallb-system/tor: spec.passwordSecret.namespace: ignored, as MetalLB ignores it: " +
        "the Secret \"tor-auth\" is read from namespace \"metallb-system\"; remove the namespace or set it to \"metallb-system\" (value: \"kube-system\")",
    )
    expect(out.stdout).toMatch(/^invalid: 4 errors, 1 warning in 5 objects$/m)
  })

  it("decides duplicate peers on Node documents given beside the configuration", () => {
    // The two peers of one address may meet as far as their selectors tell (the corpus shows it
    // refused alone); the Nodes given beside say they do not.
    const file = "invalid-peer-duplicate-overlapping-nodes.yaml"
    const nodes = [["n1", "rack: a"], ["n2", "zone: z"]]
      .map(([name, label]) => `apiVersion: v1\nkind: Node\nmetadata:\n  name: ${name}\n  labels: {${label}}\nstatus: {}\n`)
      .join("---\n")
    const report = validateFiles([{ path: file, text: readFileSync(dir + file, "utf8") }, { path: "nodes.yaml", text: nodes }])
    expect(formatReportText(report)).toBe("valid: 4 objects, 0 warnings")
    // As `kubectl get nodes -o yaml` prints them: one List whose items are the Nodes.
    const list = `apiVersion: v1\nkind: List\nitems:\n${nodes.split("---\n").map((node) => `- ${node.trimEnd().replaceAll("\n", "\n  ")}\n`).join("")}`
    expect(formatReportText(validateFiles([{ path: file, text: readFileSync(dir + file, "utf8") }, { path: "nodes.yaml", text: list }]))).toBe("valid: 4 objects, 0 warnings")
    const withoutNodes = validateFiles([{ path: file, text: readFileSync(dir + file, "utf8") }, { path: "nodes.yaml", text: "apiVersion: v1\nkind: List\nitems: []\n" }])
    expect(withoutNodes.errors.map((e) => e.code)).toEqual(["DuplicatePeer"])
  })

  it("reports an unreadable file instead of crashing", () => {
    const out = cli("/nonexistent/metallb.yaml")
    expect(out.status).toBe(1)
    expect(out.stderr).toContain("cannot read /nonexistent/metallb.yaml")
  })
})
