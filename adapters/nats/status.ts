import { createDebug } from '../../src/debug'
import { DebugEvents, Events, type NatsConnection, type QueuedIterator, type Status } from 'nats'
import { describeCode } from './reason'

const debug = createDebug('feathers-fanout/nats')

/** What the adapter does with the client's status events. */
export interface StatusHandlers {
  /** The socket to `server` (host:port) is gone; the client is reconnecting. */
  disconnected(server: string): void
  /** The client is connected again and has re-sent the subscriptions. */
  reconnected(): void
  /** The server sent an error the connection survives, e.g. a permissions violation. */
  serverError(text: string): void
  /** The server stopped answering pings: it is hung, or the network between is. */
  stale(): void
}

/**
 * Follows `nc.status()` until the returned stop function is called. Why stop it ourselves: the
 * client never ends a status iterator, not even when the connection closes; only
 * `QueuedIterator.stop()` (what `status()` really returns) does, and removes it from the connection.
 */
export function watchStatus(nc: NatsConnection, handlers: StatusHandlers): () => void {
  const status = nc.status()
  let stopped = false
  const dispatch = (event: Status): void => {
    debug('status', event.type, event.data)
    if (event.type === Events.Disconnect) handlers.disconnected(String(event.data))
    else if (event.type === Events.Reconnect) handlers.reconnected()
    else if (event.type === DebugEvents.StaleConnection) handlers.stale()
    else if (event.type === Events.Error) {
      const denied = event.permissionContext
      handlers.serverError(
        denied ? `no permission to ${denied.operation} "${denied.subject}"` : describeCode(String(event.data))
      )
    }
  }
  void (async () => {
    try {
      for await (const event of status) {
        if (stopped) break
        dispatch(event)
      }
    } catch (cause) {
      debug('status stream failed', cause)
    }
  })()
  return () => {
    stopped = true
    ;(status as Partial<QueuedIterator<Status>>).stop?.()
  }
}
