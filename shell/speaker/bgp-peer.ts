// One BGP peering driven end to end: the core/bgp session FSM decides, this driver executes its outputs
// (dials through a Transport, frames and codes bytes with core/bgp/codec, arms timers with real time)
// and feeds the RIB planner's UPDATEs to it whenever the desired routes or the session change. Inputs
// are serialised through one queue, so an output that causes another input (SessionUp -> SendUpdates)
// never re-enters the FSM mid-step.
import { Result } from "effect"
import { decode, encode, frame, notificationFor } from "../../core/bgp/codec/index.ts"
import { endOfRib, type Message, type Update } from "../../core/bgp/messages.ts"
import { type AdjRibOut, type DesiredRoute, emptyAdjRibOut, type PeerContext, type Plan, pendingPrefixes, planUpdates } from "../../core/bgp/rib.ts"
import {
  type CloseReason,
  type ConnectionId,
  makeSession,
  type Negotiated,
  type Session,
  type SessionConfig,
  type SessionInput,
  type SessionOutput,
  type SessionStateName,
  step,
  stateOf,
} from "../../core/bgp/session.ts"
import { type Address, parseAddress } from "../../core/net/address.ts"
import { SerialInputs } from "./serial-inputs.ts"
import { realTimers, type Timers } from "./timers.ts"

/** A byte stream to the peer (a TCP socket in production, a simulated link in the simulator). */
export interface Connection {
  readonly write: (bytes: Uint8Array) => void
  /** Flushes what was written, then closes. */
  readonly close: () => void
  readonly onData: (listener: (bytes: Uint8Array) => void) => void
  readonly onClose: (listener: () => void) => void
  /** Our end's address (the next hop we advertise). */
  readonly localAddress?: string
}

/**
 * Dials the peer; exactly one of the callbacks is called, later (never during the call), unless the dial
 * is cancelled first through the function it may return (then neither is).
 */
export interface Transport {
  readonly connect: (connected: (connection: Connection) => void, failed: (reason: string) => void) => (() => void) | void
}

/** A Transport from a promise-returning dialer (real sockets). */
export const promiseTransport = (dial: () => Promise<Connection>): Transport => ({
  connect: (connected, failed) => {
    dial().then(connected, (error: unknown) => failed(String(error)))
  },
})

export interface PeerEvents {
  readonly onStateChanged?: (from: SessionStateName, to: SessionStateName) => void
  readonly onSessionUp?: (negotiated: Negotiated) => void
  readonly onSessionDown?: (reason: CloseReason) => void
  readonly onUpdatesSent?: (updates: ReadonlyArray<Update>, bytes: number) => void
  /** UPDATEs received on the Established connection (a router keeps its RIB from these). */
  readonly onUpdateReceived?: (update: Update) => void
  readonly onLog?: (message: string) => void
}

export interface BgpPeerOptions {
  readonly name: string
  readonly session: SessionConfig
  readonly transport: Transport
  /** Next hops to advertise; default: our end of the session for its family. */
  readonly nextHops?: { readonly ipv4?: Address; readonly ipv6?: ReadonlyArray<Address> }
  readonly events?: PeerEvents
  /** Real timers unless given (the simulator passes virtual ones). */
  readonly timers?: Timers
  /** The Adj-RIB-Out planner; planUpdates unless given (the benchmark passes MetalLB's one UPDATE per prefix). */
  readonly planner?: (sent: AdjRibOut, desired: ReadonlyArray<DesiredRoute>, peer: PeerContext) => Plan
}

interface Live {
  readonly connection: Connection
  buffer: Uint8Array
  fourOctetAsn: boolean
}

