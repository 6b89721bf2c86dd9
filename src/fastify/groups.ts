import type { Position } from '../adapter'
import type { Bus } from '../engine/bus'
import type { GroupFilter } from '../engine/groups'
import type { DeadLetter } from '../engine/dead-letters'
import type { GroupHandler, GroupMessageMeta } from '../engine/group'
import type { ConsumerGroupOptions } from '../engine/group-options'
import { SyncConfigError, SyncMessageError, type SyncDeadLetterError } from '../errors'
import type { Envelope } from '../protocol/envelope'
import type { FanoutMeta, Topic, TopicData } from './topics'

/**
 * The third argument of `subscribe`: the consumer group that handles each message of the topic once for
 * the whole fleet, and how it retries (see docs/groups.md for every option and its default).
 */
export interface FanoutGroupOptions extends ConsumerGroupOptions {
  /** The group's name: 1-64 letters, digits, `_` or `-`. Every member subscribes with the same one. */
  group: string
}

/** What a group handler gets beside the data. */
export interface FanoutGroupMeta<T extends string = Topic> extends FanoutMeta<T> {
  /** The consumer group. */
  group: string
  /** `${sender}:${id}`: the same on every redelivery and replay; store it to skip repeats. */
  idempotencyKey: string
  /** How many times the broker has handed this message to the group, this time included. */
  deliveries: number
  /** Which attempt this is (1 the first time), counting earlier deliveries. */
  attempt: number
  /** Its position in the broker's log. */
  position: Position | undefined
  /** Aborted when the attempt runs longer than `timeoutMs`. */
  signal: AbortSignal
  /** True when the app replays a dead letter (`fanout.replay`). */
  replay: boolean
}

/**
 * A group handler: its promise resolving acknowledges the message; a throw, a rejection or a timeout
 * retries it with backoff, and after `maxAttempts` it becomes a dead letter.
 */
export type FanoutGroupHandler<T extends string = Topic> = (
  data: TopicData<T>,
  meta: FanoutGroupMeta<T>
) => unknown

/** A message a group gave up on, kept on this instance for `deadLetters()` and `replay()`. */
export interface FanoutDeadLetter {
  group: string
  /** Its idempotency key; pass it to `replay`. */
  id: string
  topic: string
  data: unknown
  position: Position | undefined
  /** How many times the handler ran on it. */
  attempts: number
  /** The last failure. */
  error: Error
  /** When it was given up on, in ms since the epoch. */
  at: number
}

/** What `fanout.on('dead-letter')` reports. */
export interface FanoutDeadLetterEvent {
  letter: FanoutDeadLetter
  /** `SYNC_DEAD_LETTER`, with `group`, `id`, `attempts` and the last failure as `cause`. */
  error: SyncDeadLetterError
}

/** The sender and number of a group message, which the bus hands over as the handler's context. */
interface Origin {
  sender: string | undefined
  id: number | undefined
}

export const topicLetter = ({ path: _path, event, ...letter }: DeadLetter): FanoutDeadLetter => ({
  ...letter,
  topic: event
})

/** Makes the bus hand group handlers the message's sender and number. */
export function bindGroupOrigin(bus: Bus): void {
  bus.groupContext = (envelope: Envelope): Origin => ({ sender: envelope.sender, id: envelope.id })
}

/**
 * Checks the third argument of `subscribe` and splits it into the group's name and its options.
 * @throws SyncConfigError naming `group` when it is missing
 */
function groupOf(topic: string, options: FanoutGroupOptions): { group: string; rest: ConsumerGroupOptions } {
  if (typeof options !== 'object' || options === null || options.group === undefined) {
    throw new SyncConfigError(
      'group',
      `The third argument of subscribe("${topic}") must be { group: 'name', ... }, got ${JSON.stringify(options)}`
    )
  }
  const { group, ...rest } = options
  return { group, rest }
}

/**
 * The engine's group handler around a topic handler: the topic meta plus the group's. A message without
 * sender or number cannot be keyed: dropped (`shape`) and acknowledged, as the broadcast path drops it.
 */
function groupHandler(
  bus: Bus,
  topic: string,
  handler: FanoutGroupHandler<string>
): GroupHandler<unknown, GroupMessageMeta> {
  return (data, meta) => {
    const { sender, id } = meta.context as Origin
    if (sender === undefined || id === undefined) {
      const text = `Dropped a message of topic "${topic}" without sender or id in group "${meta.group}"`
      bus.drop('shape', new SyncMessageError('shape', text))
      return undefined
    }
    const { group, idempotencyKey, deliveries, attempt, position, signal, replay } = meta
    const full: FanoutGroupMeta<string> = {
      topic,
      sender,
      id,
      own: sender === bus.instanceId,
      group,
      idempotencyKey,
      deliveries,
      attempt,
      position,
      signal,
      replay
    }
    return handler(data as TopicData<string>, full)
  }
}

/**
 * Registers a topic's group handler on the bus; returns the unsubscribe function, whose promise settles
 * once this member left the group (when it was the group's last handler here).
 */
export function consumeTopic(
  bus: Bus,
  filter: GroupFilter,
  handler: FanoutGroupHandler<string>,
  options: FanoutGroupOptions
): () => Promise<void> {
  const { group, rest } = groupOf(filter.event, options)
  return bus.consume(group, filter, groupHandler(bus, filter.event, handler), rest)
}
