// What a socket handle of the addon receives (frames, datagrams), as a Stream. The addon calls back on
// the event loop; the callback offers into a bounded queue that drops, and counts, what a slow consumer
// cannot take, because stalling the event loop for one socket would stall every protocol. One consumer
// reads at a time; a receive error fails the stream, and running it again resumes reading on the same
// socket. Closing the socket ends whatever stream is still running.
import { Cause, Effect, Queue, Stream } from "effect"

/** The part of the addon every readable handle (packet or UDP socket) shares. */
export interface ReadableAddon<H, V> {
  readonly startReading: (handle: H, onData: (value: V) => void, onError?: (error: Error) => void) => void
  readonly stopReading: (handle: H) => void
  readonly stats: (handle: H) => { readonly open: boolean }
}

export interface HandleReader<A, E> {
  readonly stream: Stream.Stream<A, E>
  /** Units received but dropped because the consumer fell behind. */
  readonly dropped: () => number
  /** Ends the running streams; call when the socket closes. */
  readonly end: () => void
}

export const makeHandleReader = <H, V, A, E>(options: {
  readonly addon: ReadableAddon<H, V>
  readonly handle: H
  readonly decode: (value: V) => A
  /** A typed error for a failure to start reading (`receive` false) or a receive error (`receive` true). */
  readonly toError: (cause: unknown, receive: boolean) => E
  readonly queueCapacity: number
}): HandleReader<A, E> => {
  const { addon, handle, decode, toError } = options
  const readers = new Set<Queue.Queue<A, E | Cause.Done>>()
  let dropped = 0

  const stream = Stream.callback<A, E>(
    (queue) =>
      Effect.acquireRelease(
        Effect.try({
          try: () => {
            addon.startReading(
              handle,
              (value) => {
                if (!Queue.offerUnsafe(queue, decode(value))) dropped += 1
              },
              (error) => {
                Queue.failCauseUnsafe(queue, Cause.fail(toError(error, true)))
              },
            )
            readers.add(queue)
          },
          catch: (cause) => toError(cause, false),
        }),
        () =>
          Effect.sync(() => {
            readers.delete(queue)
            if (addon.stats(handle).open) addon.stopReading(handle)
          }),
      ),
    { bufferSize: options.queueCapacity, strategy: "dropping" },
  )

  const end = () => {
    // Whoever is still reading sees the end of the stream rather than silence.
    for (const queue of readers) Queue.endUnsafe(queue)
    readers.clear()
  }

  return { stream, dropped: () => dropped, end }
}
