import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { usableForL2 } from "../../../core/speaker/interfaces.ts"
import { defaultExcludePatterns } from "../../../core/speaker/settings.ts"
import { readInterfaces } from "../../../shell/speaker/interfaces.ts"

const root = mkdtempSync(join(tmpdir(), "mlbt-sysfs-"))
const fake = (name: string, flags: number, mac: string, index: number, master = false) => {
  const dir = join(root, name)
  mkdirSync(dir)
  writeFileSync(join(dir, "flags"), `0x${flags.toString(16)}\n`)
  writeFileSync(join(dir, "address"), `${mac}\n`)
  writeFileSync(join(dir, "ifindex"), `${index}\n`)
  if (master) writeFileSync(join(dir, "master"), "")
}
fake("lo", 0x9, "00:00:00:00:00:00", 1)
fake("eth0", 0x1003, "02:00:00:00:00:01", 2)
fake("eth1", 0x1002, "02:00:00:00:00:02", 3) // down
fake("bond0", 0x1403, "02:00:00:00:00:03", 4)
fake("eth2", 0x1803, "02:00:00:00:00:03", 5, true) // enslaved to bond0
fake("tun0", 0x10d1, "", 6) // NOARP, no MAC
fake("cali123", 0x1003, "02:00:00:00:00:07", 7)
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe("L2 interface selection", () => {
  it("keeps interfaces that are up, not loopback, not enslaved, with ARP, and not excluded", () => {
    const all = readInterfaces(root)
    expect(all.map((i) => i.name)).toEqual(["bond0", "cali123", "eth0", "eth1", "eth2", "lo", "tun0"])
    expect(usableForL2(all, defaultExcludePatterns).map((i) => i.name)).toEqual(["bond0", "eth0"])
    expect(usableForL2(all, ["^eth0$", "(invalid"]).map((i) => i.name)).toEqual(["bond0", "cali123"])
  })

  it("reads this machine's interfaces without error", () => {
    expect(readInterfaces().some((i) => i.loopback)).toBe(true)
  })
})
