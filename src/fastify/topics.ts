import type { Position } from '../adapter'

/**
 * The topics of your fleet and the data each one carries, declared by declaration merging:
 *
 * ```ts
 * declare module 'feathers-fanout/fastify' {
 *   interface FanoutTopics {
 *     'user.state': { id: string; state: string }
 *   }
 * }
 * ```
 *
 * Once one topic is declared, `publish` and `subscribe` accept only declared topics, each with its own
 * data type. With none declared, any topic name is accepted and its data is `unknown`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in by users' declaration merging
export interface FanoutTopics {}

/** A topic name: a key of {@link FanoutTopics}, or any string while none is declared. */
export type Topic = [keyof FanoutTopics] extends [never] ? string : Extract<keyof FanoutTopics, string>

/** The data of topic `T`: as declared in {@link FanoutTopics}, `unknown` for an undeclared one. */
export type TopicData<T extends string> = T extends keyof FanoutTopics ? FanoutTopics[T] : unknown

/** What a handler gets beside the data: where the message came from, and where it sits in a durable log. */
export interface FanoutMeta<T extends string = Topic> {
  /** The topic the message was published on. */
  topic: T
  /** Instance id of the publisher (`fastify.fanout.instanceId` over there). */
  sender: string
  /**
   * The publisher's number for this message, increasing per publisher. With `sender` it is a stable key
   * for the message (`${sender}:${id}`), the same on every instance and on a redelivery.
   */
  id: number
  /** Whether this instance published it. */
  own: boolean
  /** Its position in the broker's log, in durable mode (undefined for a local-first own message). */
  position?: Position
}

/**
 * Called with each message of a topic. It may return a promise: a rejection is reported like a throw (as
 * a `SyncDeliveryError` on `fanout.on('error')` and in the Fastify log). The next message does not wait
 * for it.
 */
export type FanoutHandler<T extends string = Topic> = (
  data: TopicData<T>,
  meta: FanoutMeta<T>
) => void | Promise<void>
