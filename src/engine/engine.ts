import type { Adapter, AdapterHooks, Position } from '../adapter'
import { SyncConnectionError, SyncError } from '../errors'
import type { Payload } from '../protocol/serializers'
import { durableSessionFor } from './durable'
import type { Engine, EngineHost, PublishLink } from './engine-host'
import type { EngineOptions } from './options'
import { createPublisher } from './publisher'
import { untilSubscribed } from './startup'
import { withTimeout } from './timeout'

export type { Engine, EngineHost } from './engine-host'

/**
 * Runs an adapter: one publish path for its life (however many reconnects), the outbox while the broker
 * is away, the resume hold, status, readiness and a bounded drain on close. Knows no framework.
 */
export function runEngine(adapter: Adapter, options: EngineOptions, host: EngineHost): Engine {
  const state = host
  const { stats } = host
  const durable = durableSessionFor(adapter, options)
  // Whether publishes reach the broker now, and whether the engine closed: steered here, read by the
  // publish path.
  const link: PublishLink = { connected: false, closed: false }
  let subscribed = false
  // After a reconnect, what queued during the outage waits this long for the other instances to be back.
  // Never in durable mode: the log keeps what they miss, so nothing waits on a timer.
  const resumeDelayMs = durable ? 0 : (options.resumeDelayMs ?? adapter.resumeDelayMs ?? 0)
  // The last problem the adapter reported while starting, so a timeout can say why.
  let lastStartupError: SyncError | undefined
  const out = createPublisher(adapter, options, host, durable, link, resumeDelayMs)

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
      if (link.closed || !subscribed) return
      if (status === 'ready') {
        if (away) stats.reconnects++
        away = false
        out.rearmOverflow()
        showStatus('ready')
      } else {
        away = true
        if (detail?.subscriptionKept !== true) subscriptionLost = true
        showStatus('reconnecting', cause)
      }
      // Receiving alone is down (`publishingKept`): what this instance publishes still reaches the others.
      if (status !== 'ready' && detail?.publishingKept !== true) {
        link.connected = false
        return
      }
      const back = !link.connected
      link.connected = true
      // A hold under way keeps its deadline: reconnects during it do not restart it (or it could starve).
      if (out.holding()) return
      if (back && subscriptionLost && resumeDelayMs > 0 && out.queued()) out.holdThenFlush()
      else out.flush()
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
      () => link.closed,
      (cause) => {
        lastStartupError =
          cause instanceof SyncError
            ? cause
            : new SyncConnectionError(adapter.target, `Could not subscribe at ${adapter.target}`, { cause })
      }
    )
    if (link.closed) return
    subscribed = true
    link.connected = true
    host.setStatus('ready')
    out.flush()
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
    out.flushBatch()
    // Nobody else is coming back for a closing instance to wait for: what is held goes now.
    if (out.holding()) {
      out.release()
      out.flush()
    }
    if (link.connected && !out.idle()) {
      const drained = out.drained()
      await withTimeout(drained, options.closeTimeoutMs, () => new Error('drain timeout')).result.catch(
        () => undefined
      )
    }
    link.closed = true
    link.connected = false
    out.discard()
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
  return { send: out.send, ready, connected: startup, close }
}
