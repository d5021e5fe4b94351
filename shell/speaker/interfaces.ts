// The node's interfaces as sysfs shows them (which `ip netns exec` remounts per namespace, so the same
// code serves a node and a test host); which of them may carry Layer 2 is core/speaker/interfaces.ts.
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import type { InterfaceInfo } from "../../core/speaker/interfaces.ts"

const IFF_UP = 0x1
const IFF_LOOPBACK = 0x8
const IFF_NOARP = 0x80

const read = (path: string) => {
  try {
    return readFileSync(path, "utf8").trim()
  } catch {
    return undefined
  }
}

export const readInterfaces = (sysfsNet = "/sys/class/net"): ReadonlyArray<InterfaceInfo> => {
  if (!existsSync(sysfsNet)) return []
  return readdirSync(sysfsNet).sort().flatMap((name) => {
    const dir = join(sysfsNet, name)
    const flags = Number.parseInt(read(join(dir, "flags")) ?? "0", 16)
    const index = Number(read(join(dir, "ifindex")) ?? "0")
    const mac = read(join(dir, "address")) ?? ""
    if (!Number.isFinite(flags) || index <= 0) return []
    return [{
      name,
      index,
      mac,
      up: (flags & IFF_UP) !== 0,
      noArp: (flags & IFF_NOARP) !== 0,
      loopback: (flags & IFF_LOOPBACK) !== 0,
      enslaved: existsSync(join(dir, "master")),
    }]
  })
}
