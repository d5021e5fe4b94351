import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { BfdProfile, Peer } from "../../../core/config/config.ts"
import type { Located, Secret } from "../../../core/config/decode.ts"
import type { ConfigError } from "../../../core/config/errors.ts"
import type { BGPPeer } from "../../../core/config/kinds/bgp-peer.ts"
import type { ResolveContext } from "../../../core/config/rules/context.ts"
import { resolvePeers } from "../../../core/config/rules/peers.ts"
import { addressEquals, parseAddress, type Address } from "../../../core/net/address.ts"
import { anyMatches } from "../../../core/config/selector.ts"
import { peerDefaults } from "../speaker/peer-fixture.ts"

const namespace = "metallb-system"
const context: ResolveContext = { namespace, secrets: [] }

type Spec = BGPPeer["spec"]

const peer = (name: string, spec: Partial<Spec>, ns: string | undefined = namespace): Located<BGPPeer> => ({
  object: {
    apiVersion: "metallb.io/v1beta2",
    kind: "BGPPeer",
    metadata: { name, ...(ns === undefined ? {} : { namespace: ns }) },
    spec: { myASN: 64512, peerASN: 64513, peerAddress: "192.0.2.1", ...spec } as Spec,
  },
  ref: { kind: "BGPPeer", name, ...(ns === undefined ? {} : { namespace: ns }) },
})

/** A spec without the defaults peer() fills in. */
const without = (spec: Partial<Spec>, ...keys: ReadonlyArray<keyof Spec>): Partial<Spec> => {
  const copy: Record<string, unknown> = { ...spec }
  for (const key of keys) delete copy[key]
  return copy as Partial<Spec>
}

const bare = (name: string, spec: Partial<Spec>): Located<BGPPeer> => {
  const p = peer(name, {})
  return { ...p, object: { ...p.object, spec: spec as Spec } }
}

const secret = (name: string, fields: Partial<Omit<Secret, "apiVersion" | "kind" | "metadata">>, ns: string | undefined = namespace): Located<Secret> => ({
  object: { apiVersion: "v1", kind: "Secret", metadata: { name, ...(ns === undefined ? {} : { namespace: ns }) }, ...fields } as Secret,
  ref: { kind: "Secret", name, ...(ns === undefined ? {} : { namespace: ns }) },
})

const bfd: BfdProfile = {
  name: "fast",
  receiveIntervalMs: 100,
  transmitIntervalMs: 100,
  detectMultiplier: 3,
  echoIntervalMs: 50,
  echoMode: false,
  passiveMode: false,
  minimumTtl: 254,
}

const run = (
  peers: ReadonlyArray<Located<BGPPeer>>,
  options: { bfd?: ReadonlyMap<string, BfdProfile>; secrets?: ReadonlyArray<Located<Secret>>; context?: ResolveContext } = {},
) => resolvePeers(peers, options.bfd ?? new Map(), options.secrets ?? [], options.context ?? context)

const address = (text: string): Address => {
  const parsed = parseAddress(text)
  if (Result.isFailure(parsed)) throw new Error(text)
  return parsed.success
}

const ref = (name: string) => ({ kind: "BGPPeer", name, namespace })

/** Runs one peer expecting exactly one error, which is returned; a non-warning error leaves the peer out. */
const oneError = (spec: Partial<Spec>, options: Parameters<typeof run>[1] = {}, make = peer): ConfigError => {
  const result = run([make("p", spec)], options)
  expect(result.errors).toHaveLength(1)
  const error = result.errors[0]!
  expect(error._tag).toBe("ConfigError")
  expect(error.object).toEqual(ref("p"))
  expect(result.peers.has("p")).toBe(error.severity === "warning")
  return error
}

const base: Omit<Peer, "name"> = { ...peerDefaults, myAsn: 64512, peerAsn: 64513, address: address("192.0.2.1") }

