// Which interfaces may carry Layer 2 announcements (MetalLB's layer2 interface scan): up, not the
// loopback, not enslaved to a bond or bridge (the master answers), ARP enabled, with an Ethernet
// address, and not excluded by the metallb-excludel2 ConfigMap's regular expressions. Read from sysfs,
// which `ip netns exec` remounts per namespace, so the same code serves a node and a test host.
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

export interface InterfaceInfo {
  readonly name: string
  readonly index: number
  readonly mac: string
  readonly up: boolean
  readonly noArp: boolean
  readonly loopback: boolean
  readonly enslaved: boolean
}

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

/** The default exclusions of MetalLB's metallb-excludel2 ConfigMap: container and virtual plumbing. */
export const defaultExcludePatterns: ReadonlyArray<string> = [
  "^docker.*", "^cbr.*", "^dummy.*", "^virbr.*", "^lxcbr.*", "^veth.*", "^lo$", "^cali.*", "^tunl.*", "^flannel.*",
  "^kube-ipvs.*", "^cni.*", "^vxlan.calico.*", "^vxlan-v6.calico.*", "^nodelocaldns.*",
]

export const usableForL2 = (
  interfaces: ReadonlyArray<InterfaceInfo>,
  excludePatterns: ReadonlyArray<string> = defaultExcludePatterns,
): ReadonlyArray<InterfaceInfo> => {
  const excluded = excludePatterns.flatMap((p) => {
    try {
      return [new RegExp(p)]
    } catch {
      return [] // an invalid pattern in the ConfigMap excludes nothing rather than everything
    }
  })
  return interfaces.filter((i) =>
    i.up && !i.loopback && !i.noArp && !i.enslaved && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(i.mac) && i.mac !== "00:00:00:00:00:00" &&
    !excluded.some((re) => re.test(i.name)))
}
