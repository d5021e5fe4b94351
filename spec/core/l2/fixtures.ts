// Values the Layer 2 tests share: parsing that must succeed, and the interfaces and addresses the
// responder and announcer examples own.
import { Result } from "effect"
import { parseMac, type Mac } from "../../../core/l2/mac.ts"
import type { L2Interface } from "../../../core/l2/ownership.ts"
import { parseAddress, type Address } from "../../../core/net/address.ts"

export const ok = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) throw new Error(`expected success, got ${String(r.failure)}`)
  return r.success
}
export const ip = (text: string): Address => ok(parseAddress(text))
export const mac = (text: string): Mac => ok(parseMac(text))

export const eth0: L2Interface = { name: "eth0", mac: mac("02:00:00:00:00:01") }
export const eth1: L2Interface = { name: "eth1", mac: mac("02:00:00:00:00:02") }
export const vip4 = ip("192.0.2.10")
export const vip6 = ip("2001:db8::10")
