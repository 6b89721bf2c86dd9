// The engine's publish path: sends, the outbox and resends while the broker is away, batched frames,
// the resume hold, and the drain that closing waits for.
import { randomBytes } from 'node:crypto'
import type { Adapter } from '../adapter'
import { SyncOutboxOverflowError, SyncOversizeError, SyncPublishError, isRetryable } from '../errors'
import { isFrame, packFrames, unpackFrame, type FrameLimits } from '../protocol/batch'
import type { Payload } from '../protocol/serializers'
import { frameLimits, SendBatcher } from './batching'
import { createDebug } from './debug'
import type { DurableSession } from './durable'
import type { EngineHost, PublishLink, Publisher } from './engine-host'
import type { EngineOptions } from './options'
import { Outbox } from './outbox'
import { ResendList } from './resend'
import { isPromise } from './timeout'

const debug = createDebug('feathers-fanout/engine')

/**
 * Builds the publish path of `adapter`: one for its life (however many reconnects). `link` is read on
 * every send; `durable` is the durable session in durable mode. What waits after a reconnect is held for
 * `resumeDelayMs` by `holdThenFlush`.
 */
export function createPublisher(
  adapter: Adapter,
  options: EngineOptions,
  host: EngineHost,
  durable: DurableSession | undefined,
  link: PublishLink,
  resumeDelayMs: number
): Publisher {
  const state = host
  const { stats } = host

  const outbox = new Outbox(options.outbox)
  let overflowReported = false
  let holdTimer: NodeJS.Timeout | undefined
  let inflight = 0
  let sendSeq = 0
  // With the send sequence, an id that stays the same when a message is sent again after a lost
  // confirmation, so a broker that deduplicates by id stores it once (see DurableLog.publishDurable).
  const publishPrefix = randomBytes(6).toString('hex')
  const retry = new ResendList()
  let drainWaiters: (() => void)[] = []
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
    if (!link.connected && !link.closed && isRetryable(cause)) {
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
    if (
      durable &&
      !(cause instanceof SyncOversizeError) &&
      !link.connected &&
      !link.closed &&
      isRetryable(cause)
    ) {
      debug('a durable frame failed while disconnected, requeued whole', cause)
      requeue(seq, frame)
      return
    }
    if (cause instanceof SyncOversizeError || (!link.connected && !link.closed && isRetryable(cause))) {
      debug('a frame failed, its messages are requeued one by one', cause)
      requeueEvents(seq, frame)
      if (link.connected) flush()
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
      if (link.connected && holdTimer === undefined && !queued()) send(frame, seq)
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
      while (link.connected && outbox.size > 0) send(state.refresh(outbox.shift() as Payload))
      return
    }
    const frame = limits()
    while (link.connected && outbox.size > 0) {
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
      () => link.connected,
      ({ seq, part, payload }) => send(refreshed(payload), seq, part)
    )
    flushOutbox()
    syncOutbox()
    settle()
  }
  const onOut = (payload: Payload) => {
    // While the queue is held, new messages go behind it: order is kept.
    if (link.connected && holdTimer === undefined && !queued()) {
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
  const discard = () => {
    release()
    stats.dropped.unsent += outbox.size + retry.size
    while (outbox.shift() !== undefined);
    retry.clear()
    syncOutbox()
  }

  return {
    send: onOut,
    flush,
    holdThenFlush,
    release,
    holding: () => holdTimer !== undefined,
    queued,
    idle,
    flushBatch: () => batcher?.flush(),
    drained: () => new Promise<void>((resolve) => drainWaiters.push(resolve)),
    rearmOverflow: () => {
      overflowReported = false
    },
    discard
  }
}
