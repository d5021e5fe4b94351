// The L2 counters MetalLB exports (MetalLB §6: metallb_layer2_requests_received, responses_sent and
// gratuitous_sent, each per IP) plus malformed frames dropped per interface, accumulated as a value
// from the responder's deltas and the announcer's Send outputs. The shell publishes it; nothing here
// decides what to answer.
import { LayeredMap } from "../collections/layered-map.ts"
import type { Address } from "../net/address.ts"
import type { AnnouncerOutput } from "./announcer.ts"
import { addressKey } from "./ownership.ts"
import type { CounterDelta } from "./responder.ts"

export interface AddressCounters {
  readonly address: Address
  readonly requestsReceived: number
  readonly responsesSent: number
  readonly gratuitousSent: number
}

export interface L2Counters {
  readonly byAddress: ReadonlyMap<string, AddressCounters>
  readonly malformedDroppedByInterface: ReadonlyMap<string, number>
}

export const noCounters: L2Counters = { byAddress: LayeredMap.of([]), malformedDroppedByInterface: new Map() }

type Delta = { readonly requestsReceived: number; readonly responsesSent: number; readonly gratuitousSent: number }

/**
 * The counters with these deltas added: O(sqrt n) for a few addresses, not a copy of every address's
 * counters per frame (issue 17: a speaker announcing 2,500 addresses spent 41% of its CPU copying them).
 */
const bump = (counters: L2Counters, deltas: ReadonlyArray<readonly [Address, Delta]>): L2Counters => {
  if (deltas.length === 0) return counters
  const changed = new Map<string, AddressCounters>()
  for (const [address, delta] of deltas) {
    const key = addressKey(address)
    const current = changed.get(key) ?? counters.byAddress.get(key) ?? { address, requestsReceived: 0, responsesSent: 0, gratuitousSent: 0 }
    changed.set(key, {
      address,
      requestsReceived: current.requestsReceived + delta.requestsReceived,
      responsesSent: current.responsesSent + delta.responsesSent,
      gratuitousSent: current.gratuitousSent + delta.gratuitousSent,
    })
  }
  const layered = counters.byAddress instanceof LayeredMap ? counters.byAddress : LayeredMap.of(counters.byAddress)
  return { ...counters, byAddress: layered.with(changed) }
}

/** Adds one responder decision taken on ifaceName. */
export const countResponse = (counters: L2Counters, ifaceName: string, delta: CounterDelta): L2Counters => {
  let next = counters
  if (delta.address !== undefined && (delta.requestsReceived !== 0 || delta.responsesSent !== 0)) {
    next = bump(next, [[delta.address, { requestsReceived: delta.requestsReceived, responsesSent: delta.responsesSent, gratuitousSent: 0 }]])
  }
  if (delta.malformedDropped !== 0) {
    const malformedDroppedByInterface = new Map(next.malformedDroppedByInterface)
    malformedDroppedByInterface.set(ifaceName, (next.malformedDroppedByInterface.get(ifaceName) ?? 0) + delta.malformedDropped)
    next = { ...next, malformedDroppedByInterface }
  }
  return next
}

/** Adds the announcer's frames actually written (the shell passes only Sends that succeeded). */
export const countAnnouncements = (counters: L2Counters, outputs: ReadonlyArray<AnnouncerOutput>): L2Counters => {
  const sent: Array<readonly [Address, Delta]> = []
  for (const output of outputs) if (output._tag === "Send") sent.push([output.address, { requestsReceived: 0, responsesSent: 0, gratuitousSent: 1 }])
  return bump(counters, sent)
}
