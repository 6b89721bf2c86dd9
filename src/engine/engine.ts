import { randomBytes } from 'node:crypto'
import type { Adapter, AdapterHooks, Position } from '../adapter'
import {
  SyncConnectionError,
  SyncError,
  SyncOutboxOverflowError,
  SyncOversizeError,
  SyncPublishError,
  isRetryable,
  type DropReason
} from '../errors'
import { isFrame, packFrames, unpackFrame, type FrameLimits } from '../protocol/batch'
import type { Payload } from '../protocol/serializers'
import { frameLimits, SendBatcher } from './batching'
import { createDebug } from './debug'
import { durableSessionFor, type SyncGap } from './durable'
import type { EngineOptions } from './options'
import { Outbox } from './outbox'
import { ResendList } from './resend'
import { untilSubscribed } from './startup'
import { isPromise, withTimeout } from './timeout'
import type { SyncStats, SyncStatus } from './stats'

const debug = createDebug('feathers-fanout/engine')

/** What the engine needs from whoever runs it (the bus): counters, reports, status and incoming bytes. */
export interface EngineHost {
  readonly stats: SyncStats
  readonly status: SyncStatus
  /** Reports an operational problem (never thrown). */
  report(error: SyncError): void
  /** Counts a dropped message and reports `error` when given. */
  drop(reason: DropReason, error?: SyncError): void
  /** Gives a message that waited a fresh signature time. */
  refresh(payload: Payload): Payload
  setStatus(status: SyncStatus, cause?: Error): void
  /** A message arrived from the broker; `position` is its place in the log in durable mode. */
  received(payload: Payload, position?: Position): void
  /** Durable delivery found messages that retention dropped before this instance read them. */
  gap(gap: SyncGap): void
  /** The adapter took a publish, `latencyMs` after it was handed to it. */
  published?(latencyMs: number): void
}

/** A running adapter: where messages are sent, when it is ready, how it stops. */
export interface Engine {
  /** Publishes an encoded message now, or queues it while the broker is away. */
  send(payload: Payload): void
  /** Settles once subscribed (or rejects after `connectTimeoutMs`; the adapter keeps trying). */
  readonly ready: Promise<void>
  /** Resolves once connected and subscribed, however long that takes; rejects only if starting failed. */
  readonly connected: Promise<void>
  /** Drains (bounded by `closeTimeoutMs`), then closes the adapter. Call once. */
  close(): Promise<void>
}

/**
 * Runs an adapter: one publish path for its life (however many reconnects), the outbox while the broker
 * is away, the resume hold, status, readiness and a bounded drain on close. Knows no framework.
 */
