// BGPPeer objects resolved to the sessions a speaker opens. The rules are MetalLB's peer validation in
// FRR mode (internal/config/config.go, validation.go): a non-zero myASN; exactly one of peerASN and
// dynamicASN; no ebgpMultiHop on an iBGP session; exactly one of peerAddress and interface (BGP
// unnumbered); addresses that parse as written; no line break in interface, vrf or password; hold
// and keepalive timers derived from each other as MetalLB does, with the hold time 0 or at least 3 s
// (RFC 4271 §4.2) and never below the keepalive; a password given once, inline or from a
// kubernetes.io/basic-auth Secret read by name from metallb-ts's namespace (passwordSecret.namespace
// is ignored, as MetalLB ignores it, with a warning); a BFD profile that exists; distinct names.
// Across peers, wherever two of them can run on one node (their node selections meet: on the real
// Nodes when known, else unless the selectors are provably disjoint): no two sessions to the same
// address or interface, port and VRF; one routerID (set on all of them or on none); one myASN per VRF.
// Unlike MetalLB, which stops at the first problem, every problem of every peer is reported. A
// missing Secret or BFDProfile is transient: it may be created a moment later.
import { Result } from "effect"
import { Base64 } from "effect/encoding"
import { type Address, formatAddress, parseAddress } from "../../net/address.ts"
import type { BfdProfile, Peer } from "../config.ts"
import type { Located, Secret } from "../decode.ts"
import { parseDurationMs } from "../duration.ts"
import { type ConfigError, configError, type ObjectRef } from "../errors.ts"
import type { BGPPeer } from "../kinds/bgp-peer.ts"
import type { Selector } from "../selector.ts"
import type { NodeLabels, ResolveContext } from "./context.ts"
import { checkNamespace, parseSelectorList } from "./common.ts"
import { nodeSetsMeet, whereTheyMeet } from "./node-sets.ts"

export const defaultPeerPort = 179
export const defaultHoldTimeSeconds = 90
export const defaultKeepaliveTimeSeconds = 30
/** The hold time travels in a 16-bit field of the OPEN message (RFC 4271 §4.2). */
export const maxTimerSeconds = 65535
export const basicAuthSecretType = "kubernetes.io/basic-auth"

type Spec = BGPPeer["spec"]

/** Go's zero value: an empty string is an unset field, as MetalLB reads it. */
const given = (text: string | undefined): string | undefined => (text === undefined || text === "" ? undefined : text)

interface Checked {
  readonly errors: Array<ConfigError>
  readonly ref: ObjectRef
}

const push = (c: Checked, error: Omit<ConfigError, "_tag" | "severity" | "object"> & { readonly severity?: ConfigError["severity"] }): void => {
  c.errors.push(configError({ ...error, object: c.ref }))
}

const parseAddressField = (c: Checked, field: string, text: string | undefined): Address | undefined => {
  if (text === undefined) return undefined
  const parsed = parseAddress(text)
  if (Result.isSuccess(parsed)) return parsed.success
  push(c, { code: "InvalidAddress", field, value: text, message: `not an IP address: ${parsed.failure.reason}` })
  return undefined
}

/** Whole seconds from a Go duration, or undefined after reporting why not. */
const parseSecondsField = (c: Checked, field: string, text: string): number | undefined => {
  const ms = parseDurationMs(text)
  if (ms === undefined) {
    push(c, { code: "InvalidTimer", field, value: text, message: "not a duration (examples: 90s, 1m30s)" })
    return undefined
  }
  if (ms < 0) {
    push(c, { code: "InvalidTimer", field, value: text, message: "a timer cannot be negative" })
    return undefined
  }
  if (ms % 1000 !== 0) {
    push(c, { code: "InvalidTimer", field, value: text, message: "BGP timers are whole seconds" })
    return undefined
  }
  return ms / 1000
}

