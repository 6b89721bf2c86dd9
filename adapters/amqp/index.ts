import { createDebug } from '../../src/engine/debug'
import type { ChannelModel, Options } from 'amqplib'
import type {
  Adapter,
  AdapterCapabilities,
  AdapterHooks,
  DurableLog,
  GroupLog,
  ResolvedOptions,
  Payload
} from '../../src/adapter'
import { SyncConfigError, SyncConnectionError, SyncSubscriptionError } from '../../src/errors'
import { createDurableLog } from './durable'
import { parseAmqpDurable } from './durable-options'
import { GroupConnections } from './group-connection'
import { parseAmqpOptions, type AmqpAdapterOptions } from './options'
import { lossError, reasonOf } from './loss'
import { AmqpSession, toBuffer, type SessionEvents } from './session'
import { bounded, closeRecovering, guardModel, reportRecovery, type Recovering } from './recovering'
import { openRecovering, OutageReports } from './rotation'

export type { AmqpAdapterOptions, AmqpConnectionOptions, AmqpRecoveryOptions } from './options'

const debug = createDebug('feathers-fanout/amqp')

/** The AMQP adapter: pub/sub always, and the durable log and consumer groups when created with `durable`. */
export type AmqpAdapter = Adapter & { readonly capabilities: AdapterCapabilities } & Partial<
    DurableLog & GroupLog
  >

/**
 * Creates the AMQP 0-9-1 (RabbitMQ) adapter. One connection per app, kept up by amqplib's
 * built-in recovery, whose `setup` builds a fresh session (channel, topology, consumer) on
 * every (re)connect. Validates its options now; connects only in `connect()`. With `durable`,
 * the session publishes to and consumes from a stream queue instead (see durable.ts), and consumer
 * groups consume on connections of their own (see group-connection.ts).
 */
