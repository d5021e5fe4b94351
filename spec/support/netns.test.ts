import { describe, expect, it } from "vitest"
import { assertTestAddress, Lab, rootSkipReason } from "./netns.ts"
import { skipUnlessCi } from "./skip.ts"

describe("testbed addresses", () => {
  it("accepts documentation ranges and refuses everything else", () => {
    for (const ok of ["192.0.2.1/24", "198.51.100.7", "203.0.113.255", "198.19.0.1/16", "2001:db8::1/64", "fe80::1"]) {
      expect(() => assertTestAddress(ok)).not.toThrow()
    }
    for (const bad of ["10.0.0.1/8", "192.168.1.1", "8.8.8.8", "2001:4860::8888", "172.16.0.1"]) {
      expect(() => assertTestAddress(bad)).toThrow(/outside the testbed/)
    }
  })
})

describe.skipIf(skipUnlessCi(rootSkipReason()))("network namespaces", () => {
  it("connects two hosts on a bridge segment and removes everything on close", async () => {
    let netnsNames: Array<string> = []
    {
      await using lab = await Lab.create("netns")
      const segment = await lab.segment("lan")
      const a = await lab.host("a")
      const b = await lab.host("b")
      await lab.attach(a, segment, { addresses: ["192.0.2.1/24", "2001:db8:1::1/64"] })
      await lab.attach(b, segment, { addresses: ["192.0.2.2/24", "2001:db8:1::2/64"] })
      await a.run("ping", ["-c", "1", "-W", "2", "192.0.2.2"])
      await a.run("ping", ["-6", "-c", "1", "-W", "2", "2001:db8:1::2"])
      expect(await b.mac("eth0")).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/)
      const sleeper = b.spawn("sleep", ["60"])
      expect(sleeper.child.pid).toBeGreaterThan(0)
      netnsNames = lab.hosts.map((h) => h.netns)
    }
    const { execFileSync } = await import("node:child_process")
    const left = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    for (const name of netnsNames) expect(left).not.toContain(name)
  })
})