describe("resolvePeers: valid peers", () => {
  it("resolves an eBGP peer with MetalLB's defaults", () => {
    const { peers, errors } = run([peer("ebgp", {})])
    expect(errors).toEqual([])
    expect(peers.get("ebgp")).toEqual({ name: "ebgp", ...base })
  })

  it("resolves an iBGP peer (peerASN = myASN) with every optional field", () => {
    const { peers, errors } = run([peer("ibgp", {
      peerASN: 64512,
      localASN: 64999,
      sourceAddress: "192.0.2.10",
      peerPort: 1179,
      routerID: "10.0.0.1",
      nodeSelectors: [{ matchLabels: { rack: "a" } }],
      password: "s3cret",
      enableGracefulRestart: true,
      vrf: "red",
      dualStackAddressFamily: true,
    })])
    expect(errors).toEqual([])
    expect(peers.get("ibgp")).toEqual({
      name: "ibgp",
      ...base,
      peerAsn: 64512,
      localAsn: 64999,
      sourceAddress: address("192.0.2.10"),
      port: 1179,
      routerId: address("10.0.0.1"),
      nodeSelectors: [{ requirements: [{ key: "rack", operator: "In", values: ["a"] }], text: "rack=a" }],
      password: "s3cret",
      enableGracefulRestart: true,
      vrf: "red",
      dualStackAddressFamily: true,
    })
  })

  it("resolves a dynamicASN peer (no peerASN), with ebgpMultiHop for external", () => {
    const { peers, errors } = run([peer("dyn", { peerASN: 0, dynamicASN: "external", ebgpMultiHop: true })])
    expect(errors).toEqual([])
    const { peerAsn: _, ...rest } = base
    expect(peers.get("dyn")).toEqual({ name: "dyn", ...rest, dynamicAsn: "external", ebgpMultiHop: true })
  })

  it("resolves an IPv6 peer with an IPv6 source address", () => {
    const { peers, errors } = run([peer("v6", { peerAddress: "2001:DB8::1", sourceAddress: "2001:db8::10" })])
    expect(errors).toEqual([])
    expect(peers.get("v6")).toEqual({ name: "v6", ...base, address: address("2001:db8::1"), sourceAddress: address("2001:db8::10") })
  })

  it("resolves an unnumbered peer (interface, no address)", () => {
    const { peers, errors } = run([bare("unnumbered", { myASN: 64512, dynamicASN: "internal", interface: "eth1" })])
    expect(errors).toEqual([])
    const { peerAsn: _, address: _a, ...rest } = base
    expect(peers.get("unnumbered")).toEqual({ name: "unnumbered", ...rest, dynamicAsn: "internal", interface: "eth1" })
  })

  it("resolves a peer with a BFD profile and a password from a basic-auth Secret (data, base64)", () => {
    const { peers, errors } = run(
      [peer("secure", { bfdProfile: "fast", passwordSecret: { name: "bgp-auth", namespace } })],
      { bfd: new Map([["fast", bfd]]), secrets: [secret("bgp-auth", { type: "kubernetes.io/basic-auth", data: { password: "cMOkc3N3w7ZyZA==" } })] },
    )
    expect(errors).toEqual([])
    expect(peers.get("secure")).toEqual({ name: "secure", ...base, bfdProfile: "fast", password: "pässwörd" })
  })

  it("reads the password from stringData (which wins over data), from a Secret without namespace, or from the cluster's Secrets", () => {
    const s1 = secret("a", { type: "kubernetes.io/basic-auth", data: { password: "b2xk" }, stringData: { password: "new" } })
    const s2 = secret("b", { type: "kubernetes.io/basic-auth", data: { password: "Zm9v" } }, undefined)
    const s3 = secret("c", { type: "kubernetes.io/basic-auth", stringData: { password: "bar" } })
    const { peers, errors } = run(
      [
        peer("p1", { peerAddress: "192.0.2.1", passwordSecret: { name: "a" } }),
        peer("p2", { peerAddress: "192.0.2.2", passwordSecret: { name: "b" } }),
        peer("p3", { peerAddress: "192.0.2.3", passwordSecret: { name: "c" } }),
      ],
      { secrets: [s1, s2], context: { namespace, secrets: [s3] } },
    )
    expect(errors).toEqual([])
    expect([...peers.values()].map((p) => p.password)).toEqual(["new", "foo", "bar"])
  })

  it("treats an empty passwordSecret ({}, as Go clients write it) and empty strings as unset", () => {
    const { peers, errors } = run([peer("p", { passwordSecret: {}, password: "", interface: "", sourceAddress: "", routerID: "", bfdProfile: "", localASN: 0 })])
    expect(errors).toEqual([])
    expect(peers.get("p")).toEqual({ name: "p", ...base })
  })

  it("derives timers as MetalLB does", () => {
    const cases: ReadonlyArray<[Partial<Spec>, number, number]> = [
      [{}, 90, 30],
      [{ holdTime: "9s" }, 9, 3],
      [{ holdTime: "10s" }, 10, 3],
      [{ holdTime: "3s" }, 3, 1],
      [{ holdTime: "1m30s" }, 90, 30],
      [{ holdTime: "0s" }, 0, 0],
      [{ holdTime: "0" }, 0, 0],
      [{ keepaliveTime: "20s" }, 60, 20],
      [{ keepaliveTime: "0s" }, 0, 0],
      [{ holdTime: "240s", keepaliveTime: "80s" }, 240, 80],
      [{ holdTime: "30s", keepaliveTime: "30s" }, 30, 30],
      [{ holdTime: "65535s" }, 65535, 21845],
      [{ holdTime: "3000ms" }, 3, 1],
    ]
    for (const [spec, hold, keepalive] of cases) {
      const { peers, errors } = run([peer("t", spec)])
      expect(errors, JSON.stringify(spec)).toEqual([])
      expect(peers.get("t")).toMatchObject({ holdTimeSeconds: hold, keepaliveTimeSeconds: keepalive })
    }
  })

  it("records connectTime in seconds, and leaves it out when unset", () => {
    expect(run([peer("c", { connectTime: "10s" })]).peers.get("c")?.connectTimeSeconds).toBe(10)
    expect(run([peer("c", { connectTime: "1s" })]).peers.get("c")?.connectTimeSeconds).toBe(1)
    expect(run([peer("c", { connectTime: "18h12m15s" })]).peers.get("c")?.connectTimeSeconds).toBe(65535)
    expect(run([peer("c", {})]).peers.get("c")).not.toHaveProperty("connectTimeSeconds")
  })
})

