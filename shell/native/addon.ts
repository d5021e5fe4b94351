// Loading the native addon (shell/native/src, one binary for packet, TCP and UDP sockets) and reading
// the errors it throws. Each socket family's module declares the functions it needs and gets a typed
// failure at startup when the binary is missing, is not an addon, or predates those functions, rather
// than a TypeError at the first call. The addon's errors carry Node-style `code` (errno name or ERR_*)
// and `syscall`; `nativeErrorFields` lifts them into the fields every tagged error here shares.
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import { Effect, Schema } from "effect"

/** Where `npm run build:native` puts the addon. */
export const defaultAddonPath: string = fileURLToPath(new URL("./build/Release/packet.node", import.meta.url))

export class NativeAddonMissing extends Schema.TaggedError<NativeAddonMissing>()("NativeAddonMissing", {
  path: Schema.String,
  message: Schema.String,
}) {}

export class NativeAddonLoadFailed extends Schema.TaggedError<NativeAddonLoadFailed>()("NativeAddonLoadFailed", {
  path: Schema.String,
  message: Schema.String,
}) {}

const require = createRequire(import.meta.url)

/** Loads the addon at `path` and checks that it exports `functions` (the caller's view of it). */
export const loadAddon = <A>(
  path: string,
  functions: ReadonlyArray<string>,
): Effect.Effect<A, NativeAddonMissing | NativeAddonLoadFailed> =>
  Effect.suspend((): Effect.Effect<A, NativeAddonMissing | NativeAddonLoadFailed> => {
    if (!existsSync(path)) {
      return Effect.fail(
        new NativeAddonMissing({
          path,
          message: `the native addon is not built (no ${path}); run \`npm run build:native\``,
        }),
      )
    }
    return Effect.try({
      try: () => require(path) as Record<string, unknown>,
      catch: (cause) =>
        new NativeAddonLoadFailed({
          path,
          message: `could not load the native addon ${path}: ${cause instanceof Error ? cause.message : String(cause)}; rebuild it with \`npm run build:native\``,
        }),
    }).pipe(
      Effect.flatMap((exports) => {
        const missing = functions.filter((name) => typeof exports[name] !== "function")
        return missing.length === 0
          ? Effect.succeed(exports as unknown as A)
          : Effect.fail(
              new NativeAddonLoadFailed({
                path,
                message: `${path} is not the current native addon (missing ${missing.join(", ")}); rebuild it with \`npm run build:native\``,
              }),
            )
      }),
    )
  })

export interface NativeErrorFields {
  /** errno name (ECONNREFUSED, ETIMEDOUT, EPERM, ...) or an ERR_* code for argument mistakes. */
  readonly code: string
  readonly syscall?: string
  readonly message: string
}

/** The code, syscall and message of whatever the addon (or Node) threw. */
export const nativeErrorFields = (cause: unknown): NativeErrorFields => {
  const error = cause as { code?: unknown; syscall?: unknown; message?: unknown } | null | undefined
  return {
    code: typeof error?.code === "string" ? error.code : "EUNKNOWN",
    ...(typeof error?.syscall === "string" ? { syscall: error.syscall } : {}),
    message: typeof error?.message === "string" ? error.message : String(cause),
  }
}

/** What a socket operation was doing, for its typed error. */
export interface OperationContext {
  readonly operation: string
  readonly address?: string | undefined
  readonly port?: number | undefined
  readonly netnsPath?: string | undefined
}

/**
 * The fields of a socket error: the operation's context and what the addon threw. The context comes
 * from caller options the addon may just have refused, so only well-typed values make it in.
 */
export const operationErrorFields = (context: OperationContext, cause: unknown) => ({
  operation: context.operation,
  ...(typeof context.address === "string" ? { address: context.address } : {}),
  ...(typeof context.port === "number" ? { port: context.port } : {}),
  ...(typeof context.netnsPath === "string" ? { netnsPath: context.netnsPath } : {}),
  ...nativeErrorFields(cause),
})
