import { createDebug } from './debug'
import type { Application, HookContext, NextFunction } from '@feathersjs/feathers'
import type { Adapter } from './adapter'
import { installCore, type CoreState } from './core'
import { SyncConnectionError, SyncError, SyncOutboxOverflowError, SyncPublishError } from './errors'
import type { SyncState } from './handle'
import type { ResolvedOptions } from './options'
import { Outbox, sizeOf } from './outbox'
import type { Payload, Serializer } from './serializers'

const debug = createDebug('feathers-fanout/runner')

const isPromise = (value: unknown): value is Promise<unknown> =>
  typeof (value as Promise<unknown> | undefined)?.then === 'function'

/**
 * Waits for `promise`, or rejects with `onTimeout()` after `ms`. With `keepAlive` the timer keeps the
 * process alive until it settles (a script awaiting `ready` gets its answer instead of a silent exit),
 * so `cancel` must be called when the wait stops mattering; `cancel(error)` also ends the wait with it.
 */
function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => Error,
  keepAlive = false
): { result: Promise<T>; cancel: (error?: Error) => void } {
  let timer: NodeJS.Timeout | undefined
  let stop: (error: Error) => void = () => undefined
  const timeout = new Promise<never>((_, reject) => {
    stop = reject
    timer = setTimeout(() => reject(onTimeout()), ms)
    if (!keepAlive) timer.unref()
  })
  const cancel = (error?: Error) => {
    clearTimeout(timer)
    if (error) stop(error)
  }
  return { result: Promise.race([promise, timeout]).finally(() => clearTimeout(timer)), cancel }
}

/**
 * Runs an adapter for an app: one `sync-out` listener for the life of the app (however
 * many reconnects), the outbox while the broker is away, status, readiness and shutdown.
 */
