// Speaker membership on the wire: core/election/membership's SWIM protocol over UDP, every datagram
// sealed with AES-256-GCM under a key from the `memberlist` Secret. The key is derived the way
// MetalLB's speaker derives it (sha256.New().Sum(secret)[:32]: the secret's bytes followed by
// SHA-256 of nothing, cut to 32 bytes), so the same Secret serves both. The datagram format is ours:
// version byte, 12-byte nonce, ciphertext, 16-byte tag; anything that fails to open is dropped and
// counted, never decoded. The driver also carries this node's metadata (its down Layer 2 interfaces,
// core/election/membership/metadata.ts) and reports every live member's with the member set.
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomInt } from "node:crypto"
import { createSocket, type Socket } from "node:dgram"
import { Result } from "effect"
import { decodeMessage, encodeMessage } from "../../core/election/membership/codec.ts"
import type { MembershipConfig } from "../../core/election/membership/config.ts"
import { downInterfacesOf, initialMembership, liveMembers, type MembershipInput, type MembershipState, step } from "../../core/election/membership/node.ts"
import { realTimers, type Timers } from "./timers.ts"

const sealVersion = 1

export const membershipKey = (secret: Uint8Array): Buffer =>
  Buffer.concat([Buffer.from(secret), createHash("sha256").digest()]).subarray(0, 32)

export const seal = (key: Buffer, plaintext: Uint8Array): Buffer => {
  const nonce = randomBytes(12)
  const cipher = createCipheriv("aes-256-gcm", key, nonce)
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([Buffer.from([sealVersion]), nonce, body, cipher.getAuthTag()])
}

export const open = (key: Buffer, sealed: Uint8Array): Uint8Array | undefined => {
  if (sealed.length < 1 + 12 + 16 || sealed[0] !== sealVersion) return undefined
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(1, 13))
    decipher.setAuthTag(sealed.subarray(sealed.length - 16))
    return Buffer.concat([decipher.update(sealed.subarray(13, sealed.length - 16)), decipher.final()])
  } catch {
    return undefined
  }
}

export interface MembershipOptions {
  /** This node's name (membership identity). */
  readonly name: string
  /** ip:port others reach us at, and where the UDP socket binds. */
  readonly bindAddress: string
  readonly port: number
  /** Without a key datagrams travel in clear (MetalLB allows that too). */
  readonly key?: Buffer
  /**
   * The live members (this node included) and the down interfaces of those with any, on every change of
   * either and whenever a member's full table arrives (`syncedAtMs`: when the last one did).
   */
  readonly onChange: (members: ReadonlySet<string>, downInterfaces: ReadonlyMap<string, ReadonlyArray<string>>, syncedAtMs: number | undefined) => void
  readonly onLog?: (message: string) => void
  /**
   * A member this node declared dead or saw leave, with when this node last heard from it (any datagram
   * it sent): the detection time is the gap, an upper bound of the time since its death.
   */
  readonly onMemberLost?: (name: string, how: "dead" | "left", lastHeardAtMs: number | undefined) => void
  readonly timers?: Timers
  /** A uniformly random 32-bit integer per protocol tick (default: node:crypto). */
  readonly random?: () => number
  /** Protocol timings (default: core's sub-second defaults). */
  readonly config?: MembershipConfig
}

/** How datagrams go out and come in: UDP in production, an in-memory network in tests. */
export interface DatagramTransport {
  /** Sends to `to` (host:port); a failure is reported, never thrown. */
  readonly send: (to: string, bytes: Uint8Array, failed: (reason: string) => void) => void
  /** Every datagram received, with its sender's host:port. */
  readonly onReceive: (listener: (from: string, bytes: Uint8Array) => void) => void
  readonly close: () => void
}

/** A UDP socket bound to the options' address and port. */
export const udpTransport = async (bindAddress: string, port: number): Promise<DatagramTransport> => {
  // SO_REUSEPORT: in a rolling update the node's next speaker binds beside this one before it closes
  // (shell/speaker/hand-over.ts), so the member never stops answering.
  const socket: Socket = createSocket({ type: bindAddress.includes(":") ? "udp6" : "udp4", reusePort: true })
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject)
    socket.bind(port, bindAddress, () => resolve())
  })
  return {
    send: (to, bytes, failed) => {
      const [host, toPort] = hostPort(to)
      socket.send(bytes, toPort, host, (error) => {
        if (error) failed(error.message)
      })
    },
    onReceive: (listener) => {
      socket.on("message", (datagram, from) => listener(formatHostPort(from.address, from.port), datagram))
    },
    close: () => socket.close(),
  }
}

const hostPort = (address: string): [string, number] => {
  const at = address.lastIndexOf(":")
  return [address.slice(0, at).replace(/^\[|\]$/g, ""), Number(address.slice(at + 1))]
}