describe("resolvePeers: rules", () => {
  it("myASN 0: InvalidAsn", () => {
    expect(oneError({ myASN: 0 })).toMatchObject({ code: "InvalidAsn", severity: "permanent", field: "spec.myASN", value: 0 })
  })

  it("peerASN and dynamicASN together: ConflictingFields", () => {
    expect(oneError({ dynamicASN: "external" })).toMatchObject({ code: "ConflictingFields", severity: "permanent", field: "spec.dynamicASN", value: "external" })
  })

  it("neither peerASN (0 is unset) nor dynamicASN: MissingField", () => {
    for (const spec of [{ peerASN: 0 }, { myASN: 64512, peerAddress: "192.0.2.1" }]) {
      const error = oneError(spec, {}, "peerASN" in spec ? peer : bare)
      expect(error).toMatchObject({ code: "MissingField", severity: "permanent", field: "spec.peerASN" })
      expect(error.value).toBeUndefined()
    }
  })

  it("ebgpMultiHop on an iBGP session (peerASN = myASN or dynamicASN internal): ConflictingFields", () => {
    expect(oneError({ peerASN: 64512, ebgpMultiHop: true })).toMatchObject({ code: "ConflictingFields", severity: "permanent", field: "spec.ebgpMultiHop", value: true })
    expect(oneError({ myASN: 64512, dynamicASN: "internal", peerAddress: "192.0.2.1", ebgpMultiHop: true }, {}, bare))
      .toMatchObject({ code: "ConflictingFields", field: "spec.ebgpMultiHop", value: true })
    expect(run([peer("ok", { ebgpMultiHop: true })]).errors).toEqual([])
  })

  it("peerAddress and interface together: ConflictingFields", () => {
    expect(oneError({ interface: "eth0" })).toMatchObject({ code: "ConflictingFields", severity: "permanent", field: "spec.interface", value: "eth0" })
  })

  it("neither peerAddress nor interface: MissingField", () => {
    expect(oneError({ peerAddress: "" })).toMatchObject({ code: "MissingField", severity: "permanent", field: "spec.peerAddress" })
    expect(oneError({ myASN: 1, peerASN: 2 }, {}, bare)).toMatchObject({ code: "MissingField", field: "spec.peerAddress" })
  })

  it("addresses that do not parse: InvalidAddress", () => {
    expect(oneError({ peerAddress: "192.0.2.300" })).toMatchObject({ code: "InvalidAddress", severity: "permanent", field: "spec.peerAddress", value: "192.0.2.300" })
    expect(oneError({ peerAddress: "peer.example" })).toMatchObject({ code: "InvalidAddress", field: "spec.peerAddress", value: "peer.example" })
    expect(oneError({ sourceAddress: "10.0.0" })).toMatchObject({ code: "InvalidAddress", field: "spec.sourceAddress", value: "10.0.0" })
    expect(oneError({ routerID: "router-1" })).toMatchObject({ code: "InvalidAddress", field: "spec.routerID", value: "router-1" })
  })

  it("a router ID that is not IPv4: InvalidAddress", () => {
    expect(oneError({ routerID: "2001:db8::1" })).toMatchObject({ code: "InvalidAddress", severity: "permanent", field: "spec.routerID", value: "2001:db8::1" })
  })

  it("sourceAddress of the other family than peerAddress: ConflictingFields", () => {
    expect(oneError({ sourceAddress: "2001:db8::1" })).toMatchObject({ code: "ConflictingFields", severity: "permanent", field: "spec.sourceAddress", value: "2001:db8::1" })
    expect(oneError({ peerAddress: "2001:db8::2", sourceAddress: "192.0.2.9" })).toMatchObject({ code: "ConflictingFields", field: "spec.sourceAddress", value: "192.0.2.9" })
  })

  it("timers that are not non-negative whole-second durations: InvalidTimer", () => {
    const cases: ReadonlyArray<[keyof Spec, string]> = [
      ["holdTime", "abc"], ["holdTime", "90"], ["holdTime", ""], ["holdTime", "-30s"], ["holdTime", "1500ms"], ["holdTime", "3.5s"],
      ["keepaliveTime", "ten"], ["keepaliveTime", "-1s"], ["keepaliveTime", "1.5s"],
      ["connectTime", "x"], ["connectTime", "-5s"], ["connectTime", "2500ms"],
    ]
    for (const [key, text] of cases) {
      expect(oneError({ [key]: text }), `${key} ${text}`).toMatchObject({ code: "InvalidTimer", severity: "permanent", field: `spec.${key}`, value: text })
    }
  })

  it("hold time 1 or 2 s: InvalidTimer (RFC 4271: 0 or at least 3)", () => {
    for (const text of ["1s", "2s", "2000ms"]) {
      expect(oneError({ holdTime: text })).toMatchObject({ code: "InvalidTimer", severity: "permanent", field: "spec.holdTime", value: text })
    }
  })

  it("hold time beyond the 16-bit OPEN field: InvalidTimer", () => {
    expect(oneError({ holdTime: "65536s" })).toMatchObject({ code: "InvalidTimer", field: "spec.holdTime", value: "65536s" })
    expect(oneError({ keepaliveTime: "30000s" })).toMatchObject({ code: "InvalidTimer", field: "spec.keepaliveTime", value: "30000s" })
  })

  it("keepalive above hold: InvalidTimer", () => {
    expect(oneError({ holdTime: "30s", keepaliveTime: "40s" })).toMatchObject({ code: "InvalidTimer", severity: "permanent", field: "spec.keepaliveTime", value: "40s" })
  })

  it("hold 0 with keepalive above 0: InvalidTimer", () => {
    const error = oneError({ holdTime: "0s", keepaliveTime: "10s" })
    expect(error).toMatchObject({ code: "InvalidTimer", severity: "permanent", field: "spec.keepaliveTime", value: "10s" })
    expect(error.message).toMatch(/holdTime 0/)
  })

  it("connectTime outside 1..65535 s: InvalidTimer", () => {
    for (const text of ["0s", "0", "65536s", "24h"]) {
      expect(oneError({ connectTime: text })).toMatchObject({ code: "InvalidTimer", severity: "permanent", field: "spec.connectTime", value: text })
    }
  })

  it("password and passwordSecret together: ConflictingFields", () => {
    const secrets = [secret("auth", { type: "kubernetes.io/basic-auth", stringData: { password: "x" } })]
    expect(oneError({ password: "inline", passwordSecret: { name: "auth" } }, { secrets }))
      .toMatchObject({ code: "ConflictingFields", severity: "permanent", field: "spec.passwordSecret", value: { name: "auth" } })
  })

  it("passwordSecret without a name reads no Secret, as in MetalLB: an IgnoredField warning, the inline password stays", () => {
    const error = oneError({ passwordSecret: { namespace }, password: "inline" })
    expect(error).toMatchObject({ code: "IgnoredField", severity: "warning", field: "spec.passwordSecret", value: { namespace } })
    expect(error.message).toContain("set passwordSecret.name")
    expect(run([peer("p", { passwordSecret: { namespace }, password: "inline" })]).peers.get("p")?.password).toBe("inline")
  })

  it("passwordSecret.namespace is ignored as MetalLB ignores it: the Secret is read by name from our namespace, with a warning naming the ignored one", () => {
    const secrets = [
      secret("auth", { type: "kubernetes.io/basic-auth", stringData: { password: "ours" } }),
      secret("auth", { type: "kubernetes.io/basic-auth", stringData: { password: "theirs" } }, "default"),
    ]
    const { peers, errors } = run([peer("p", { passwordSecret: { name: "auth", namespace: "default" } })], { secrets })
    expect(errors).toEqual([expect.objectContaining({ code: "IgnoredField", severity: "warning", field: "spec.passwordSecret.namespace", value: "default" })])
    expect(errors[0]?.message).toContain(`read from namespace "${namespace}"`)
    expect(peers.get("p")?.password).toBe("ours")
    // Naming our own namespace is no news: no warning.
    expect(run([peer("p", { passwordSecret: { name: "auth", namespace } })], { secrets }).errors).toEqual([])
    // Only in the other namespace: the Secret is not found where MetalLB looks (transient), besides the warning.
    const elsewhere = run([peer("p", { passwordSecret: { name: "auth", namespace: "default" } })], { secrets: secrets.slice(1) })
    expect(elsewhere.errors.map((e) => `${e.code} ${e.severity}`)).toEqual(["IgnoredField warning", "UnknownSecret transient"])
  })

  it("a Secret that does not exist (in our namespace): transient UnknownSecret", () => {
    const elsewhere = [secret("auth", { type: "kubernetes.io/basic-auth", stringData: { password: "x" } }, "default")]
    for (const secrets of [[], elsewhere]) {
      expect(oneError({ passwordSecret: { name: "auth" } }, { secrets }))
        .toMatchObject({ code: "UnknownSecret", severity: "transient", field: "spec.passwordSecret.name", value: "auth" })
    }
  })

  it("a Secret of another type: InvalidSecret, pointing at the Secret's type and naming it", () => {
    for (const type of ["Opaque", undefined]) {
      const secrets = [secret("auth", { ...(type === undefined ? {} : { type }), stringData: { password: "x" } })]
      const error = oneError({ passwordSecret: { name: "auth" } }, { secrets })
      expect(error).toMatchObject({
        code: "InvalidSecret",
        severity: "permanent",
        field: "spec.passwordSecret.name",
        value: "auth",
        other: { object: { kind: "Secret", name: "auth", namespace }, field: "type" },
      })
      expect(error.other?.value).toBe(type)
      // The message names the type found and the fix.
      expect(error.message).toBe(type === undefined
        ? 'the password Secret "auth" is of type "Opaque" (no type given), not kubernetes.io/basic-auth: create it with type: kubernetes.io/basic-auth (a Secret\'s type cannot be changed in place)'
        : 'the password Secret "auth" is of type "Opaque", not kubernetes.io/basic-auth: create it with type: kubernetes.io/basic-auth (a Secret\'s type cannot be changed in place)')
    }
  })

  it("a line break in interface, vrf, password or the Secret's password: InvalidText, never echoing a password (MetalLB refuses them)", () => {
    expect(oneError({ myASN: 1, peerASN: 2, interface: "eth0\n" }, {}, bare)).toMatchObject({ code: "InvalidText", field: "spec.interface", value: "eth0\n" })
    expect(oneError({ vrf: "red\r" })).toMatchObject({ code: "InvalidText", field: "spec.vrf", value: "red\r" })
    const inline = oneError({ password: "pa\nss" })
    expect(inline).toMatchObject({ code: "InvalidText", field: "spec.password" })
    expect(JSON.stringify(inline)).not.toContain("pa\\nss")
    for (const fields of [{ stringData: { password: "pa\nss" } }, { data: { password: "cGEKc3M=" } }]) {
      const error = oneError({ passwordSecret: { name: "auth" } }, { secrets: [secret("auth", { type: "kubernetes.io/basic-auth", ...fields })] })
      expect(error).toMatchObject({ code: "InvalidText", field: "spec.passwordSecret.name", value: "auth", other: { field: "data.password" } })
      expect(JSON.stringify(error)).not.toContain("pa\\nss")
    }
  })

  it("a Secret without a password key: InvalidSecret, pointing at data.password", () => {
    const secrets = [secret("auth", { type: "kubernetes.io/basic-auth", data: { username: "dXNlcg==" } })]
    expect(oneError({ passwordSecret: { name: "auth" } }, { secrets })).toMatchObject({
      code: "InvalidSecret",
      severity: "permanent",
      field: "spec.passwordSecret.name",
      value: "auth",
      other: { object: { kind: "Secret", name: "auth", namespace }, field: "data.password" },
    })
  })

  it("a password that is not base64 UTF-8: InvalidSecret, without echoing the secret material", () => {
    for (const encoded of ["not base64!", "abc", "/w=="]) {
      const secrets = [secret("auth", { type: "kubernetes.io/basic-auth", data: { password: encoded } })]
      const error = oneError({ passwordSecret: { name: "auth" } }, { secrets })
      expect(error).toMatchObject({ code: "InvalidSecret", field: "spec.passwordSecret.name", other: { field: "data.password" } })
      expect(JSON.stringify(error)).not.toContain(encoded)
    }
  })

  it("a BFD profile that does not exist: transient UnknownBfdProfile", () => {
    expect(oneError({ bfdProfile: "slow" }, { bfd: new Map([["fast", bfd]]) }))
      .toMatchObject({ code: "UnknownBfdProfile", severity: "transient", field: "spec.bfdProfile", value: "slow" })
  })

  it("an invalid node selector: InvalidSelector at the problem's path", () => {
    expect(oneError({ nodeSelectors: [{}, { matchExpressions: [{ key: "zone", operator: "In", values: [] }] }] })).toMatchObject({
      code: "InvalidSelector",
      severity: "permanent",
      field: "spec.nodeSelectors[1].matchExpressions[0].values",
      value: [],
    })
    expect(oneError({ nodeSelectors: [{ matchLabels: { "bad key!": "x" } }] }))
      .toMatchObject({ code: "InvalidSelector", field: "spec.nodeSelectors[0].matchLabels.bad key!", value: "bad key!" })
  })

  it("the same node selector twice (by meaning): DuplicateEntry", () => {
    const raw = { matchExpressions: [{ key: "rack", operator: "In" as const, values: ["a"] }] }
    expect(oneError({ nodeSelectors: [{ matchLabels: { rack: "a" } }, { matchLabels: { zone: "z" } }, raw] }))
      .toMatchObject({ code: "DuplicateEntry", severity: "permanent", field: "spec.nodeSelectors[2]", value: raw })
  })

  it("disableMP: a Deprecated warning, and the peer is still resolved", () => {
    const error = oneError({ disableMP: true })
    expect(error).toMatchObject({ code: "Deprecated", severity: "warning", field: "spec.disableMP", value: true })
    expect(error.message).toMatch(/dualStackAddressFamily/)
    expect(run([peer("p", { disableMP: true })]).peers.get("p")?.disableMP).toBe(true)
    expect(run([peer("p", { disableMP: false })]).errors).toEqual([])
  })

  it("an object in another namespace: WrongNamespace", () => {
    const result = run([peer("p", {}, "default")])
    expect(result.errors).toEqual([expect.objectContaining({
      code: "WrongNamespace",
      severity: "permanent",
      object: { kind: "BGPPeer", name: "p", namespace: "default" },
      field: "metadata.namespace",
      value: "default",
    })])
    expect(result.peers.size).toBe(0)
    expect(run([peer("p", {}, undefined)]).errors).toEqual([])
  })

  it("a repeated name: DuplicateName against the first, which stays", () => {
    const { peers, errors } = run([peer("p", { peerAddress: "192.0.2.1" }), peer("p", { peerAddress: "192.0.2.2" })])
    expect(errors).toEqual([expect.objectContaining({
      code: "DuplicateName",
      severity: "permanent",
      object: ref("p"),
      field: "metadata.name",
      value: "p",
      other: { object: ref("p"), field: "metadata.name", value: "p" },
    })])
    expect(peers.get("p")?.address).toEqual(address("192.0.2.1"))
  })

  it("the same session twice (address, port, vrf, node set): DuplicatePeer against the first", () => {
    const { peers, errors } = run([peer("a", { peerAddress: "2001:db8::1" }), peer("b", { peerAddress: "2001:DB8:0::1", peerASN: 65000 })])
    expect(errors).toEqual([expect.objectContaining({
      code: "DuplicatePeer",
      severity: "permanent",
      object: ref("b"),
      field: "spec.peerAddress",
      value: "2001:DB8:0::1",
      other: { object: ref("a"), field: "spec.peerAddress", value: "2001:db8::1" },
    })])
    expect([...peers.keys()]).toEqual(["a"])
  })

  it("DuplicatePeer keeps the first in document order (source, then name), whatever the input order", () => {
    const at = (p: Located<BGPPeer>, document: number): Located<BGPPeer> => ({ ...p, ref: { ...p.ref, source: { file: "peers.yaml", document } } })
    const zeta = at(peer("zeta", {}), 0)
    const alpha = at(peer("alpha", {}), 1)
    for (const input of [[zeta, alpha], [alpha, zeta]]) {
      const { peers, errors } = run(input)
      expect(errors).toEqual([expect.objectContaining({ code: "DuplicatePeer", object: alpha.ref, other: expect.objectContaining({ object: zeta.ref }) })])
      expect([...peers.keys()]).toEqual(["zeta"])
    }
    // Without a source (objects read from the cluster) the name decides.
    for (const input of [[peer("zeta", {}), peer("alpha", {})], [peer("alpha", {}), peer("zeta", {})]]) {
      const { peers, errors } = run(input)
      expect(errors).toEqual([expect.objectContaining({ code: "DuplicatePeer", object: ref("zeta"), other: expect.objectContaining({ object: ref("alpha") }) })])
      expect([...peers.keys()]).toEqual(["alpha"])
    }
  })

  it("DuplicatePeer: the same address or interface, port and vrf on node selections that meet", () => {
    const s1 = { matchLabels: { rack: "a" } }
    const s2 = { matchLabels: { zone: "z" } }
    const duplicates: ReadonlyArray<[Partial<Spec>, Partial<Spec>]> = [
      [{ nodeSelectors: [] }, { nodeSelectors: [{}] }],
      [{}, { nodeSelectors: [{}, s1] }],
      [{ nodeSelectors: [s1, s2] }, { nodeSelectors: [s2, s1] }],
      [{ peerPort: 179 }, {}],
      [{ vrf: "" }, {}],
    ]
    for (const [a, b] of duplicates) {
      const { errors } = run([peer("a", a), peer("b", b)])
      expect(errors.map((e) => e.code), JSON.stringify([a, b])).toEqual(["DuplicatePeer"])
    }
    const unnumbered = run([bare("a", { myASN: 1, dynamicASN: "external", interface: "eth0" }), bare("b", { myASN: 1, peerASN: 2, interface: "eth0" })])
    expect(unnumbered.errors).toEqual([expect.objectContaining({
      code: "DuplicatePeer",
      field: "spec.interface",
      value: "eth0",
      other: { object: ref("a"), field: "spec.interface", value: "eth0" },
    })])
    const distinct: ReadonlyArray<[Partial<Spec>, Partial<Spec>]> = [
      [{ peerPort: 179 }, { peerPort: 1179 }],
      [{ vrf: "red" }, {}],
      [{ peerAddress: "192.0.2.1" }, { peerAddress: "192.0.2.2" }],
    ]
    for (const [a, b] of distinct) {
      expect(run([peer("a", a), peer("b", b)]).errors, JSON.stringify([a, b])).toEqual([])
    }
  })

  it("collects every problem of every peer in one pass, in input order", () => {
    const { peers, errors } = run([
      peer("bad", {
        myASN: 0,
        dynamicASN: "internal",
        interface: "eth0",
        sourceAddress: "nope",
        holdTime: "2s",
        keepaliveTime: "1h",
        connectTime: "0s",
        password: "x",
        passwordSecret: { name: "missing" },
        bfdProfile: "none",
        nodeSelectors: [{ matchExpressions: [{ key: "k", operator: "Exists", values: ["v"] }] }],
        disableMP: true,
      }),
      peer("good", { peerAddress: "192.0.2.50" }),
      peer("bad", { peerAddress: "192.0.2.51", routerID: "::1" }),
    ])
    expect(errors.map((e) => `${e.object.name} ${e.code} ${e.field} ${e.severity}`)).toEqual([
      "bad InvalidAsn spec.myASN permanent",
      "bad ConflictingFields spec.dynamicASN permanent",
      "bad ConflictingFields spec.interface permanent",
      "bad InvalidAddress spec.sourceAddress permanent",
      "bad InvalidTimer spec.holdTime permanent",
      "bad InvalidTimer spec.connectTime permanent",
      "bad ConflictingFields spec.passwordSecret permanent",
      "bad UnknownSecret spec.passwordSecret.name transient",
      "bad UnknownBfdProfile spec.bfdProfile transient",
      "bad InvalidSelector spec.nodeSelectors[0].matchExpressions[0].values permanent",
      "bad Deprecated spec.disableMP warning",
      "bad InvalidAddress spec.routerID permanent",
      "bad DuplicateName metadata.name permanent",
    ])
    expect([...peers.keys()]).toEqual(["good"])
  })
})

