import { createDebug } from '../../src/engine/debug'
import { connect, type ChannelModel, type Options, type RecoveringChannelModel } from 'amqplib'
import type { Adapter, AdapterHooks, ResolvedOptions, Payload } from '../../src/adapter'
import { SyncConnectionError } from '../../src/errors'
import { parseAmqpOptions, type AmqpAdapterOptions } from './options'
import { AmqpSession, type SessionEvents } from './session'

export type { AmqpAdapterOptions, AmqpConnectionOptions, AmqpRecoveryOptions } from './options'

const debug = createDebug('feathers-fanout/amqp')
const CLOSE_TIMEOUT_MS = 2_000

const toBuffer = (payload: Payload): Buffer =>
  typeof payload === 'string'
    ? Buffer.from(payload, 'utf8')
    : Buffer.isBuffer(payload)
      ? payload
      : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)

/** Last resort when a hung broker never answers our close: drop the socket so the process can exit. */
function destroySocket(model: ChannelModel | undefined): void {
  const stream = (model?.connection as { stream?: { destroy(): void } } | undefined)?.stream
  stream?.destroy()
}

/**
 * Creates the AMQP 0-9-1 (RabbitMQ) adapter. One connection per app, kept up by amqplib's
 * built-in recovery, whose `setup` builds a fresh session (channel, topology, consumer) on
 * every (re)connect. Validates its options now; connects only in `connect()`.
 */
export function createAmqpAdapter(options: ResolvedOptions & AmqpAdapterOptions): Adapter {
  const settings = parseAmqpOptions(options)
  const { key } = options
  const { target } = settings
  const properties: Options.Publish = settings.contentType ? { contentType: settings.contentType } : {}
  let hooks: AdapterHooks | undefined
  let onMessage: ((payload: Payload) => void) | undefined
  let connection: RecoveringChannelModel | undefined
  let session: AmqpSession | undefined
  let closing: Promise<void> | undefined
  // One report per outage: the first failure, then only failures that say something new.
  let lastReported: string | undefined
  // Why the connection went, when amqplib said so; a channel's close alone does not say.
  let lastCause: Error | undefined
  let waiters: { resolve(): void; reject(error: Error): void }[] = []

  const report = (what: string, cause: Error): void => {
    lastCause = cause
    // amqplib re-wraps errors from another realm (e.g. under Jest) as `Error: <message>`.
    const reason = cause.message.replace(/^Error: /, '')
    const error = new SyncConnectionError(target, `${what} RabbitMQ at ${target}: ${reason}`, { cause })
    debug(error.message)
    if (lastReported !== reason && !closing) {
      lastReported = reason
      hooks?.error(error)
    }
  }

  // Subscribed again: the next outage gets its own reports.
  const settled = () => {
    lastReported = undefined
    lastCause = undefined
  }

  const ready = () => {
    settled()
    hooks?.status('ready')
    const resolved = waiters
    waiters = []
    resolved.forEach((waiter) => waiter.resolve())
  }

  const events: SessionEvents = {
    lost(lostSession, cause) {
      if (lostSession !== session) return
      session = undefined
      if (closing) return
      // At once, so that the core re-queues the publishes that fail next (see AmqpSession.fail).
      hooks?.status(
        'reconnecting',
        new SyncConnectionError(target, `Lost the connection to RabbitMQ at ${target}`, { cause })
      )
      // Deferred: this runs inside amqplib's close handling, and the connection's own close
      // (with the real reason) comes right after the channel's.
      setImmediate(() => {
        report('Lost the connection to', lastCause ?? cause)
        // A channel can die while its connection lives on (e.g. a deleted exchange): close the
        // connection too, so that amqplib's recovery rebuilds everything in one place.
        lostSession.closeConnection()
      })
    },
    error(cause, what) {
      report(`A ${what} error on the connection to`, cause)
    }
  }

  // amqplib runs this after every successful (re)connect, before it reports the connection up.
  const setup = async (model: ChannelModel): Promise<void> => {
    // amqplib binds its own 'error' listener to a new connection only after setup. A socket error during
    // setup (the broker killed mid-handshake of the channel) would then throw out of amqplib's error
    // handling before it closes the connection, so setup would wait forever and recovery would stop.
    model.on('error', (cause: Error) => {
      lastCause = cause
      debug(`connection error during setup at ${target}`, cause)
    })
    const next = await AmqpSession.open(model, key, events)
    if (onMessage) await next.consume(onMessage)
    // amqplib closes this connection again if close() came meanwhile.
    if (!closing) session = next
  }

  const listen = (recovering: RecoveringChannelModel) => {
    recovering.on('connect', () => {
      if (session?.consuming) ready()
    })
    recovering.on('disconnect', (cause: Error) => {
      lastCause = cause
      // Normally the channel's close already ended the session; this covers anything else.
      if (session) events.lost(session, cause)
    })
    recovering.on('connect-failed', (cause: Error) => report('Could not connect to', cause))
    recovering.on('error', (cause: Error) => report('Connection error from', cause))
    recovering.on('handler-error', (cause: Error, event: string) =>
      report(`A ${event} listener failed on`, cause)
    )
    recovering.on('blocked', (reason: string) => report('Publishing is blocked by', new Error(reason)))
    recovering.on('unblocked', () => debug(`${target} unblocked publishing`))
    recovering.on('reconnect-scheduled', ({ attempt, delay }: { attempt: number; delay: number }) =>
      debug(`reconnecting to ${target}, attempt ${attempt} in ${delay} ms`)
    )
    recovering.on('reconnect-failed', (cause: Error) => report('Gave up reconnecting to', cause))
  }

  return {
    type: 'amqp',
    target,
    // amqplib's jittered backoff never waits longer than maxDelayMs between attempts; plus a margin.
    resumeDelayMs: settings.maxDelayMs + 500,
    async connect(adapterHooks) {
      hooks = adapterHooks
      const recovering = await connect(settings.url, {
        ...settings.socket,
        recovery: {
          initialDelay: settings.initialDelayMs,
          maxDelay: settings.maxDelayMs,
          maxRetries: Infinity,
          // Resolve at once so listeners are on before the first attempt; waitForConnect() below.
          waitForConnect: false,
          setup
        }
      })
      connection = recovering
      listen(recovering)
      if (closing) await recovering.close()
      await recovering.waitForConnect()
    },
    async subscribe(handler) {
      onMessage = handler
      const current = session
      if (current && !current.consuming) {
        try {
          await current.consume(handler)
          if (current === session) return settled()
        } catch (cause) {
          debug('consume failed; the next session consumes', cause)
        }
      }
      if (session?.consuming) return settled()
      await new Promise<void>((resolve, reject) => waiters.push({ resolve, reject }))
    },
    publish(payload) {
      const current = session
      if (!current) {
        return Promise.reject(new SyncConnectionError(target, `Not connected to RabbitMQ at ${target}`))
      }
      return current.publish(toBuffer(payload), properties)
    },
    close() {
      closing ??= (async () => {
        const error = new Error('The AMQP adapter was closed')
        waiters.forEach((waiter) => waiter.reject(error))
        waiters = []
        const model = session?.model
        session = undefined
        if (!connection) return
        let timer: NodeJS.Timeout | undefined
        const timeout = new Promise<'timeout'>(
          (resolve) => (timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS))
        )
        const result = await Promise.race([connection.close().then(() => 'closed' as const), timeout])
        clearTimeout(timer)
        if (result === 'timeout') destroySocket(model)
      })()
      return closing
    }
  }
}