export function runEngine(adapter: Adapter, options: EngineOptions, host: EngineHost): Engine {
  const state = host
  const { stats } = host
  const durable = durableSessionFor(adapter, options)
  const outbox = new Outbox(options.outbox)
  let connected = false
  let subscribed = false
  let closed = false
  let overflowReported = false
  // After a reconnect, what queued during the outage waits this long for the other instances to be back.
  // Never in durable mode: the log keeps what they miss, so nothing waits on a timer.
  const resumeDelayMs = durable ? 0 : (options.resumeDelayMs ?? adapter.resumeDelayMs ?? 0)
  let holdTimer: NodeJS.Timeout | undefined
  let inflight = 0
  let sendSeq = 0
  // With the send sequence, an id that stays the same when a message is sent again after a lost
  // confirmation, so a broker that deduplicates by id stores it once (see DurableLog.publishDurable).
  const publishPrefix = randomBytes(6).toString('hex')
  const retry = new ResendList()
  let drainWaiters: (() => void)[] = []
  // The last problem the adapter reported while starting, so a timeout can say why.
  let lastStartupError: SyncError | undefined

  const syncOutbox = () => {
    stats.outbox.messages = outbox.size + retry.size
    stats.outbox.bytes = outbox.byteSize + retry.byteSize
  }
  const queued = () => outbox.size > 0 || retry.size > 0
  const { batch } = options
  // Batched frames. In durable mode a frame is one message of the log, with one id for its resends.
  const limits =
    batch === false
      ? undefined
      : (): FrameLimits => frameLimits(batch, options.maxMessageBytes, adapter.maxPayloadBytes)
  const batcher = limits && new SendBatcher(limits, (frames) => sendFrames(frames))
  const idle = () => inflight === 0 && !queued() && (batcher?.pending ?? 0) === 0
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
  const requeue = (seq: number, payload: Payload, part?: number) => {
    retry.add(seq, payload, part)
    syncOutbox()
  }
  const requeueEvents = (seq: number, payload: Payload) => {
    if (!isFrame(payload)) return requeue(seq, payload)
    const events = unpackFrame(payload) as Payload[]
    events.forEach((event, index) => requeue(seq, event, durable ? index + 1 : undefined))
  }
  const failed = (seq: number, payload: Payload, cause: unknown, part?: number) => {
    if (batcher && isFrame(payload)) return frameFailed(seq, payload, cause)
    if (cause instanceof SyncOversizeError) {
      // The broker will never take this message: retrying is pointless, so it is dropped and counted.
      state.drop('oversize', cause)
      return
    }
    if (!connected && !closed && isRetryable(cause)) {
      // The connection went away under this message: it is sent again, before the outbox.
      debug('publish failed while disconnected, requeued', cause)
      requeue(seq, payload, part)
      return
    }
    stats.publishErrors++
    state.report(new SyncPublishError(`The ${adapter.type} adapter failed to publish a message`, { cause }))
  }
  // A frame the broker did not take: its events go again one by one (resent after a reconnect, each
  // dropped alone if too large), so that each is judged, resent and counted as an event, not as a frame.
  // In durable mode a frame lost with the connection goes again whole under its id, since the broker may
  // have stored it: a broker that deduplicates by id then keeps it once.
  const frameFailed = (seq: number, frame: Uint8Array, cause: unknown) => {
    if (durable && !(cause instanceof SyncOversizeError) && !connected && !closed && isRetryable(cause)) {
      debug('a durable frame failed while disconnected, requeued whole', cause)
      requeue(seq, frame)
      return
    }
    if (cause instanceof SyncOversizeError || (!connected && !closed && isRetryable(cause))) {
      debug('a frame failed, its messages are requeued one by one', cause)
      requeueEvents(seq, frame)
      if (connected) flush()
      return
    }
    stats.publishErrors += (unpackFrame(frame) as Payload[]).length
    state.report(new SyncPublishError(`The ${adapter.type} adapter failed to publish a message`, { cause }))
  }
  // The frames of one tick, in order; behind a queue (the connection went away meanwhile) they wait in
  // front of it, since everything in the outbox was sent after them. A durable frame waits whole.
  const sendFrames = (frames: Payload[]) => {
    for (const frame of frames) {
      const seq = ++sendSeq
      if (connected && holdTimer === undefined && !queued()) send(frame, seq)
      else if (durable) requeue(seq, frame)
      else requeueEvents(seq, frame)
    }
    settle()
  }
  const send = (payload: Payload, seq = ++sendSeq, part?: number) => {
    const started = performance.now()
    try {
      const id = part === undefined ? `${publishPrefix}-${seq}` : `${publishPrefix}-${seq}.${part}`
      const result = durable ? durable.publish(payload, id) : adapter.publish(payload)
      if (!isPromise(result)) {
        host.published?.(performance.now() - started)
        return
      }
      inflight++
      result.then(
        () => {
          inflight--
          host.published?.(performance.now() - started)
          settle()
        },
        (cause: unknown) => {
          inflight--
          failed(seq, payload, cause, part)
          settle()
        }
      )
    } catch (cause) {
      failed(seq, payload, cause, part)
    }
  }
  // A waiting event gets a fresh signature time; a durable frame goes again as it was (no age check there).
  const refreshed = (payload: Payload) => (isFrame(payload) ? payload : state.refresh(payload))
  // What the outbox holds goes in frames when batching: after an outage that is most of a catch-up.
  const flushOutbox = () => {
    if (!limits) {
      while (connected && outbox.size > 0) send(state.refresh(outbox.shift() as Payload))
      return
    }
    const frame = limits()
    while (connected && outbox.size > 0) {
      const items: Payload[] = []
      while (items.length < frame.maxMessages && outbox.size > 0)
        items.push(state.refresh(outbox.shift() as Payload))
      for (const packed of packFrames(items, frame)) send(packed)
    }
  }
  const flush = () => {
    if (holdTimer !== undefined) return
    if (queued()) debug('flushing %d queued, %d to resend', outbox.size, retry.size)
    retry.drain(
      () => connected,
      ({ seq, part, payload }) => send(refreshed(payload), seq, part)
    )
    flushOutbox()
    syncOutbox()
    settle()
  }
  const onOut = (payload: Payload) => {
    // While the queue is held, new messages go behind it: order is kept.
    if (connected && holdTimer === undefined && !queued()) {
      if (batcher) batcher.add(payload)
      else send(payload)
    } else enqueue(payload)
  }
  const release = () => {
    clearTimeout(holdTimer)
    holdTimer = undefined
  }
  // Plain pub/sub keeps nothing for absent subscribers: flushing the moment this instance is back
  // would reach only the instances that happened to be back before it (see resumeDelayMs).
  const holdThenFlush = () => {
    release()
    debug('holding %d queued messages for %d ms', outbox.size + retry.size, resumeDelayMs)
    holdTimer = setTimeout(() => {
      holdTimer = undefined
      flush()
    }, resumeDelayMs)
    holdTimer.unref()
  }

  // While closing, connection changes still steer the drain but no longer move the app's status.
  const showStatus = (status: 'ready' | 'reconnecting', cause?: Error) => {
    if (host.status !== 'closing') host.setStatus(status, cause)
  }
  // Whether the subscription was lost since the last hold: a publisher connection that flaps alone (an idle
  // timeout in a proxy) says nothing about the other instances, so it is no reason to hold.
  let subscriptionLost = false
  // Whether `reconnecting` was told since the last `ready` (publishing may have been kept meanwhile).
  let away = false
  const hooks: AdapterHooks = {
    status(status, cause, detail) {
      if (closed || !subscribed) return
      if (status === 'ready') {
        if (away) stats.reconnects++
        away = false
        overflowReported = false
        showStatus('ready')
      } else {
        away = true
        if (detail?.subscriptionKept !== true) subscriptionLost = true
        showStatus('reconnecting', cause)
      }
      // Receiving alone is down (`publishingKept`): what this instance publishes still reaches the others.
      if (status !== 'ready' && detail?.publishingKept !== true) {
        connected = false
        return
      }
      const back = !connected
      connected = true
      // A hold under way keeps its deadline: reconnects during it do not restart it (or it could starve).
      if (holdTimer !== undefined) return
      if (back && subscriptionLost && resumeDelayMs > 0 && queued()) holdThenFlush()
      else flush()
      if (status === 'ready') subscriptionLost = false
    },
    error(error: SyncError) {
      if (!subscribed) lastStartupError = error
      state.report(error)
    }
  }
  const onMessage = (payload: Payload, position?: Position) => {
    try {
      host.received(payload, position)
    } catch (cause) {
      state.report(new SyncError('SYNC_DELIVERY', 'A listener threw on an incoming message', { cause }))
    }
  }

  const subscribeOnce = async () => {
    if (durable) {
      await durable.subscribe({
        message: (payload, position) => onMessage(payload, position),
        gap: (gap) => host.gap(gap),
        report: (error) => state.report(error)
      })
    } else {
      await adapter.subscribe(onMessage)
    }
  }
  const startup = (async () => {
    await adapter.connect(hooks)
    await untilSubscribed(
      subscribeOnce,
      () => closed,
      (cause) => {
        lastStartupError =
          cause instanceof SyncError
            ? cause
            : new SyncConnectionError(adapter.target, `Could not subscribe at ${adapter.target}`, { cause })
      }
    )
    if (closed) return
    subscribed = true
    connected = true
    host.setStatus('ready')
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
  const ready = readiness.result.catch((cause: unknown) => {
    const error =
      cause instanceof SyncError
        ? cause
        : new SyncConnectionError(
            adapter.target,
            `Could not connect to ${adapter.type} at ${adapter.target}`,
            {
              cause
            }
          )
    state.report(error)
    throw error
  })
  // Nobody has to await `ready`: an unobserved rejection must not end the process.
  ready.catch(() => undefined)

  const close = async () => {
    readiness.cancel(
      new SyncConnectionError(adapter.target, `Closed before the ${adapter.type} connection was ready`)
    )
    host.setStatus('closing')
    // What waits for the end of the tick goes now: sent, or queued (and counted as unsent) without a broker.
    batcher?.flush()
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
    stats.dropped.unsent += outbox.size + retry.size
    while (outbox.shift() !== undefined);
    retry.clear()
    syncOutbox()
    await durable?.flush({ report: (error) => state.report(error) })
    try {
      await adapter.close()
    } catch (cause) {
      state.report(
        new SyncConnectionError(adapter.target, `Closing the ${adapter.type} adapter failed`, { cause })
      )
    }
  }

  startup.catch(() => undefined)
  return { send: onOut, ready, connected: startup, close }
}
