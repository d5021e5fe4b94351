// The membership protocol's messages as data: SWIM's ping, ack and ping-req (Das, Gupta, Motivala 2002,
// §3-4) with membership updates piggybacked on each of them (§4.1), a gossip-only message for spreading
// updates between probes, and a full-table exchange (memberlist's push-pull) used to join and to repair
// whatever piggybacking missed. Nodes are named (Kubernetes node names); addresses are opaque strings that
// only the shell interprets (e.g. "10.0.0.5:7946"). An Alive also carries the member's metadata
// (metadata.ts: the names of its Layer 2 interfaces that are down), so a change of it spreads like any
// other news: the member raises its incarnation and gossips a new Alive, as it does to refute.

/** What a node says about one member; `incarnation` orders statements about the same member. */
export type Update =
  | {
    readonly _tag: "Alive"
    readonly name: string
    readonly incarnation: number
    readonly address: string
    /** Canonical (metadata.ts) and non-empty when present; absent when every interface is up. */
    readonly downInterfaces?: ReadonlyArray<string>
  }
  | { readonly _tag: "Suspect"; readonly name: string; readonly incarnation: number }
  | { readonly _tag: "Dead"; readonly name: string; readonly incarnation: number }
  | { readonly _tag: "Left"; readonly name: string; readonly incarnation: number }

export type Message =
  /** `target` names the intended receiver, so a ping reaching a reused address is not acked by a stranger. */
  | { readonly _tag: "Ping"; readonly seq: number; readonly from: string; readonly target: string; readonly gossip: ReadonlyArray<Update> }
  /** Answers a Ping; a helper relays it to the requester under the requester's `seq`. */
  | { readonly _tag: "Ack"; readonly seq: number; readonly from: string; readonly gossip: ReadonlyArray<Update> }
  /** Asks a helper to ping `target` on the sender's behalf (SWIM's indirect probe). */
  | {
    readonly _tag: "PingReq"
    readonly seq: number
    readonly from: string
    readonly target: string
    readonly targetAddress: string
    readonly gossip: ReadonlyArray<Update>
  }
  | { readonly _tag: "Gossip"; readonly from: string; readonly gossip: ReadonlyArray<Update> }
  /** The sender's whole member table, itself included; `reply` is false on the opening half of an exchange. */
  | { readonly _tag: "Sync"; readonly from: string; readonly reply: boolean; readonly members: ReadonlyArray<Update> }
