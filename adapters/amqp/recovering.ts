import type { EventEmitter } from 'node:events'
import { createDebug } from '../../src/engine/debug'
import { connect, type ChannelModel, type RecoveringChannelModel, type SocketOptions } from 'amqplib'
import { SyncConnectionError } from '../../src/errors'
import { destroySocket, releaseSocket } from './socket'

const debug = createDebug('feathers-fanout/amqp')

/** How long a close may wait for the broker's answer before the socket is dropped (ms). */
export const CLOSE_TIMEOUT_MS = 2_000

/** A connection kept up by amqplib's built-in recovery, as the adapter opens each of its connections. */
export interface RecoveringSpec {
  /** The broker's addresses, each with its tuning (heartbeat …) in the query; tried in turn (see rotation.ts). */
  urls: readonly string[]
  socket: SocketOptions
  initialDelayMs: number
  maxDelayMs: number
  /** Runs on every new connection before amqplib reports it up (see guardModel). */
  setup(model: ChannelModel): Promise<void>
  /** Told which of `urls` each connection attempt goes to, before it starts. */
  onAddress?(index: number): void
}

/**
 * What the adapter uses of a recovering connection: amqplib's `RecoveringChannelModel`, or the
 * rotation over several addresses, which emits the same events.
 */
export interface Recovering extends EventEmitter {
  /** Resolves once the first connection is up (and set up); rejects when closed before. */
  waitForConnect(): Promise<unknown>
  /** Stops recovery and closes the connection. */
  close(): Promise<void>
}

/**
 * Opens a connection to `url` that amqplib reconnects up to `maxRetries` times in a row (Infinity:
 * for good), with its jittered backoff between `initialDelayMs` and `maxDelayMs`. Resolves at once,
 * so that listeners are on before the first attempt; `waitForConnect()` waits for it.
 */
export function connectRecovering(
  url: string,
  spec: RecoveringSpec,
  maxRetries: number
): Promise<RecoveringChannelModel> {
  return connect(url, {
    ...spec.socket,
    recovery: {
      initialDelay: spec.initialDelayMs,
      maxDelay: spec.maxDelayMs,
      maxRetries,
      waitForConnect: false,
      setup: spec.setup
    }
  })
}

/**
 * What every new connection needs first thing in its setup. amqplib binds its own 'error' listener to a
 * new connection only after setup: a socket error during setup (the broker killed mid-handshake of a
 * channel) would otherwise throw out of amqplib's error handling before it closes the connection, so
 * setup would wait forever and recovery would stop. And whatever ends the connection, its socket goes
 * with it (see releaseSocket).
 */
export function guardModel(model: ChannelModel, onError: (cause: Error) => void): void {
  model.on('error', onError)
  model.once('close', () => releaseSocket(model, CLOSE_TIMEOUT_MS))
}

/**
 * amqplib's recovery waits for setup without a bound, and never tries again while it waits: a broker
 * that stops answering between the handshake and the end of setup (restarting, hung, a quorum queue
 * without a leader) would leave the connection down for good. After `timeoutMs`, drop the socket: the
 * pending calls fail, and recovery schedules the next attempt.
 */
export async function bounded<T>(
  model: ChannelModel,
  work: Promise<T>,
  timeoutMs: number,
  target: string
): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new SyncConnectionError(
        target,
        `Setting up on RabbitMQ at ${target} took over ${timeoutMs} ms`
      )
      destroySocket(model, error)
      reject(error)
    }, timeoutMs)
  })
  try {
    return await Promise.race([work, expired])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Stops recovery and closes the connection; drops `model`'s socket if the broker does not answer the
 * close within CLOSE_TIMEOUT_MS (a hung broker), so that nothing keeps the process alive.
 */
export async function closeRecovering(
  recovering: Recovering,
  model: ChannelModel | undefined
): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>(
    (resolve) => (timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS))
  )
  const result = await Promise.race([recovering.close().then(() => 'closed' as const), timeout])
  clearTimeout(timer)
  if (result === 'timeout') destroySocket(model)
}

/**
 * Reports what amqplib's recovery tells about a connection, other than its coming up and going down
 * (which each connection handles its own way): failed attempts, errors, a blocked publisher.
 */
export function reportRecovery(
  recovering: Recovering,
  target: () => string,
  report: (what: string, cause: Error) => void
): void {
  recovering.on('connect-failed', (cause: Error) => report('Could not connect to', cause))
  recovering.on('error', (cause: Error) => report('Connection error from', cause))
  recovering.on('handler-error', (cause: Error, event: string) =>
    report(`A ${event} listener failed on`, cause)
  )
  recovering.on('blocked', (reason: string) => report('Publishing is blocked by', new Error(reason)))
  recovering.on('unblocked', () => debug(`${target()} unblocked publishing`))
  recovering.on('reconnect-scheduled', ({ attempt, delay }: { attempt: number; delay: number }) =>
    debug(`reconnecting to ${target()}, attempt ${attempt} in ${delay} ms`)
  )
  recovering.on('reconnect-failed', (cause: Error) => report('Gave up reconnecting to', cause))
}
