import { describe, expect, it } from "vitest"
import { parseArpTable } from "../../../shell/speaker/bfd-echo.ts"

const table = [
  "IP address       HW type     Flags       HW address            Mask     Device",
  "192.0.2.1        0x1         0x2         02:00:00:00:00:01     *        eth0",
  "192.0.2.2        0x1         0x0         00:00:00:00:00:00     *        eth0",
  "192.0.2.1        0x1         0x2         02:00:00:00:00:09     *        eth1",
  "192.0.2.3        0x1         0x6         02:00:00:00:00:03     *        eth0",
].join("\n")

describe("the neighbour's MAC from /proc/net/arp", () => {
  it("takes the complete entry for the address on the interface", () => {
    expect([...(parseArpTable(table, "192.0.2.1", "eth0") ?? [])]).toEqual([2, 0, 0, 0, 0, 1])
    expect([...(parseArpTable(table, "192.0.2.1", "eth1") ?? [])]).toEqual([2, 0, 0, 0, 0, 9])
    // Permanent entries (flags 0x6 include ATF_COM) count too.
    expect([...(parseArpTable(table, "192.0.2.3", "eth0") ?? [])]).toEqual([2, 0, 0, 0, 0, 3])
  })

  it("knows no MAC for an incomplete entry, another interface's, or an absent address", () => {
    expect(parseArpTable(table, "192.0.2.2", "eth0")).toBeUndefined()
    expect(parseArpTable(table, "192.0.2.3", "eth1")).toBeUndefined()
    expect(parseArpTable(table, "192.0.2.99", "eth0")).toBeUndefined()
    expect(parseArpTable("", "192.0.2.1", "eth0")).toBeUndefined()
  })
})