const concat = (a: Uint8Array, b: Uint8Array) => {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

export class BgpPeer {
  readonly name: string
  private session: Session
  private readonly options: BgpPeerOptions
  private readonly inputs = new SerialInputs<SessionInput>((input) => {
    const { state, outputs } = step(this.session, input)
    this.session = state
    for (const output of outputs) this.execute(output)
  })
  private readonly timers = new Map<number, unknown>()
  private readonly clock: Timers
  private readonly connections = new Map<ConnectionId, Live>()
  /** Dials in progress, by attempt, with how to cancel them. */
  private readonly dials = new Map<number, () => void>()
  private nextConnectionId = 1
  private desired: ReadonlyArray<DesiredRoute> = []
  private adjRibOut: AdjRibOut = emptyAdjRibOut
  private established: { readonly connection: ConnectionId; readonly negotiated: Negotiated } | undefined
  private stopped = false
  /** Messages and bytes sent in UPDATEs since the start (for metrics and the benchmark). */
  updatesSent = 0
  updateBytesSent = 0
  /** Messages sent and received since the start, by type (MetalLB's FRR-mode metallb_bgp_* counters). */
  readonly messagesSent: Record<Message["_tag"], number> = { Open: 0, Update: 0, Notification: 0, Keepalive: 0, RouteRefresh: 0 }
  readonly messagesReceived: Record<Message["_tag"], number> = { Open: 0, Update: 0, Notification: 0, Keepalive: 0, RouteRefresh: 0 }

  constructor(options: BgpPeerOptions) {
    const made = makeSession(options.session)
    if (Result.isFailure(made)) throw made.failure
    this.session = made.success
    this.options = options
    this.name = options.name
    this.clock = options.timers ?? realTimers
  }

  get state(): SessionStateName {
    return stateOf(this.session)
  }

  /** Prefixes in the Adj-RIB-Out: what the peer has been told (empty while not Established). */
  get advertisedPrefixes(): number {
    return this.adjRibOut.routes.size
  }

  /** Desired prefixes the peer has not been told (core/bgp/rib pendingPrefixes). */
  get pendingPrefixes(): number {
    return pendingPrefixes(this.adjRibOut, this.desired)
  }

  get negotiated(): Negotiated | undefined {
    return this.established?.negotiated
  }

  start(): void {
    this.stopped = false
    this.dispatch({ _tag: "ManualStart" })
  }

  /** Stops the session (Cease / Administrative Shutdown when connected) and every timer. */
  stop(): void {
    this.dispatch({ _tag: "ManualStop" })
    this.stopped = true
    this.cancelDials()
    for (const handle of this.timers.values()) this.clock.clear(handle)
    this.timers.clear()
    for (const live of this.connections.values()) live.connection.close()
    this.connections.clear()
  }

  private cancelDials(): void {
    for (const cancel of this.dials.values()) cancel()
    this.dials.clear()
  }

  /**
   * The process dies (SIGKILL): its kernel closes the connections (the peer sees the transport close),
   * nothing else is sent, every timer is gone.
   */
  abort(): void {
    this.stopped = true
    this.cancelDials()
    for (const handle of this.timers.values()) this.clock.clear(handle)
    this.timers.clear()
    const lives = [...this.connections.values()]
    this.connections.clear()
    for (const live of lives) live.connection.close()
  }

  /** BFD declared the peer unreachable. */
  bfdDown(): void {
    this.dispatch({ _tag: "BfdDown" })
  }

  /** A connection the peer opened to us (passive side). */
  accept(connection: Connection): void {
    const id = this.register(connection)
    this.dispatch({ _tag: "IncomingConnection", connection: id })
  }

  /** The routes this peer should hear now; the difference is sent if the session is up. */
  setRoutes(routes: ReadonlyArray<DesiredRoute>): void {
    this.desired = routes
    this.sendPlan()
  }

  private log(message: string) {
    this.options.events?.onLog?.(`bgp ${this.name}: ${message}`)
  }

  private dispatch(input: SessionInput): void {
    this.inputs.push(input)
  }

  private register(connection: Connection): ConnectionId {
    const id = this.nextConnectionId++
    const live: Live = { connection, buffer: new Uint8Array(0), fourOctetAsn: false }
    this.connections.set(id, live)
    connection.onData((bytes) => this.receive(id, bytes))
    connection.onClose(() => {
      if (!this.connections.delete(id)) return
      this.dispatch({ _tag: "TcpClosed", connection: id })
    })
    return id
  }

  private receive(id: ConnectionId, bytes: Uint8Array): void {
    const live = this.connections.get(id)
    if (live === undefined) return
    const framed = frame(concat(live.buffer, bytes))
    const messages = Result.isSuccess(framed) ? framed.success.messages : framed.failure.messages
    live.buffer = Result.isSuccess(framed) ? framed.success.rest : new Uint8Array(0)
    for (const raw of messages) {
      const decoded = decode(raw, { fourOctetAsn: live.fourOctetAsn })
      if (Result.isSuccess(decoded)) {
        this.messagesReceived[decoded.success._tag] += 1
        if (decoded.success._tag === "Update" && this.established?.connection === id) this.options.events?.onUpdateReceived?.(decoded.success)
        this.dispatch({ _tag: "MessageReceived", connection: id, message: decoded.success })
      }
      else if (decoded.failure._tag === "BgpIgnoredMessage") this.log(`ignored a message: ${decoded.failure.reason}`)
      else this.dispatch({ _tag: "DecodeFailed", connection: id, notification: notificationFor(decoded.failure) })
    }
    if (Result.isFailure(framed)) this.dispatch({ _tag: "DecodeFailed", connection: id, notification: notificationFor(framed.failure) })
  }

  private execute(output: SessionOutput): void {
    switch (output._tag) {
      case "Connect": {
        const attempt = output.attempt
        const cancel = this.options.transport.connect(
          (connection) => {
            this.dials.delete(attempt)
            if (this.stopped) return connection.close()
            this.dispatch({ _tag: "TcpConnected", attempt, connection: this.register(connection) })
          },
          (reason) => {
            this.dials.delete(attempt)
            this.log(`connect failed: ${reason}`)
            if (!this.stopped) this.dispatch({ _tag: "TcpConnectFailed", attempt })
          },
        )
        if (cancel !== undefined) this.dials.set(attempt, cancel)
        return
      }
      case "CancelConnect": {
        // A transport that cannot cancel connects late; the FSM answers that with CloseConnection { Stale }.
        const cancel = this.dials.get(output.attempt)
        this.dials.delete(output.attempt)
        cancel?.()
        return
      }
      case "Send": {
        const live = this.connections.get(output.connection)
        if (live === undefined) return
        const bytes = encode(output.message, { fourOctetAsn: live.fourOctetAsn })
        this.messagesSent[output.message._tag] += 1
        if (output.message._tag === "Update") {
          this.updatesSent += 1
          this.updateBytesSent += bytes.length
        }
        live.connection.write(bytes)
        return
      }
      case "CloseConnection": {
        const live = this.connections.get(output.connection)
        this.connections.delete(output.connection)
        live?.connection.close()
        if (output.reason._tag === "ProtocolError" || output.reason._tag === "NotificationReceived") {
          const n = output.reason.notification
          this.log(`closed connection ${output.connection}: ${output.reason._tag} ${n.code}/${n.subcode}`)
        }
        return
      }
      case "StartTimer": {
        const token = output.token
        const timer = output.timer
        this.timers.set(token, this.clock.set(output.durationMs, () => {
          this.timers.delete(token)
          this.dispatch({ _tag: "TimerExpired", timer, token })
        }))
        return
      }
      case "StopTimer": {
        const handle = this.timers.get(output.token)
        if (handle !== undefined) this.clock.clear(handle)
        this.timers.delete(output.token)
        return
      }
      case "SessionUp": {
        const live = this.connections.get(output.connection)
        if (live !== undefined) live.fourOctetAsn = output.negotiated.fourOctetAsn
        this.established = { connection: output.connection, negotiated: output.negotiated }
        this.adjRibOut = emptyAdjRibOut
        this.options.events?.onSessionUp?.(output.negotiated)
        this.sendPlan()
        if (output.sendEndOfRib.length > 0) this.dispatch({ _tag: "SendUpdates", updates: output.sendEndOfRib.map(endOfRib) })
        return
      }
      case "SessionDown":
        this.established = undefined
        this.adjRibOut = emptyAdjRibOut
        this.options.events?.onSessionDown?.(output.reason)
        return
      case "RouteRefreshRequested":
        this.adjRibOut = emptyAdjRibOut
        this.sendPlan()
        return
      case "StateChanged":
        this.options.events?.onStateChanged?.(output.from, output.to)
        return
    }
  }

  private peerContext(): PeerContext | undefined {
    const up = this.established
    if (up === undefined) return undefined
    const local = this.connections.get(up.connection)?.connection.localAddress
    // An IPv4-mapped local address is IPv4; a link-local one may carry its zone ("fe80::1%eth0").
    const parsedLocal = local === undefined ? undefined : parseAddress(local.replace(/^::ffff:/, "").replace(/%.*$/, ""))
    const ownEnd = parsedLocal !== undefined && Result.isSuccess(parsedLocal) ? parsedLocal.success : undefined
    const ipv4 = this.options.nextHops?.ipv4 ?? (ownEnd?.family === "ipv4" ? ownEnd : undefined)
    const ipv6 = this.options.nextHops?.ipv6 ?? (ownEnd?.family === "ipv6" ? [ownEnd] : undefined)
    return {
      localAsn: this.options.session.localAsn,
      peerAsn: up.negotiated.peerAsn,
      fourOctetAsn: up.negotiated.fourOctetAsn,
      families: up.negotiated.families,
      extendedNextHop: up.negotiated.extendedNextHop,
      ...(ipv4 === undefined ? {} : { nextHopV4: ipv4 }),
      ...(ipv6 === undefined ? {} : { nextHopsV6: ipv6 }),
    }
  }

  private sendPlan(): void {
    const context = this.peerContext()
    if (context === undefined) return
    const plan = (this.options.planner ?? planUpdates)(this.adjRibOut, this.desired, context)
    this.adjRibOut = plan.adjRibOut
    if (plan.updates.length === 0) return
    const before = this.updateBytesSent
    this.dispatch({ _tag: "SendUpdates", updates: plan.updates })
    this.options.events?.onUpdatesSent?.(plan.updates, this.updateBytesSent - before)
  }
}
