// The BGP session FSM (RFC 4271 §8) and everything a driver needs to run it: the configuration, the
// inputs and outputs, the state and the pure step function. The shell and the simulator import this
// module only; the pieces live in core/bgp/session/.
export {
  type BackoffConfig,
  type GracefulRestartConfig,
  idleHoldDelayMs,
  InvalidSessionConfig,
  metallbBackoff,
  type SessionConfig,
  validateSessionConfig,
} from "./session/config.ts"
export type { ConnectionId, SessionInput, TimerName } from "./session/inputs.ts"
export { checkOpen, keepaliveSeconds } from "./session/open-check.ts"
export { localOpen } from "./session/open.ts"
export type { CloseReason, Negotiated, PeerGracefulRestart, SessionOutput, SessionStateName } from "./session/outputs.ts"
export { openSentHoldTimeSeconds } from "./session/actions.ts"
export { type Connection, establishedConnection, makeSession, type RunningTimer, runningTimers, type Session, stateOf } from "./session/state.ts"
export { step, type Transition } from "./session/step.ts"
