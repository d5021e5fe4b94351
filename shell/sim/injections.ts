// Test-only bugs a run can be given, to show that each invariant catches the bug it guards against
// (spec/shell/sim/invariants.test.ts). They act on the ports the world hands its actors (the cluster
// an actor reads and writes, the segment, the BGP connection to the router), never inside an actor, so
// they stay valid whatever the actors do inside. A run without them is the run as it always was.
import type { ServiceView } from "../../core/controller/service.ts"
import type { ClusterSnapshot } from "../../core/speaker/view.ts"
import type { Connection } from "../speaker/bgp-peer.ts"
import type { SimCluster } from "./cluster.ts"
import { announcedAddress } from "./invariants.ts"

export interface Injections {
  /** The controller's status writes are garbled: each Service gets what this returns instead of `ingress`. */
  readonly garbleStatus?: (key: string, ingress: ReadonlyArray<string>) => ReadonlyArray<string>
  /** The Services as the controller's informer shows them (a stale or wrong informer). */
  readonly controllerServices?: (services: ReadonlyArray<ServiceView>) => ReadonlyArray<ServiceView>
  /** What a node's speaker reads of the cluster (a stale or wrong informer on that node). */
  readonly speakerSnapshot?: (node: string, snapshot: ClusterSnapshot) => ClusterSnapshot
  /**
   * A speaker handing over is not silenced: every this many ms until it stops, it repeats the gratuitous
   * frames it sent before for the addresses it still answers for (the bug fixed by the leaver's Silence).
   */
  readonly leaverRepeatsEveryMs?: number
  /** Whether a membership datagram from one speaker to another is lost (a speaker deaf to the membership). */
  readonly dropMembership?: (from: string, to: string) => boolean
  /** Each BGP message a node writes to the router passes through this; undefined drops it. */
  readonly toRouter?: (node: string, bytes: Uint8Array) => Uint8Array | undefined
}

/**
 * The cluster as one actor sees it: the same objects, with some methods replaced. Everything else is
 * the cluster's own, called on the cluster itself.
 */
export const clusterView = (cluster: SimCluster, replaced: Partial<Pick<SimCluster, "snapshot" | "writeStatus" | "serviceViews">>): SimCluster =>
  new Proxy(cluster, {
    get: (target, property, _receiver) => {
      const own = (replaced as Record<PropertyKey, unknown>)[property]
      if (own !== undefined) return own
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === "function" ? (value as (...args: Array<unknown>) => unknown).bind(target) : value
    },
  })

/** The cluster a node's speaker reads, under the injections. */
export const speakerCluster = (cluster: SimCluster, node: string, injections: Injections): SimCluster => {
  const tamper = injections.speakerSnapshot
  return tamper === undefined ? cluster : clusterView(cluster, { snapshot: () => tamper(node, cluster.snapshot()) })
}

/** The cluster the controller reads Services from and writes status to, under the injections. */
export const controllerCluster = (cluster: SimCluster, injections: Injections): SimCluster => {
  const { garbleStatus: garble, controllerServices: seen } = injections
  if (garble === undefined && seen === undefined) return cluster
  return clusterView(cluster, {
    ...(garble === undefined ? {} : { writeStatus: (key: string, ingress: ReadonlyArray<string>, pool: string | undefined) => cluster.writeStatus(key, garble(key, ingress), pool) }),
    ...(seen === undefined ? {} : { serviceViews: () => seen(cluster.serviceViews()) }),
  })
}

/** A node's end of its BGP connection to the router, under the injections. */
export const toRouterConnection = (node: string, connection: Connection, injections: Injections): Connection => {
  const filter = injections.toRouter
  if (filter === undefined) return connection
  return {
    ...connection,
    write: (bytes) => {
      const passed = filter(node, bytes)
      if (passed !== undefined) connection.write(passed)
    },
  }
}

/**
 * For leaverRepeatsEveryMs: remembers each speaker's last unasked announcement per address and, once a
 * speaker starts handing over, repeats those of the addresses it still answers for until it stops.
 */
export const leaverRepeater = (everyMs: number, ports: {
  readonly after: (delayMs: number, task: () => void) => void
  readonly transmit: (from: string, frame: Uint8Array) => void
  /** The addresses the node still answers for while handing over; undefined once it no longer hands over. */
  readonly leaving: (node: string) => ReadonlyArray<string> | undefined
}) => {
  const last = new Map<string, Map<string, Uint8Array>>()
  return {
    sent: (from: string, frame: Uint8Array): void => {
      const address = announcedAddress(frame)
      if (address === undefined) return
      last.set(from, (last.get(from) ?? new Map<string, Uint8Array>()).set(address, frame))
    },
    handingOver: (node: string): void => {
      const repeat = () => {
        const addresses = ports.leaving(node)
        if (addresses === undefined) return
        for (const address of addresses) {
          const frame = last.get(node)?.get(address)
          if (frame !== undefined) ports.transmit(node, frame)
        }
        ports.after(everyMs, repeat)
      }
      ports.after(everyMs, repeat)
    },
  }
}
