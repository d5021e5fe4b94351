// A speaker node's decision machine: `step(state, input) -> { state, outputs }`. The real speaker
// (shell/speaker/speaker.ts) and the simulator (shell/sim/speaker-actor.ts) both drive it; the pieces
// live in core/speaker/node/.
export type { LostMember, NodeInput } from "./node/inputs.ts"
export type { AnnouncedSample, NodeOutput, StatusKind, TimerName } from "./node/outputs.ts"
export { ownershipChanges } from "./node/pass.ts"
export { initialNode, type NodePhase, type NodeState, type OwnedAddress } from "./node/state.ts"
export { step, type NodeTransition } from "./node/step.ts"