const checkAsns = (c: Checked, spec: Spec): void => {
  if (spec.myASN === 0) push(c, { code: "InvalidAsn", field: "spec.myASN", value: 0, message: "myASN must not be 0" })
  const peerAsn = spec.peerASN === 0 ? undefined : spec.peerASN
  if (peerAsn !== undefined && spec.dynamicASN !== undefined) {
    push(c, { code: "ConflictingFields", field: "spec.dynamicASN", value: spec.dynamicASN, message: "peerASN and dynamicASN are mutually exclusive: set one" })
  }
  if (peerAsn === undefined && spec.dynamicASN === undefined) {
    push(c, { code: "MissingField", field: "spec.peerASN", message: "set peerASN (non-zero) or dynamicASN (internal or external)" })
  }
  const internal = (peerAsn !== undefined && peerAsn === spec.myASN) || spec.dynamicASN === "internal"
  if (internal && spec.ebgpMultiHop === true) {
    push(c, { code: "ConflictingFields", field: "spec.ebgpMultiHop", value: true, message: "ebgpMultiHop is for eBGP sessions; this session is iBGP (peer ASN equals myASN)" })
  }
}

interface Endpoint {
  readonly address?: Address
  readonly iface?: string
  readonly sourceAddress?: Address
  readonly routerId?: Address
}

const checkEndpoint = (c: Checked, spec: Spec): Endpoint => {
  const addressText = given(spec.peerAddress)
  const iface = given(spec.interface)
  if (iface !== undefined && hasLineBreak(iface)) push(c, { code: "InvalidText", field: "spec.interface", value: iface, message: `the interface name ${lineBreakMessage}` })
  if (addressText !== undefined && iface !== undefined) {
    push(c, { code: "ConflictingFields", field: "spec.interface", value: iface, message: "peerAddress and interface are mutually exclusive: set one" })
  }
  if (addressText === undefined && iface === undefined) {
    push(c, { code: "MissingField", field: "spec.peerAddress", message: "set peerAddress, or interface for an unnumbered session" })
  }
  const address = parseAddressField(c, "spec.peerAddress", addressText)
  const sourceText = given(spec.sourceAddress)
  const sourceAddress = parseAddressField(c, "spec.sourceAddress", sourceText)
  if (address !== undefined && sourceAddress !== undefined && address.family !== sourceAddress.family) {
    push(c, {
      code: "ConflictingFields",
      field: "spec.sourceAddress",
      value: sourceText,
      message: `sourceAddress is ${sourceAddress.family} but peerAddress is ${address.family}`,
    })
  }
  const routerIdText = given(spec.routerID)
  let routerId = parseAddressField(c, "spec.routerID", routerIdText)
  if (routerId !== undefined && routerId.family !== "ipv4") {
    push(c, { code: "InvalidAddress", field: "spec.routerID", value: routerIdText, message: "a BGP router ID is a 32-bit value written as an IPv4 address" })
    routerId = undefined
  }
  return {
    ...(address === undefined ? {} : { address }),
    ...(iface === undefined ? {} : { iface }),
    ...(sourceAddress === undefined ? {} : { sourceAddress }),
    ...(routerId === undefined ? {} : { routerId }),
  }
}

interface Timers {
  readonly holdTimeSeconds: number
  readonly keepaliveTimeSeconds: number
  readonly connectTimeSeconds?: number
}

const checkTimers = (c: Checked, spec: Spec): Timers | undefined => {
  const holdAndKeepalive = checkHoldAndKeepalive(c, spec)
  const connect = spec.connectTime === undefined ? undefined : parseSecondsField(c, "spec.connectTime", spec.connectTime)
  const connectValid = connect === undefined || (connect >= 1 && connect <= maxTimerSeconds)
  if (!connectValid) {
    push(c, { code: "InvalidTimer", field: "spec.connectTime", value: spec.connectTime, message: `connectTime must be 1..${maxTimerSeconds}s` })
  }
  if (holdAndKeepalive === undefined || !connectValid || (spec.connectTime !== undefined && connect === undefined)) return undefined
  return { ...holdAndKeepalive, ...(connect === undefined ? {} : { connectTimeSeconds: connect }) }
}

