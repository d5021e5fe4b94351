// Rules that judge a change rather than a state, as MetalLB's webhooks do: a BGPPeer's
// enableGracefulRestart cannot be changed once set (the session would have to be re-negotiated under
// the peer's feet), and a BFDProfile cannot be deleted while a BGPPeer uses it.
import type { Located } from "./decode.ts"
import { type ConfigError, configError, type ObjectRef } from "./errors.ts"
import type { BGPPeer } from "./kinds/bgp-peer.ts"

export const checkPeerUpdate = (before: BGPPeer, after: Located<BGPPeer>): ReadonlyArray<ConfigError> => {
  const was = before.spec.enableGracefulRestart ?? false
  const now = after.object.spec.enableGracefulRestart ?? false
  return was === now
    ? []
    : [configError({
      code: "ConflictingFields",
      object: after.ref,
      field: "spec.enableGracefulRestart",
      value: now,
      other: { object: after.ref, field: "spec.enableGracefulRestart", value: was },
      message: "enableGracefulRestart cannot be changed; delete and re-create the BGPPeer instead",
    })]
}

export const checkBfdProfileDelete = (profile: ObjectRef, peers: ReadonlyArray<Located<BGPPeer>>): ReadonlyArray<ConfigError> =>
  peers
    .filter((peer) => peer.object.spec.bfdProfile === profile.name)
    .map((peer) => configError({
      code: "BfdProfileInUse",
      object: profile,
      field: "metadata.name",
      value: profile.name,
      other: { object: peer.ref, field: "spec.bfdProfile" },
      message: `BFDProfile ${JSON.stringify(profile.name)} is used by BGPPeer ${JSON.stringify(peer.ref.name)}; remove the reference first`,
    }))
