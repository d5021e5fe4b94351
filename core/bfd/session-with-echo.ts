// A BFD session with its Echo function: the control session (session.ts) and the echo machine
// (echo.ts) stepped together, so the shell and the tests run one composition. After every session
// step the echo machine hears whether the session is Up and what the neighbour allows; its activation
// and failure go back to the session within the same step, so no input can slip between an echo
// failure and the Down it causes.
import { type EchoConfig, type EchoInput, type EchoOutput, type EchoState, initialEcho, stepEcho } from "./echo.ts"
import { type BfdSession, initialSession, type SessionConfig } from "./session-state.ts"
import { type SessionInput, type SessionOutput, step } from "./session.ts"

export interface BfdWithEcho {
  readonly session: BfdSession
  readonly echo: EchoState
}

export const initialWithEcho = (session: SessionConfig, echo: EchoConfig): BfdWithEcho => ({
  session: initialSession(session),
  echo: initialEcho(echo),
})

export type WithEchoInput =
  | { readonly _tag: "Session"; readonly input: SessionInput }
  | { readonly _tag: "Echo"; readonly input: Exclude<EchoInput, { readonly _tag: "ControlChanged" }> }

/** What the step needs from the world: the clock for echo send times, randomness for a new nonce. */
export interface EchoContext {
  readonly nowUs: number
  /** Unsigned 32-bit. */
  readonly nonce: number
}

export type WithEchoOutput = SessionOutput | EchoOutput

export interface WithEchoTransition {
  readonly state: BfdWithEcho
  readonly outputs: ReadonlyArray<WithEchoOutput>
}

/** Each session step is followed by one echo step; echo's news goes back to the session (bounded: see below). */
export const stepWithEcho = (state: BfdWithEcho, input: WithEchoInput, context: EchoContext): WithEchoTransition => {
  const outputs: Array<WithEchoOutput> = []
  let { session, echo } = state
  const runSession = (sessionInput: SessionInput, depth: number): void => {
    const t = step(session, sessionInput)
    session = t.state
    outputs.push(...t.outputs)
    runEcho({
      _tag: "ControlChanged",
      up: session.running && session.state === "Up",
      remoteRequiredMinEchoRxUs: session.remoteMinEchoRxUs,
      nonce: context.nonce,
      nowUs: context.nowUs,
    }, depth)
  }
  // Echo activation changes only the session's advertised intervals, never its state or the
  // neighbour's values, so the ControlChanged after it changes nothing: two levels at most.
  const runEcho = (echoInput: EchoInput, depth: number): void => {
    const t = stepEcho(echo, echoInput)
    echo = t.state
    for (const output of t.outputs) {
      outputs.push(output)
      if (depth > 2) continue
      if (output._tag === "EchoActivated") runSession({ _tag: "EchoActive", active: true }, depth + 1)
      else if (output._tag === "EchoDeactivated") runSession({ _tag: "EchoActive", active: false }, depth + 1)
      else if (output._tag === "EchoFailed") runSession({ _tag: "EchoFailed" }, depth + 1)
    }
  }
  if (input._tag === "Session") runSession(input.input, 0)
  else runEcho(input.input, 0)
  return { state: { session, echo }, outputs }
}