export const formatHostPort = (host: string, port: number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`)

export class MembershipDriver {
  private state: MembershipState
  private readonly transport: DatagramTransport
  private readonly options: MembershipOptions
  private readonly clock: Timers
  private readonly random: () => number
  private timer: unknown
  private members: ReadonlySet<string> = new Set()
  private down: ReadonlyMap<string, ReadonlyArray<string>> = new Map()
  /** member -> wall-clock ms of the last datagram from it that opened and decoded. */
  private readonly heardAtMs = new Map<string, number>()
  /** When a member's full table (a Sync, the table exchange of a join, either way) last arrived. */
  private syncedAtMs: number | undefined
  dropped = 0

  private constructor(options: MembershipOptions, state: MembershipState, transport: DatagramTransport) {
    this.options = options
    this.state = state
    this.transport = transport
    this.clock = options.timers ?? realTimers
    this.random = options.random ?? (() => randomInt(0, 2 ** 32) >>> 0)
  }

  /** Binds the UDP socket and joins through the seeds. */
  static async start(options: MembershipOptions, seeds: ReadonlyArray<string>): Promise<MembershipDriver> {
    return MembershipDriver.over(await udpTransport(options.bindAddress, options.port), options, seeds)
  }

  /** Joins through the seeds over the given transport (its clock and randomness are the options'). */
  static over(transport: DatagramTransport, options: MembershipOptions, seeds: ReadonlyArray<string>): MembershipDriver {
    const self = formatHostPort(options.bindAddress, options.port)
    const made = initialMembership({ name: options.name, address: self }, options.config)
    if (Result.isFailure(made)) {
      transport.close()
      throw made.failure
    }
    const driver = new MembershipDriver(options, made.success, transport)
    transport.onReceive((from, datagram) => driver.receive(from, datagram))
    driver.run({ _tag: "Join", nowMs: driver.clock.nowMs(), seeds: seeds.filter((s) => s !== self) })
    return driver
  }

  get live(): ReadonlySet<string> {
    return this.members
  }

  /** The live members' down Layer 2 interfaces (only members with any). */
  get downInterfaces(): ReadonlyMap<string, ReadonlyArray<string>> {
    return this.down
  }

  /** This node's Layer 2 interfaces that are down now; a change is gossiped to every member. */
  setDownInterfaces(names: ReadonlyArray<string>): void {
    this.run({ _tag: "SetDownInterfaces", nowMs: this.clock.nowMs(), names })
  }

  /** Tells everyone we are leaving (graceful hand-over), then stays silent. */
  leave(): void {
    this.run({ _tag: "Leave", nowMs: this.clock.nowMs() })
  }

  /** Introduces more seeds (new speaker pods). */
  join(seeds: ReadonlyArray<string>): void {
    this.run({ _tag: "Join", nowMs: this.clock.nowMs(), seeds })
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.timer !== undefined) this.clock.clear(this.timer)
    this.transport.close()
  }

  private closed = false

  private receive(from: string, datagram: Uint8Array): void {
    const plain = this.options.key === undefined ? datagram : open(this.options.key, datagram)
    if (plain === undefined) {
      this.dropped += 1
      return
    }
    const decoded = decodeMessage(plain)
    if (Result.isFailure(decoded)) {
      this.dropped += 1
      return
    }
    const nowMs = this.clock.nowMs()
    this.heardAtMs.set(decoded.success.from, nowMs)
    const synced = decoded.success._tag === "Sync"
    if (synced) this.syncedAtMs = nowMs
    this.run({ _tag: "Received", nowMs, from, message: decoded.success }, synced)
  }

  private run(input: MembershipInput, synced = false): void {
    if (this.closed) return
    const { state, outputs } = step(this.state, input)
    this.state = state
    for (const output of outputs) {
      switch (output._tag) {
        case "Send": {
          const plain = encodeMessage(output.message)
          const bytes = this.options.key === undefined ? plain : seal(this.options.key, plain)
          const to = output.to
          this.transport.send(to, bytes, (reason) => this.options.onLog?.(`membership send to ${to} failed: ${reason}`))
          break
        }
        case "StartTimer":
          if (this.timer !== undefined) this.clock.clear(this.timer)
          this.timer = this.clock.set(output.delayMs, () => {
            this.timer = undefined
            this.run({ _tag: "Tick", nowMs: this.clock.nowMs(), random: this.random() })
          })
          break
        case "StopTimer":
          if (this.timer !== undefined) this.clock.clear(this.timer)
          this.timer = undefined
          break
        default:
          this.options.onLog?.(`membership: ${output.name} ${output._tag.replace("Member", "").toLowerCase()}`)
          if (output._tag === "MemberDead" || output._tag === "MemberLeft") {
            this.options.onMemberLost?.(output.name, output._tag === "MemberDead" ? "dead" : "left", this.heardAtMs.get(output.name))
          }
      }
    }
    const live = liveMembers(this.state)
    const down = downInterfacesOf(this.state)
    const membersChanged = live.size !== this.members.size || [...live].some((m) => !this.members.has(m))
    const downChanged = down.size !== this.down.size || [...down].some(([name, names]) => this.down.get(name)?.join(" ") !== names.join(" "))
    if (membersChanged || downChanged || synced) {
      this.members = live
      this.down = down
      this.options.onChange(live, down, this.syncedAtMs)
    }
  }
}