describe("resolvePeers: peers that can run on one node (MetalLB FRR mode)", () => {
  const rack = (value: string) => ({ matchLabels: { rack: value } })
  const zone = (value: string) => ({ matchLabels: { zone: value } })
  const codes = (a: Partial<Spec>, b: Partial<Spec>, options: Parameters<typeof run>[1] = {}) =>
    run([peer("a", a), peer("b", b)], options).errors.map((e) => `${e.object.name} ${e.code} ${e.field}`)
  const nodes = (...list: ReadonlyArray<[string, Record<string, string>]>): ResolveContext => ({ ...context, nodes: list.map(([name, labels]) => ({ name, labels })) })

  it("the same session on node selections that may meet is a DuplicatePeer, decided from the selectors when no Nodes are known", () => {
    const meet: ReadonlyArray<[Partial<Spec>, Partial<Spec>]> = [
      [{}, { nodeSelectors: [rack("a")] }], // no selectors: every node
      [{ nodeSelectors: [rack("a")] }, { nodeSelectors: [zone("z")] }], // not provably disjoint
      [{ nodeSelectors: [rack("a"), rack("b")] }, { nodeSelectors: [rack("b")] }], // selectors are OR-ed
      [{ nodeSelectors: [{ matchExpressions: [{ key: "rack", operator: "In", values: ["a", "b"] }] }] }, { nodeSelectors: [{ matchExpressions: [{ key: "rack", operator: "NotIn", values: ["a"] }] }] }],
    ]
    for (const [a, b] of meet) expect(codes(a, b), JSON.stringify([a, b])).toEqual(["b DuplicatePeer spec.peerAddress"])
    const apart: ReadonlyArray<[Partial<Spec>, Partial<Spec>]> = [
      [{ nodeSelectors: [rack("a")] }, { nodeSelectors: [rack("b")] }],
      [{ nodeSelectors: [rack("a"), rack("c")] }, { nodeSelectors: [rack("b")] }],
      [{ nodeSelectors: [{ matchExpressions: [{ key: "rack", operator: "In", values: ["a", "b"] }] }] }, { nodeSelectors: [{ matchExpressions: [{ key: "rack", operator: "NotIn", values: ["b", "a"] }] }] }],
      [{ nodeSelectors: [{ matchExpressions: [{ key: "rack", operator: "Exists" }] }] }, { nodeSelectors: [{ matchExpressions: [{ key: "rack", operator: "DoesNotExist" }] }] }],
    ]
    for (const [a, b] of apart) expect(codes(a, b), JSON.stringify([a, b])).toEqual([])
  })

  it("with Nodes known, the real nodes decide, and the message names a node both select; an empty list counts as unknown, as in MetalLB", () => {
    const a = { nodeSelectors: [rack("a")] }
    const b = { nodeSelectors: [zone("z")] }
    expect(codes(a, b, { context: nodes(["n1", { rack: "a" }], ["n2", { zone: "z" }]) })).toEqual([])
    const both = run([peer("a", a), peer("b", b)], { context: nodes(["n1", { rack: "a" }], ["n3", { rack: "a", zone: "z" }]) })
    expect(both.errors).toEqual([expect.objectContaining({ code: "DuplicatePeer", object: ref("b"), other: { object: ref("a"), field: "spec.peerAddress", value: "192.0.2.1" } })])
    expect(both.errors[0]?.message).toContain(`both select node "n3"`)
    expect(both.errors[0]?.message).toContain("nodeSelectors that select no common node")
    expect(codes(a, b, { context: nodes() })).toEqual(["b DuplicatePeer spec.peerAddress"])
    // Peers without selectors meet on any node, but on no node when none matches the other's selector.
    expect(codes({}, a, { context: nodes(["n2", { zone: "z" }]) })).toEqual([])
  })

  it("routerID: peers that may share a node agree on it, set on all or on none; across VRFs too (one router ID per node, as MetalLB)", () => {
    expect(codes({ peerAddress: "192.0.2.1" }, { peerAddress: "192.0.2.2" })).toEqual([])
    expect(codes({ peerAddress: "192.0.2.1", routerID: "192.0.2.100" }, { peerAddress: "192.0.2.2", routerID: "192.0.2.100" })).toEqual([])
    const differ = run([peer("a", { peerAddress: "192.0.2.1", routerID: "192.0.2.100" }), peer("b", { peerAddress: "192.0.2.2", routerID: "192.0.2.101" })])
    expect(differ.errors).toEqual([expect.objectContaining({
      code: "ConflictingRouterId",
      severity: "permanent",
      object: ref("b"),
      field: "spec.routerID",
      value: "192.0.2.101",
      other: { object: ref("a"), field: "spec.routerID", value: "192.0.2.100" },
    })])
    expect(differ.errors[0]?.message).toContain("set the same routerID on both (or on neither)")
    expect([...differ.peers.keys()]).toEqual(["a"])
    const oneUnset = run([peer("a", { peerAddress: "192.0.2.1" }), peer("b", { peerAddress: "192.0.2.2", routerID: "192.0.2.100" })])
    expect(oneUnset.errors).toEqual([expect.objectContaining({ code: "ConflictingRouterId", object: ref("b"), value: "192.0.2.100", other: { object: ref("a"), field: "spec.routerID" } })])
    expect(oneUnset.errors[0]?.message).toMatch(/^routerID 192\.0\.2\.100 here but no routerID on BGPPeer "a"/)
    expect(codes({ peerAddress: "192.0.2.1", routerID: "192.0.2.100", vrf: "red" }, { peerAddress: "192.0.2.2", routerID: "192.0.2.101" })).toEqual(["b ConflictingRouterId spec.routerID"])
    expect(codes({ peerAddress: "192.0.2.1", routerID: "192.0.2.100", nodeSelectors: [rack("a")] }, { peerAddress: "192.0.2.2", routerID: "192.0.2.101", nodeSelectors: [rack("b")] })).toEqual([])
    expect(codes({ peerAddress: "192.0.2.1", routerID: "192.0.2.100", nodeSelectors: [rack("a")] }, { peerAddress: "192.0.2.2", nodeSelectors: [zone("z")] }, {
      context: nodes(["n1", { rack: "a" }], ["n2", { zone: "z" }]),
    })).toEqual([])
    // An invalid routerID is reported once, as such, not again as a conflict.
    expect(codes({ peerAddress: "192.0.2.1", routerID: "192.0.2.100" }, { peerAddress: "192.0.2.2", routerID: "2001:db8::1" })).toEqual(["b InvalidAddress spec.routerID"])
  })

  it("myASN: peers that may share a node agree on it within one VRF; different VRFs may differ", () => {
    const differ = run([peer("a", { peerAddress: "192.0.2.1", myASN: 64512 }), peer("b", { peerAddress: "192.0.2.2", myASN: 64600 })])
    expect(differ.errors).toEqual([expect.objectContaining({
      code: "ConflictingMyAsn",
      object: ref("b"),
      field: "spec.myASN",
      value: 64600,
      other: { object: ref("a"), field: "spec.myASN", value: 64512 },
    })])
    expect(differ.errors[0]?.message).toContain("in the same default VRF")
    expect(differ.errors[0]?.message).toContain("a different vrf")
    expect(codes({ peerAddress: "192.0.2.1", myASN: 64512, vrf: "red" }, { peerAddress: "192.0.2.2", myASN: 64600, vrf: "red" })).toEqual(["b ConflictingMyAsn spec.myASN"])
    expect(codes({ peerAddress: "192.0.2.1", myASN: 64512, vrf: "red" }, { peerAddress: "192.0.2.2", myASN: 64600 })).toEqual([])
    expect(codes({ peerAddress: "192.0.2.1", myASN: 64512, nodeSelectors: [rack("a")] }, { peerAddress: "192.0.2.2", myASN: 64600, nodeSelectors: [rack("b")] })).toEqual([])
  })

  it("reports every rule a pair breaks at once, each peer against the first it conflicts with", () => {
    const { errors } = run([
      peer("a", { peerAddress: "192.0.2.1" }),
      peer("b", { peerAddress: "192.0.2.1", myASN: 64600, routerID: "192.0.2.100" }),
      peer("c", { peerAddress: "192.0.2.3", myASN: 64600, routerID: "192.0.2.100" }),
    ])
    expect(errors.map((e) => `${e.object.name} ${e.code} ${e.other?.object.name}`)).toEqual([
      "b DuplicatePeer a",
      "b ConflictingRouterId a",
      "b ConflictingMyAsn a",
      "c ConflictingRouterId a",
      "c ConflictingMyAsn a",
    ])
  })
})