export function runAdapter(
  app: Application,
  adapter: Adapter,
  options: ResolvedOptions,
  serializer: Serializer
): SyncState {
  const state: CoreState = installCore(app, options)
  const { handle, stats } = state
  const outbox = new Outbox(options.outbox)
  let connected = false
  let subscribed = false
  let closed = false
  let overflowReported = false
  // After a reconnect, what queued during the outage waits this long for the other instances to be back.
  const resumeDelayMs = options.resumeDelayMs ?? adapter.resumeDelayMs ?? 0
  let holdTimer: NodeJS.Timeout | undefined
  let inflight = 0
  let sendSeq = 0
  // Messages the driver took but then failed on a lost connection; sent again first, in the order they
  // were first sent. Drivers reject a batch in any order, so it is sorted once, before it is flushed.
  let retry: { seq: number; payload: Payload }[] = []
  let retryBytes = 0
  let retrySorted = true
  let drainWaiters: (() => void)[] = []
  // The last problem the adapter reported while starting, so a timeout can say why.
  let lastStartupError: SyncError | undefined

  handle.type = adapter.type
  handle.serialize = serializer.serialize
  handle.deserialize = serializer.deserialize

  const syncOutbox = () => {
    stats.outbox.messages = outbox.size + retry.length
    stats.outbox.bytes = outbox.byteSize + retryBytes
  }
  const queued = () => outbox.size > 0 || retry.length > 0
  const idle = () => inflight === 0 && !queued()
  const settle = () => {
    if (idle() && drainWaiters.length > 0) {
      const waiters = drainWaiters
      drainWaiters = []
      waiters.forEach((resolve) => resolve())
    }
  }
  const enqueue = (payload: Payload) => {
    const dropped = outbox.push(payload)
    if (dropped > 0) {
      stats.dropped.outboxOverflow += dropped
      if (!overflowReported) {
        overflowReported = true
        const { maxMessages, maxBytes } = options.outbox
        state.report(new SyncOutboxOverflowError(`${maxMessages} messages / ${maxBytes} bytes`))
      }
    }
    syncOutbox()
  }
  const requeue = (seq: number, payload: Payload) => {
    if (retry.length > 0 && retry[retry.length - 1].seq > seq) retrySorted = false
    retry.push({ seq, payload })
    retryBytes += sizeOf(payload)
    syncOutbox()
  }
  const failed = (seq: number, payload: Payload, cause: unknown) => {
    if (cause instanceof SyncError && cause.code === 'SYNC_OVERSIZE') {
      // The broker will never take this message: retrying is pointless, so it is dropped and counted.
      state.drop('oversize', cause)
      return
    }
    if (!connected && !closed) {
      // The connection went away under this message: it is sent again, before the outbox.
      debug('publish failed while disconnected, requeued', cause)
      requeue(seq, payload)
      return
    }
    stats.publishErrors++
    state.report(new SyncPublishError(`The ${adapter.type} adapter failed to publish a message`, { cause }))
  }
  const send = (payload: Payload, seq = ++sendSeq) => {
    try {
      const result = adapter.publish(payload)
      if (!isPromise(result)) return
      inflight++
      result.then(
        () => {
          inflight--
          settle()
        },
        (cause: unknown) => {
          inflight--
          failed(seq, payload, cause)
          settle()
        }
      )
    } catch (cause) {
      failed(seq, payload, cause)
    }
  }
  const flush = () => {
    if (holdTimer !== undefined) return
    if (!retrySorted) retry.sort((a, b) => a.seq - b.seq)
    retrySorted = true
    let sent = 0
    while (connected && sent < retry.length) {
      const { seq, payload } = retry[sent++]
      retryBytes -= sizeOf(payload)
      send(state.refresh(payload), seq)
    }
    // A send that failed at once was pushed behind the rest and marked the list unsorted.
    retry = retry.slice(sent)
    while (connected && outbox.size > 0) send(state.refresh(outbox.shift() as Payload))
    syncOutbox()
    settle()
  }
  const onOut = (payload: Payload) => {
    // While the queue is held, new messages go behind it: order is kept.
    if (connected && holdTimer === undefined && !queued()) send(payload)
    else enqueue(payload)
  }
  const release = () => {
    clearTimeout(holdTimer)
    holdTimer = undefined
  }
  // Plain pub/sub keeps nothing for absent subscribers: flushing the moment this instance is back
  // would reach only the instances that happened to be back before it (see resumeDelayMs).
  const holdThenFlush = () => {
    release()
    debug('holding %d queued messages for %d ms', outbox.size + retry.length, resumeDelayMs)
    holdTimer = setTimeout(() => {
      holdTimer = undefined
      flush()
    }, resumeDelayMs)
    holdTimer.unref()
  }

  // While closing, connection changes still steer the drain but no longer move the app's status.
  const showStatus = (status: 'ready' | 'reconnecting', cause?: Error) => {
    if (handle.status !== 'closing') handle.setStatus(status, cause)
  }
  const hooks = {
    status(status: 'ready' | 'reconnecting', cause?: Error) {
      if (closed || !subscribed) return
      if (status === 'ready') {
        const back = !connected
        if (back) stats.reconnects++
        connected = true
        overflowReported = false
        showStatus('ready')
        if (back && resumeDelayMs > 0 && queued()) holdThenFlush()
        else flush()
      } else {
        connected = false
        release()
        showStatus('reconnecting', cause)
      }
    },
    error(error: SyncError) {
      if (!subscribed) lastStartupError = error
      state.report(error)
    }
  }
  const onMessage = (payload: Payload) => {
    try {
      app.emit('sync-in', payload)
    } catch (cause) {
      state.report(new SyncError('SYNC_DELIVERY', 'A sync-in listener threw', { cause }))
    }
  }

  const startup = (async () => {
    await adapter.connect(hooks)
    await adapter.subscribe(onMessage)
    if (closed) return
    subscribed = true
    connected = true
    handle.setStatus('ready')
    flush()
  })()
  const timeoutError = () =>
    new SyncConnectionError(
      adapter.target,
      `Could not connect to ${adapter.type} at ${adapter.target} within ${options.connectTimeoutMs} ms; still trying` +
        (lastStartupError ? ` (last error: ${lastStartupError.message})` : ''),
      { cause: lastStartupError }
    )
  const readiness = withTimeout(startup, options.connectTimeoutMs, timeoutError, true)
  handle.ready = readiness.result.catch((cause: unknown) => {
    const error =
      cause instanceof SyncError
        ? cause
        : new SyncConnectionError(
            adapter.target,
            `Could not connect to ${adapter.type} at ${adapter.target}`,
            { cause }
          )
    state.report(error)
    throw error
  })
  // Nobody has to await `ready`: an unobserved rejection must not end the process.
  handle.ready.catch(() => undefined)

  handle.closer = async () => {
    readiness.cancel(
      new SyncConnectionError(adapter.target, `Closed before the ${adapter.type} connection was ready`)
    )
    state.detach()
    handle.setStatus('closing')
    // Nobody else is coming back for a closing instance to wait for: what is held goes now.
    if (holdTimer !== undefined) {
      release()
      flush()
    }
    if (connected && !idle()) {
      const drained = new Promise<void>((resolve) => drainWaiters.push(resolve))
      await withTimeout(drained, options.closeTimeoutMs, () => new Error('drain timeout')).result.catch(
        () => undefined
      )
    }
    closed = true
    connected = false
    release()
    app.removeListener('sync-out', onOut)
    stats.dropped.unsent += outbox.size + retry.length
    while (outbox.shift() !== undefined);
    retry = []
    retryBytes = 0
    syncOutbox()
    try {
      await adapter.close()
    } catch (cause) {
      state.report(
        new SyncConnectionError(adapter.target, `Closing the ${adapter.type} adapter failed`, { cause })
      )
    }
  }

  app.on('sync-out', onOut)
  app.hooks({
    teardown: [
      async (_context: HookContext, next: NextFunction) => {
        await next()
        await handle.close()
      }
    ]
  })
  return handle
}
