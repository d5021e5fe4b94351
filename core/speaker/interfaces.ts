// Which interfaces may carry Layer 2 announcements (MetalLB's layer2 interface scan): up, not the
// loopback, not enslaved to a bond or bridge (the master answers), ARP enabled, with an Ethernet
// address, and not excluded by the metallb-excludel2 ConfigMap's regular expressions. The shell reads
// the facts (sysfs); the choice is made here.

export interface InterfaceInfo {
  readonly name: string
  readonly index: number
  readonly mac: string
  readonly up: boolean
  readonly noArp: boolean
  readonly loopback: boolean
  readonly enslaved: boolean
}

export const usableForL2 = (
  interfaces: ReadonlyArray<InterfaceInfo>,
  excludePatterns: ReadonlyArray<string>,
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