const checkHoldAndKeepalive = (c: Checked, spec: Spec): Timers | undefined => {
  const holdGiven = spec.holdTime !== undefined
  const keepaliveGiven = spec.keepaliveTime !== undefined
  const holdParsed = spec.holdTime === undefined ? undefined : parseSecondsField(c, "spec.holdTime", spec.holdTime)
  const keepaliveParsed = spec.keepaliveTime === undefined ? undefined : parseSecondsField(c, "spec.keepaliveTime", spec.keepaliveTime)
  if ((holdGiven && holdParsed === undefined) || (keepaliveGiven && keepaliveParsed === undefined)) return undefined

  // MetalLB derives the missing one of the pair: keepalive = hold / 3, hold = 3 * keepalive.
  const hold = holdParsed ?? (keepaliveParsed === undefined ? defaultHoldTimeSeconds : 3 * keepaliveParsed)
  const keepalive = keepaliveParsed ?? (holdParsed === undefined ? defaultKeepaliveTimeSeconds : Math.floor(holdParsed / 3))
  if (hold > 0 && hold < 3) {
    push(c, { code: "InvalidTimer", field: "spec.holdTime", value: spec.holdTime, message: "holdTime must be 0 (no keepalives) or at least 3s (RFC 4271)" })
    return undefined // comparing the keepalive with a hold time that must change anyway would only add noise
  }
  if (hold > maxTimerSeconds) {
    push(c, {
      code: "InvalidTimer",
      field: holdGiven ? "spec.holdTime" : "spec.keepaliveTime",
      value: holdGiven ? spec.holdTime : spec.keepaliveTime,
      message: holdGiven ? `holdTime must be at most ${maxTimerSeconds}s` : `3 x keepaliveTime (the hold time) must be at most ${maxTimerSeconds}s`,
    })
    return undefined
  }
  if (hold === 0 && keepalive > 0) {
    push(c, { code: "InvalidTimer", field: "spec.keepaliveTime", value: spec.keepaliveTime, message: "with holdTime 0 (keepalives disabled) keepaliveTime must be 0" })
    return undefined
  }
  if (keepalive > hold) {
    push(c, { code: "InvalidTimer", field: "spec.keepaliveTime", value: spec.keepaliveTime, message: `keepaliveTime must not exceed holdTime (${hold}s)` })
    return undefined
  }
  return { holdTimeSeconds: hold, keepaliveTimeSeconds: keepalive }
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** MetalLB refuses a line break in interface, vrf and password (FRR reads them as lines of its configuration). */
const hasLineBreak = (text: string): boolean => /[\r\n]/.test(text)

const lineBreakMessage = "contains a line break (\\n or \\r), which MetalLB refuses; remove it"

/** The Secret's password, unless it has a line break (reported without echoing the secret material). */
const passwordWithoutLineBreak = (c: Checked, secret: Located<Secret>, secretRef: ObjectRef, password: string): string | undefined => {
  if (!hasLineBreak(password)) return password
  push(c, {
    code: "InvalidText",
    field: "spec.passwordSecret.name",
    value: secret.object.metadata.name,
    other: { object: secretRef, field: "data.password" },
    message: `the password in Secret ${JSON.stringify(secret.object.metadata.name)} ${lineBreakMessage}`,
  })
  return undefined
}

/** The Secret's password, or undefined after reporting why there is none. Secret material is never put in an error. */
const passwordFromSecret = (c: Checked, secret: Located<Secret>, context: ResolveContext): string | undefined => {
  const type = secret.object.type
  const secretRef: ObjectRef = { ...secret.ref, namespace: secret.object.metadata.namespace ?? context.namespace }
  if (type !== basicAuthSecretType) {
    push(c, {
      code: "InvalidSecret",
      field: "spec.passwordSecret.name",
      value: secret.object.metadata.name,
      other: { object: secretRef, field: "type", ...(type === undefined ? {} : { value: type }) },
      message: `the password Secret ${JSON.stringify(secret.object.metadata.name)} is of type ${JSON.stringify(type ?? "Opaque")}${type === undefined ? " (no type given)" : ""}` +
        `, not ${basicAuthSecretType}: create it with type: ${basicAuthSecretType} (a Secret's type cannot be changed in place)`,
    })
    return undefined
  }
  const plain = secret.object.stringData?.["password"]
  if (plain !== undefined) return passwordWithoutLineBreak(c, secret, secretRef, plain) // the API server merges stringData over data; so do we
  const encoded = secret.object.data?.["password"]
  if (encoded === undefined) {
    push(c, {
      code: "InvalidSecret",
      field: "spec.passwordSecret.name",
      value: secret.object.metadata.name,
      other: { object: secretRef, field: "data.password" },
      message: "the password Secret has no password key",
    })
    return undefined
  }
  const bytes = Base64.decode(encoded)
  let text: string | undefined
  if (Result.isSuccess(bytes)) {
    try {
      text = utf8.decode(bytes.success)
    } catch {
      text = undefined // not UTF-8: reported below rather than silently mangled into a different key
    }
  }
  if (text === undefined) {
    push(c, {
      code: "InvalidSecret",
      field: "spec.passwordSecret.name",
      value: secret.object.metadata.name,
      other: { object: secretRef, field: "data.password" },
      message: "the password Secret's data.password is not base64-encoded UTF-8 text",
    })
  }
  return text === undefined ? undefined : passwordWithoutLineBreak(c, secret, secretRef, text)
}

const checkPassword = (c: Checked, spec: Spec, secrets: ReadonlyArray<Located<Secret>>, context: ResolveContext): string | undefined => {
  const inline = given(spec.password)
  if (inline !== undefined && hasLineBreak(inline)) push(c, { code: "InvalidText", field: "spec.password", message: `the password ${lineBreakMessage}` })
  const name = given(spec.passwordSecret?.name)
  const namespace = given(spec.passwordSecret?.namespace)
  // Go clients serialise an unset SecretReference as {}: that is "no secret". MetalLB reads a Secret
  // only when a name is given, and always from its own namespace, whatever passwordSecret.namespace says.
  if (name === undefined) {
    if (namespace !== undefined) {
      push(c, {
        code: "IgnoredField",
        severity: "warning",
        field: "spec.passwordSecret",
        value: spec.passwordSecret,
        message: "passwordSecret has no name, so no Secret is read (MetalLB ignores it too); set passwordSecret.name, or remove passwordSecret",
      })
    }
    return inline
  }
  if (namespace !== undefined && namespace !== context.namespace) {
    push(c, {
      code: "IgnoredField",
      severity: "warning",
      field: "spec.passwordSecret.namespace",
      value: namespace,
      message: `ignored, as MetalLB ignores it: the Secret ${JSON.stringify(name)} is read from namespace ${JSON.stringify(context.namespace)}; ` +
        `remove the namespace or set it to ${JSON.stringify(context.namespace)}`,
    })
  }
  if (inline !== undefined) {
    push(c, { code: "ConflictingFields", field: "spec.passwordSecret", value: spec.passwordSecret, message: "password and passwordSecret are mutually exclusive: set one" })
  }
  const secret = secrets.find((s) => s.object.metadata.name === name && (s.object.metadata.namespace ?? context.namespace) === context.namespace)
  if (secret === undefined) {
    push(c, {
      code: "UnknownSecret",
      severity: "transient",
      field: "spec.passwordSecret.name",
      value: name,
      message: `no Secret ${JSON.stringify(name)} in namespace ${JSON.stringify(context.namespace)}`,
    })
    return undefined
  }
  const password = passwordFromSecret(c, secret, context)
  return inline === undefined ? password : undefined
}

interface PeerCheck {
  readonly peer?: Peer
  /** The session as far as it could be worked out: address or interface, port and VRF (not the nodes). */
  readonly session?: { readonly key: string; readonly field: string; readonly value?: string; readonly text: string }
  /** The node selectors, when all are valid (the cross-peer rules need them). */
  readonly selectors?: ReadonlyArray<Selector>
  /** The routerID as written ("" when unset); undefined when it is invalid (already reported). */
  readonly routerId?: string
  readonly myAsn: number
  readonly vrf: string
}

const checkPeer = (c: Checked, located: Located<BGPPeer>, bfdProfiles: ReadonlyMap<string, BfdProfile>, secrets: ReadonlyArray<Located<Secret>>, context: ResolveContext): PeerCheck => {
  const { metadata, spec } = located.object
  c.errors.push(...checkNamespace(c.ref, context))
  checkAsns(c, spec)
  const endpoint = checkEndpoint(c, spec)
  const timers = checkTimers(c, spec)
  const password = checkPassword(c, spec, secrets, context)
  const bfdProfile = given(spec.bfdProfile)
  if (bfdProfile !== undefined && !bfdProfiles.has(bfdProfile)) {
    push(c, { code: "UnknownBfdProfile", severity: "transient", field: "spec.bfdProfile", value: bfdProfile, message: `no BFDProfile ${JSON.stringify(bfdProfile)}` })
  }
  const nodeSelectors = parseSelectorList(c.ref, "spec.nodeSelectors", spec.nodeSelectors)
  c.errors.push(...nodeSelectors.errors)
  if (spec.disableMP === true) {
    push(c, {
      code: "Deprecated",
      severity: "warning",
      field: "spec.disableMP",
      value: true,
      message: "disableMP is deprecated and ignored; use dualStackAddressFamily to choose the address families of the session",
    })
  }
  const port = spec.peerPort ?? defaultPeerPort
  const vrf = spec.vrf ?? ""
  if (hasLineBreak(vrf)) push(c, { code: "InvalidText", field: "spec.vrf", value: vrf, message: `the VRF name ${lineBreakMessage}` })
  const where = endpoint.address !== undefined
    ? { field: "spec.peerAddress", value: spec.peerAddress, text: `peerAddress ${formatAddress(endpoint.address)}` }
    : endpoint.iface !== undefined
    ? { field: "spec.interface", value: endpoint.iface, text: `interface ${endpoint.iface}` }
    : undefined
  const routerIdText = given(spec.routerID)
  const routerIdInvalid = routerIdText !== undefined && endpoint.routerId === undefined
  const check: PeerCheck = {
    ...(where === undefined ? {} : {
      session: {
        key: JSON.stringify([where.text, port, vrf]),
        field: where.field,
        ...(where.value === undefined ? {} : { value: where.value }),
        text: `${where.text}, port ${port}, ${vrf === "" ? "default VRF" : `VRF ${JSON.stringify(vrf)}`}`,
      },
    }),
    ...(nodeSelectors.valid ? { selectors: nodeSelectors.selectors } : {}),
    ...(routerIdInvalid ? {} : { routerId: endpoint.routerId === undefined ? "" : formatAddress(endpoint.routerId) }),
    myAsn: spec.myASN,
    vrf,
  }
  if (timers === undefined || c.errors.some((e) => e.severity !== "warning")) return check
  const peerAsn = spec.peerASN === 0 ? undefined : spec.peerASN
  const localAsn = spec.localASN === 0 ? undefined : spec.localASN
  const peer: Peer = {
    name: metadata.name,
    myAsn: spec.myASN,
    ...(peerAsn === undefined ? {} : { peerAsn }),
    ...(spec.dynamicASN === undefined ? {} : { dynamicAsn: spec.dynamicASN }),
    ...(localAsn === undefined ? {} : { localAsn }),
    ...(endpoint.address === undefined ? {} : { address: endpoint.address }),
    ...(endpoint.iface === undefined ? {} : { interface: endpoint.iface }),
    ...(endpoint.sourceAddress === undefined ? {} : { sourceAddress: endpoint.sourceAddress }),
    port,
    ...timers,
    ...(endpoint.routerId === undefined ? {} : { routerId: endpoint.routerId }),
    nodeSelectors: nodeSelectors.selectors,
    ...(password === undefined || password === "" ? {} : { password }),
    ...(bfdProfile === undefined ? {} : { bfdProfile }),
    enableGracefulRestart: spec.enableGracefulRestart ?? false,
    ebgpMultiHop: spec.ebgpMultiHop ?? false,
    vrf,
    disableMP: spec.disableMP ?? false,
    dualStackAddressFamily: spec.dualStackAddressFamily ?? false,
  }
  return { ...check, peer }
}

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Where an object stands in the documents as written: by source file and document index, objects
 * without a source after those, then by name. It does not depend on the order the objects were
 * handed over in, so which of two conflicting peers is "the first" does not either.
 */
const documentOrder = (a: ObjectRef, b: ObjectRef): number => {
  const sa = a.source
  const sb = b.source
  if (sa === undefined || sb === undefined) return sa === sb ? compareText(a.name, b.name) : sa === undefined ? 1 : -1
  return compareText(sa.file ?? "", sb.file ?? "") || (sa.document ?? -1) - (sb.document ?? -1) || compareText(a.name, b.name)
}

interface Entry {
  readonly located: Located<BGPPeer>
  readonly c: Checked
  readonly check: PeerCheck
}

const describeRouterId = (text: string | undefined): string => (text === undefined || text === "" ? "no routerID" : `routerID ${text}`)

/**
 * The rules between peers that can run on one node (MetalLB's FRR-mode DiscardNativeOnly, which
 * configures every peer of a node into one FRR instance): one session per address or interface, port
 * and VRF; one routerID; one myASN per VRF. Each peer is compared with the peers before it in document
 * order and reported once per rule, against the first it conflicts with. The Nodes decide when they
 * are known; without them (an empty list counts as unknown, as in MetalLB) two selections meet unless
 * the selectors are provably disjoint, where MetalLB assumes they always meet. Pairs: n² for n peers,
 * a few thousand at most in a cluster.
 */
const crossPeerConflicts = (entries: ReadonlyArray<Entry>, nodes: ReadonlyArray<NodeLabels> | undefined): void => {
  const known = nodes !== undefined && nodes.length > 0 ? nodes : undefined
  const ordered = entries
    .map((entry, index) => ({ ...entry, index }))
    .filter((entry) => entry.check.selectors !== undefined)
    .sort((a, b) => documentOrder(a.located.ref, b.located.ref) || a.index - b.index)
  ordered.forEach((later, j) => {
    const b = later.check
    let duplicate = false
    let routerId = false
    let myAsn = false
    for (const earlier of ordered.slice(0, j)) {
      const a = earlier.check
      const meeting = nodeSetsMeet(a.selectors ?? [], b.selectors ?? [], known)
      if (meeting === undefined) continue
      const where = whereTheyMeet(meeting)
      const other = (field: string, value: unknown) => ({ object: earlier.located.ref, field, ...(value === undefined ? {} : { value }) })
      if (!duplicate && a.session !== undefined && b.session !== undefined && a.session.key === b.session.key) {
        duplicate = true
        push(later.c, {
          code: "DuplicatePeer",
          field: b.session.field,
          ...(b.session.value === undefined ? {} : { value: b.session.value }),
          other: other(a.session.field, a.session.value),
          message: `the same session (${b.session.text}) as BGPPeer ${JSON.stringify(earlier.located.ref.name)}, and they ${where}; ` +
            "remove one, or give them nodeSelectors that select no common node",
        })
      }
      if (!routerId && a.routerId !== undefined && b.routerId !== undefined && a.routerId !== b.routerId) {
        routerId = true
        push(later.c, {
          code: "ConflictingRouterId",
          field: "spec.routerID",
          ...(b.routerId === "" ? {} : { value: b.routerId }),
          other: other("spec.routerID", a.routerId === "" ? undefined : a.routerId),
          message: `${describeRouterId(b.routerId)} here but ${describeRouterId(a.routerId)} on BGPPeer ${JSON.stringify(earlier.located.ref.name)}, and they ${where}: ` +
            "a node has one router ID; set the same routerID on both (or on neither), or give them nodeSelectors that select no common node",
        })
      }
      if (!myAsn && a.vrf === b.vrf && a.myAsn !== 0 && b.myAsn !== 0 && a.myAsn !== b.myAsn) {
        myAsn = true
        push(later.c, {
          code: "ConflictingMyAsn",
          field: "spec.myASN",
          value: b.myAsn,
          other: other("spec.myASN", a.myAsn),
          message: `myASN ${b.myAsn} here but ${a.myAsn} on BGPPeer ${JSON.stringify(earlier.located.ref.name)} in the same ${b.vrf === "" ? "default VRF" : `VRF ${JSON.stringify(b.vrf)}`}, and they ${where}: ` +
            "a node speaks BGP with one ASN per VRF; use the same myASN (localASN changes the ASN one session shows), a different vrf, or nodeSelectors that select no common node",
        })
      }
    }
  })
}

/**
 * Peers by name, in input order, with every problem found (errors grouped by peer, in input order).
 * A peer with any error other than a warning (a transient one included: its password or BFD profile
 * is not known yet) is left out of the map. Secrets are looked up among `secrets` (the documents')
 * and then `context.secrets` (the cluster's). Peers in another namespace are reported and take no
 * part in the name and cross-peer checks. Of two peers with the same name the first in input order
 * stays and the second is reported against it; of two conflicting peers (see crossPeerConflicts) the
 * first in document order stays (source file and document, then name), so that the outcome does not
 * depend on the order of the input.
 */
export const resolvePeers = (
  peers: ReadonlyArray<Located<BGPPeer>>,
  bfdProfiles: ReadonlyMap<string, BfdProfile>,
  secrets: ReadonlyArray<Located<Secret>>,
  context: ResolveContext,
): { readonly peers: ReadonlyMap<string, Peer>; readonly errors: Array<ConfigError> } => {
  const allSecrets = [...secrets, ...context.secrets]
  const checked = peers.map((located) => {
    const c: Checked = { errors: [], ref: located.ref }
    const namespace = located.object.metadata.namespace
    return { located, c, check: checkPeer(c, located, bfdProfiles, allSecrets, context), ours: namespace === undefined || namespace === context.namespace }
  })

  const firstByName = new Map<string, ObjectRef>()
  for (const { located, c, ours } of checked) {
    if (!ours) continue
    const name = located.object.metadata.name
    const first = firstByName.get(name)
    if (first === undefined) {
      firstByName.set(name, located.ref)
      continue
    }
    push(c, {
      code: "DuplicateName",
      field: "metadata.name",
      value: name,
      other: { object: first, field: "metadata.name", value: name },
      message: `BGPPeer ${JSON.stringify(name)} is defined more than once`,
    })
  }

  crossPeerConflicts(checked.filter((entry) => entry.ours), context.nodes)

  const resolved = new Map<string, Peer>()
  const errors: Array<ConfigError> = []
  for (const { c, check } of checked) {
    errors.push(...c.errors)
    if (check.peer !== undefined && c.errors.every((e) => e.severity === "warning")) resolved.set(check.peer.name, check.peer)
  }
  return { peers: resolved, errors }
}