describe("resolvePeers: properties", () => {
  // Mostly valid values with a sprinkling of invalid ones, so that some peers resolve and some do not.
  const often = <T>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<T>) => fc.oneof({ arbitrary: valid, weight: 8 }, { arbitrary: invalid, weight: 1 })
  /** Absent (weight `absent`) or present. */
  const opt = <T>(arb: fc.Arbitrary<T>, absent = 3) => fc.oneof({ arbitrary: fc.constant(undefined), weight: absent }, { arbitrary: arb, weight: 1 })
  const asn = often(fc.integer({ min: 1, max: 4294967295 }), fc.constantFrom(0, 64512))
  const durations = often(
    fc.oneof(fc.constantFrom("0s", "3s", "30s", "90s", "1m30s", "3m", "1h"), fc.integer({ min: 3, max: 600 }).map((n) => `${n}s`)),
    fc.oneof(fc.constantFrom("0", "1s", "2s", "1.5s", "1500ms", "-5s", "abc", "", "65536s", "300ms"), fc.nat({ max: 100_000 }).map((n) => `${n}s`), fc.string({ maxLength: 8 })),
  )
  const invalidAddresses = fc.oneof(fc.constantFrom("", "192.0.2.300", "fe80::1%eth0", "host", "010.0.0.1"), fc.string({ maxLength: 10 }))
  const addresses = often(fc.oneof(fc.ipV4(), fc.ipV6()), invalidAddresses)
  const labelText = often(fc.constantFrom("rack", "zone", "a", "b", "kubernetes.io/hostname"), fc.oneof(fc.constant(""), fc.string({ maxLength: 6 })))
  const selector = fc.record({
    matchLabels: opt(fc.dictionary(labelText, labelText, { maxKeys: 2 }), 1),
    matchExpressions: opt(fc.array(fc.record({
      key: labelText,
      operator: fc.constantFrom("In" as const, "NotIn" as const, "Exists" as const, "DoesNotExist" as const),
      values: opt(fc.array(labelText, { maxLength: 2 }), 1),
    }), { maxLength: 2 }), 1),
  })
  const spec = fc.record({
    myASN: asn,
    peerASN: fc.oneof({ arbitrary: asn, weight: 6 }, { arbitrary: fc.constant(undefined), weight: 1 }),
    dynamicASN: opt(fc.constantFrom("internal" as const, "external" as const), 6),
    localASN: opt(fc.integer({ min: 0, max: 4294967295 })),
    peerAddress: fc.oneof({ arbitrary: addresses, weight: 6 }, { arbitrary: fc.constant(undefined), weight: 1 }),
    interface: opt(fc.constantFrom("", "eth0", "eth1"), 6),
    sourceAddress: opt(addresses),
    peerPort: opt(fc.integer({ min: 1, max: 16384 })),
    holdTime: opt(durations, 1),
    keepaliveTime: opt(durations, 1),
    connectTime: opt(durations, 2),
    routerID: opt(often(fc.ipV4(), fc.oneof(fc.ipV6(), invalidAddresses))),
    nodeSelectors: opt(fc.array(selector, { maxLength: 3 }), 1),
    password: opt(fc.constantFrom("", "pw")),
    passwordSecret: opt(fc.record({ name: opt(fc.constantFrom("", "auth", "opaque", "missing"), 1), namespace: opt(fc.constantFrom("", namespace, "default"), 1) }), 4),
    bfdProfile: opt(fc.constantFrom("", "fast", "slow")),
    enableGracefulRestart: opt(fc.boolean()),
    ebgpMultiHop: opt(fc.boolean(), 5),
    vrf: opt(fc.constantFrom("", "red")),
    disableMP: opt(fc.boolean()),
    dualStackAddressFamily: opt(fc.boolean()),
  }).map((s) => JSON.parse(JSON.stringify(s)) as Spec) // drops the undefined keys: optional fields absent, as decoded
  const secrets = [
    secret("auth", { type: "kubernetes.io/basic-auth", data: { password: "cGFzcw==" } }),
    secret("opaque", { type: "Opaque", stringData: { password: "x" } }),
  ]
  const bfdProfiles = new Map([["fast", bfd]])

  it("never throws on any decoded peer; what it resolves is consistent (fuzz)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom("a", "b", "c", "d"), opt(fc.constantFrom(namespace, "default"), 1), spec), { maxLength: 5 }), (entries) => {
        const input = entries.map(([name, ns, s]) => {
          const p = peer(name, {}, ns)
          return { ...p, object: { ...p.object, spec: s } }
        })
        const { peers, errors } = resolvePeers(input, bfdProfiles, secrets, context)
        for (const error of errors) {
          expect(error._tag).toBe("ConfigError")
          expect(error.field.length).toBeGreaterThan(0)
          expect(error.message.length).toBeGreaterThan(0)
          expect(input.some((p) => p.ref === error.object || p.ref.name === error.object.name)).toBe(true)
        }
        for (const [name, p] of peers) {
          expect(p.name).toBe(name)
          expect(p.myAsn).toBeGreaterThan(0)
          expect((p.peerAsn === undefined) !== (p.dynamicAsn === undefined)).toBe(true)
          expect((p.address === undefined) !== (p.interface === undefined)).toBe(true)
          expect(p.holdTimeSeconds === 0 || (p.holdTimeSeconds >= 3 && p.holdTimeSeconds <= 65535)).toBe(true)
          expect(p.keepaliveTimeSeconds).toBeLessThanOrEqual(p.holdTimeSeconds)
          if (p.holdTimeSeconds === 0) expect(p.keepaliveTimeSeconds).toBe(0)
          if (p.routerId !== undefined) expect(p.routerId.family).toBe("ipv4")
          if (p.bfdProfile !== undefined) expect(bfdProfiles.has(p.bfdProfile)).toBe(true)
        }
      }),
      { numRuns: 1000 },
    )
  })

  it("does not depend on input order for peers with distinct names and addresses", () => {
    const sortedErrors = (errors: ReadonlyArray<ConfigError>) => errors.map((e) => JSON.stringify(e)).sort()
    const sortedPeers = (peers: ReadonlyMap<string, Peer>) => [...peers.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    const distinct = fc.array(spec, { maxLength: 6 }).chain((specs) => {
      const input = specs.map((s, i) => peer(`peer-${i}`, { ...without(s, "interface"), peerAddress: i % 2 === 0 ? `10.0.0.${i}` : `2001:db8::${i}` }))
      return fc.tuple(fc.constant(input), fc.shuffledSubarray(input, { minLength: input.length, maxLength: input.length }))
    })
    fc.assert(
      fc.property(distinct, ([input, shuffled]) => {
        const a = resolvePeers(input, bfdProfiles, secrets, context)
        const b = resolvePeers(shuffled, bfdProfiles, secrets, context)
        expect(sortedPeers(b.peers)).toEqual(sortedPeers(a.peers))
        expect(sortedErrors(b.errors)).toEqual(sortedErrors(a.errors))
      }),
      { numRuns: 1000 },
    )
  })

  // Few addresses, racks, routerIDs and ASNs, so that sessions, routerIDs and myASNs collide often.
  const crowded = fc.record({
    peerAddress: fc.constantFrom("192.0.2.1", "192.0.2.2"),
    myASN: fc.constantFrom(64500, 64600),
    routerID: opt(fc.constantFrom("192.0.2.100", "192.0.2.101"), 1),
    vrf: opt(fc.constant("red"), 2),
    nodeSelectors: opt(fc.array(fc.constantFrom("a", "b", "c").map((rack) => ({ matchLabels: { rack } })), { minLength: 1, maxLength: 2 }), 1),
  }).map((s) => JSON.parse(JSON.stringify(s)) as Partial<Spec>)
  const crowdedPeers = fc.array(crowded, { maxLength: 6 }).map((specs) => specs.map((s, i) => peer(`peer-${i}`, s)))
  const racks = fc.option(fc.array(fc.subarray(["a", "b", "c"], { minLength: 1, maxLength: 1 }).map(([rack]) => ({ rack: rack! })), { maxLength: 3 }), { nil: undefined })

  it("what it resolves never holds two peers that may share a node with one session, two routerIDs, or two myASNs in a VRF (property)", () => {
    let conflicts = 0
    fc.assert(
      fc.property(crowdedPeers, racks, (input, labels) => {
        const nodes = labels?.map((l, i) => ({ name: `n${i}`, labels: l }))
        const { peers, errors } = resolvePeers(input, bfdProfiles, secrets, { ...context, ...(nodes === undefined ? {} : { nodes }) })
        conflicts += errors.length
        const resolved = [...peers.values()]
        resolved.forEach((a, i) => {
          for (const b of resolved.slice(i + 1)) {
            const meet = nodes === undefined || nodes.length === 0
              ? a.nodeSelectors.length === 0 || b.nodeSelectors.length === 0 || a.nodeSelectors.some((x) => b.nodeSelectors.some((y) => x.text === y.text))
              : nodes.some((n) => anyMatches(a.nodeSelectors, n.labels) && anyMatches(b.nodeSelectors, n.labels))
            if (!meet) continue
            expect(a.address !== undefined && b.address !== undefined && addressEquals(a.address, b.address) && a.vrf === b.vrf, `${a.name} ${b.name}`).toBe(false)
            expect(a.routerId?.value).toBe(b.routerId?.value)
            if (a.vrf === b.vrf) expect(a.myAsn).toBe(b.myAsn)
          }
        })
      }),
      { numRuns: 1000 },
    )
    expect(conflicts).toBeGreaterThan(100)
  })

  it("does not depend on input order when sessions, routerIDs and myASNs collide (property)", () => {
    const sortedErrors = (errors: ReadonlyArray<ConfigError>) => errors.map((e) => JSON.stringify(e)).sort()
    const shuffledPair = crowdedPeers.chain((input) => fc.tuple(fc.constant(input), fc.shuffledSubarray(input, { minLength: input.length, maxLength: input.length })))
    fc.assert(
      fc.property(shuffledPair, racks, ([input, shuffled], labels) => {
        const ctx = { ...context, ...(labels === undefined ? {} : { nodes: labels.map((l, i) => ({ name: `n${i}`, labels: l })) }) }
        const a = resolvePeers(input, bfdProfiles, secrets, ctx)
        const b = resolvePeers(shuffled, bfdProfiles, secrets, ctx)
        expect([...b.peers.keys()].sort()).toEqual([...a.peers.keys()].sort())
        expect(sortedErrors(b.errors)).toEqual(sortedErrors(a.errors))
      }),
      { numRuns: 1000 },
    )
  })
})
