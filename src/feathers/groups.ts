import type { Application } from '@feathersjs/feathers'
import type { Bus } from '../engine/bus'
import type { DeadLetter } from '../engine/dead-letters'
import type { GroupHandler, GroupMessageMeta, GroupStats } from '../engine/group'
import type { ConsumerGroupOptions } from '../engine/group-options'
import type { Envelope } from '../protocol/envelope'
import { SyncConfigError } from '../errors'
import { remoteContext } from './context'

/** What a Feathers consumer group handler gets beside the event's data. */
export interface ConsumeMeta extends Omit<GroupMessageMeta, 'context'> {
  /**
   * The event's hook context, rebuilt on the handling instance as for any remote event: what travelled
   * (`context` option), `app`, `service`, `path`, `event`, `result` and `remote` (the sender).
   */
  context: Record<string, unknown>
}

/** A handler of a consumer group: resolving acknowledges the event; throwing retries it, then dead-letters it. */
export type ConsumeHandler<T = unknown> = (data: T, meta: ConsumeMeta) => unknown

/** The consumer group part of `app.sync`. */
export interface ConsumerGroupApi {
  /**
   * Handles each `event` of the service at `path` once per consumer `group`, on one of the instances that
   * registered it, while every instance's listeners and clients still get the event. At-least-once: the
   * event is acknowledged when `handler` resolves, retried with backoff when it throws or times out, and
   * dead-lettered after `maxAttempts`. Needs `durable`. Returns the function that removes the handler;
   * removing the group's last handler on this instance also leaves the broker's group, so that its events
   * go to the members that still handle them (the promise settles once left, bounded by `closeTimeoutMs`).
   * @throws SyncConfigError naming the bad argument or option
   */
  consume<T = unknown>(
    group: string,
    path: string,
    event: string,
    handler: ConsumeHandler<T>,
    options?: ConsumerGroupOptions
  ): () => Promise<void>
  /** Counters of each consumer group of this instance (pending, handled, retried, deadLettered, lag). */
  groupStats(): Promise<GroupStats[]>
  /** The dead letters of `group` kept on this instance, oldest first. */
  deadLetters(group: string): DeadLetter[]
  /** Runs the handler again on dead letter `id` of `group`; resolves once it succeeded. */
  replay(group: string, id: string): Promise<void>
}

const stripSlashes = (path: string): string => path.replace(/^\/+|\/+$/g, '')

/** Makes group handlers get a Feathers hook context, and dead letters reach `sync-dead-letter`. */
export function bindGroups(app: Application, bus: Bus): void {
  bus.groupContext = (envelope: Envelope) => {
    const path = stripSlashes(envelope.path)
    const service = (app.services as Record<string, unknown>)[path]
    const origin = { instanceId: envelope.sender ?? null, messageId: envelope.id ?? null }
    return remoteContext(app, service, path, envelope.event, envelope.data, envelope.context, origin)
  }
}

/** The consumer group methods of `app.sync`, over the app's bus. */
export function groupApi(bus: Bus): ConsumerGroupApi {
  return {
    consume: (group, path, event, handler, options) => {
      // The bus takes an empty path (messages without one); a Feathers event always has its service's.
      if (typeof path !== 'string' || stripSlashes(path) === '') {
        throw new SyncConfigError(
          'path',
          `A consumer group needs a service path, got ${JSON.stringify(path)}`
        )
      }
      // The bus hands over what `groupContext` built: the hook context set by `bindGroups`.
      return bus.consume(group, { path, event }, handler as GroupHandler, options)
    },
    groupStats: () => bus.groupStats(),
    deadLetters: (group) => bus.deadLetters(group),
    replay: (group, id) => bus.replay(group, id)
  }
}