export function createAmqpAdapter(options: ResolvedOptions & AmqpAdapterOptions): AmqpAdapter {
  const settings = parseAmqpOptions(options)
  const durableSettings = parseAmqpDurable(options)
  const { key } = options
  // The address in use: the one the last connection attempt went to (see rotation.ts).
  let target = settings.target
  // A connect attempt's bound (amqplib's socket `timeout`) bounds setup on the new connection too.
  const setupTimeoutMs = settings.socket.timeout ?? options.connectTimeoutMs
  const properties: Options.Publish = {
    ...(settings.contentType ? { contentType: settings.contentType } : {}),
    // A stream keeps every message on disk anyway; persistent says so to any other reader of the queue.
    ...(durableSettings ? { persistent: true } : {})
  }
  let hooks: AdapterHooks | undefined
  let onMessage: ((payload: Payload) => void) | undefined
  let connection: Recovering | undefined
  let session: AmqpSession | undefined
  let closing: Promise<void> | undefined
  const reports = new OutageReports(settings.urls.length)
  // Why the connection went, when amqplib said so; a channel's close alone does not say.
  let lastCause: Error | undefined
  let waiters: { resolve(): void; reject(error: Error): void }[] = []
  // Rejects connect() when the first connection finds the stream declared with other arguments.
  let refuseStart: (error: SyncConfigError) => void = () => undefined
  let connectedOnce = false

  const tell = (reason: string, error: SyncConnectionError): void => {
    debug(error.message)
    if (!closing && reports.fresh(reason)) {
      hooks?.error(error)
    }
  }

  const report = (what: string, cause: Error): void => {
    lastCause = cause
    const reason = reasonOf(cause)
    tell(reason, new SyncConnectionError(target, `${what} RabbitMQ at ${target}: ${reason}`, { cause }))
  }

  // Subscribed again: the next outage gets its own reports.
  const settled = () => {
    reports.clear()
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
      const error = lossError(target, key, cause)
      // At once, so that the core re-queues the publishes that fail next (see AmqpSession.fail).
      hooks?.status('reconnecting', error)
      // Deferred: this runs inside amqplib's close handling, and the connection's own close
      // (with the real reason) comes right after the channel's.
      setImmediate(() => {
        if (error instanceof SyncSubscriptionError) tell(reasonOf(cause), error)
        else report('Lost the connection to', lastCause ?? cause)
        // A channel can die while its connection lives on (a deleted exchange or queue): close the
        // connection too, so that amqplib's recovery rebuilds everything in one place.
        lostSession.closeConnection()
      })
    },
    error(cause, what, from) {
      // A durable session that fails while opening (stream declaration refused, stream not available
      // yet after a broker restart) is reported once through its setup's failure, not twice.
      if (durable && from && !from.installed) return
      report(`A ${what} error on the connection to`, cause)
    }
  }

  const publish = (payload: Payload): Promise<void> => {
    const current = session
    if (!current) {
      return Promise.reject(new SyncConnectionError(target, `Not connected to RabbitMQ at ${target}`))
    }
    return current.publish(toBuffer(payload), properties)
  }

  const durable =
    durableSettings &&
    createDurableLog({
      settings: durableSettings,
      get target() {
        return target
      },
      current: () => session,
      publish,
      waitReady: () => new Promise<void>((resolve, reject) => waiters.push({ resolve, reject })),
      error: (error) => hooks?.error(error),
      groups: new GroupConnections({
        settings,
        error: (error) => {
          if (!closing) hooks?.error(error)
        }
      })
    })

  const openSession = async (model: ChannelModel): Promise<AmqpSession> => {
    if (!durable) return AmqpSession.open(model, key, events, settings.topologyCheckIntervalMs)
    try {
      return await durable.open(model, events)
    } catch (cause) {
      if (cause instanceof SyncConfigError) {
        // Reported once (the retries' connect-failed carries the same reason), and fatal at startup:
        // nothing changes until someone deletes the queue or changes the option.
        if (reports.fresh(cause.message)) hooks?.error(cause)
        if (!connectedOnce) refuseStart(cause)
      }
      throw cause
    }
  }

  // amqplib runs this after every successful (re)connect, before it reports the connection up.
  const setup = async (model: ChannelModel): Promise<void> => {
    guardModel(model, (cause) => {
      lastCause = cause
      debug(`connection error during setup at ${target}`, cause)
    })
    const next = await bounded(model, openSession(model), setupTimeoutMs, target)
    connectedOnce = true
    if (onMessage && !durable) await next.consume(onMessage)
    next.installed = true
    // amqplib closes this connection again if close() came meanwhile.
    if (!closing) session = next
  }

  const listen = (recovering: Recovering) => {
    recovering.on('connect', () => {
      // A durable adapter nobody subscribed yet is ready as soon as it can publish.
      if (session?.consuming || (durable && !durable.subscribed())) ready()
    })
    recovering.on('disconnect', (cause: Error) => {
      lastCause = cause
      // Normally the channel's close already ended the session; this covers anything else.
      if (session) events.lost(session, cause)
    })
    reportRecovery(recovering, () => target, report)
  }

  const onAddress = (index: number) => {
    if (settings.targets[index] !== target) debug(`connecting to RabbitMQ at ${settings.targets[index]}`)
    target = settings.targets[index]
  }

  return {
    type: 'amqp',
    get target() {
      return target
    },
    capabilities: durable
      ? { broadcast: true, durable: true, group: true }
      : { broadcast: true, durable: false },
    ...durable?.log,
    // amqplib's jittered backoff never waits longer than maxDelayMs between attempts; plus a margin.
    // A stream keeps what others published meanwhile, so durable mode needs no hold.
    resumeDelayMs: durable ? 0 : settings.maxDelayMs + 500,
    async connect(adapterHooks) {
      hooks = adapterHooks
      const recovering = await openRecovering({ ...settings, setup, onAddress })
      connection = recovering
      listen(recovering)
      if (closing) await recovering.close()
      const refused = new Promise<never>((_, reject) => (refuseStart = reject))
      try {
        await Promise.race([recovering.waitForConnect(), refused])
      } catch (cause) {
        if (cause instanceof SyncConfigError) await recovering.close()
        throw cause
      }
    },
    async subscribe(handler) {
      if (durable) {
        throw new SyncConfigError(
          'durable',
          'This adapter was created with "durable": use subscribeDurable()'
        )
      }
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
    // With `durable` this publishes to the stream too, like publishDurable().
    publish,
    close() {
      closing ??= (async () => {
        const error = new Error('The AMQP adapter was closed')
        waiters.forEach((waiter) => waiter.reject(error))
        waiters = []
        // Groups first (their channels, then their connections): what their members held goes back to
        // the queues for the others.
        await durable?.close()
        const model = session?.model
        session = undefined
        if (!connection) return
        await closeRecovering(connection, model)
      })()
      return closing
    }
  }
}
