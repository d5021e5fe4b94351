// A resolved Peer as core/config produces it, at MetalLB's defaults, for tests that need one without
// going through resolve (session configuration, interop sessions).
import type { Peer } from "../../../core/config/config.ts"

export const peerDefaults: Omit<Peer, "name" | "myAsn"> = {
  port: 179,
  holdTimeSeconds: 90,
  keepaliveTimeSeconds: 30,
  nodeSelectors: [],
  enableGracefulRestart: false,
  ebgpMultiHop: false,
  vrf: "",
  disableMP: false,
  dualStackAddressFamily: false,
}

export const resolvedPeer = (fields: Pick<Peer, "name" | "myAsn"> & Partial<Peer>): Peer => ({ ...peerDefaults, ...fields })
