// IPAddressPool entries read as MetalLB reads them: a CIDR exactly as written (no surrounding
// whitespace), a range whose two ends may carry spaces (MetalLB's ParseCIDR trims them).
import { describe, expect, it } from "vitest"
import { resolve } from "../../../core/config/resolve.ts"
import { bgpPeer, onlyProblem, pool, problems } from "./documents.ts"

describe("pool entries and whitespace", () => {
  it("a CIDR with whitespace around it is invalid, and the error gives the CIDR to write", () => {
    for (const text of [" 192.0.2.0/24", "192.0.2.0/24 ", "\t2001:db8::/64", "192.0.2.0/24\n"]) {
      const error = onlyProblem([pool("p", [text])])
      expect(error).toMatchObject({ code: "InvalidCidr", severity: "permanent", field: "spec.addresses[0]", value: text })
      expect(error.message).toContain(`write ${JSON.stringify(text.trim())}`)
    }
    expect(onlyProblem([pool("p", [" 192.0.2.0/33"])]).message).not.toContain("write")
  })

  it("a range may have spaces around its ends, as MetalLB allows", () => {
    for (const text of ["192.0.2.1 - 192.0.2.9", " 192.0.2.1-192.0.2.9 ", "2001:db8::1 - 2001:db8::9"]) {
      const r = resolve([pool("p", [text])])
      expect(r._tag, text).toBe("Valid")
      if (r._tag === "Valid") expect(r.config.pools.get("p")?.ranges).toHaveLength(1)
    }
  })

  it("peer addresses are taken as written too (Go's net.ParseIP trims nothing)", () => {
    for (const [field, text] of [["peerAddress", " 192.0.2.1"], ["sourceAddress", "192.0.2.10 "], ["routerID", " 192.0.2.100"], ["peerAddress", "2001:db8::1 "]] as const) {
      expect(problems([bgpPeer("p", { [field]: text })]), `${field} ${JSON.stringify(text)}`).toEqual([`BGPPeer/p InvalidAddress spec.${field}`])
    }
  })
})
