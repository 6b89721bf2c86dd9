/**
 * `feathers-fanout/fastify`: the Fastify plugin on the same engine as the Feathers binding. Loads
 * `fastify-plugin` (an optional peer dependency); nothing of Feathers.
 */
import { fanout } from './plugin'
import {
  SyncConfigError,
  SyncConnectionError,
  SyncDeadLetterError,
  SyncDeliveryError,
  SyncError,
  SyncGroupError,
  SyncLogResetError,
  SyncMessageError,
  SyncOutboxOverflowError,
  SyncOversizeError,
  SyncPublishError,
  SyncSerializationError
} from '../errors'
import { bson } from '../protocol/bson'
import { json } from '../protocol/serializers'
import { registerAdapter } from '../registry'
import { Fanout, TOPIC_PATH } from './fanout'

export {
  fanout,
  Fanout,
  TOPIC_PATH,
  registerAdapter,
  json,
  bson,
  SyncError,
  SyncConfigError,
  SyncConnectionError,
  SyncDeadLetterError,
  SyncDeliveryError,
  SyncGroupError,
  SyncLogResetError,
  SyncMessageError,
  SyncOutboxOverflowError,
  SyncOversizeError,
  SyncPublishError,
  SyncSerializationError
}
export type { FanoutEvents } from './fanout'
export type { FanoutOptions } from './options'
export type {
  FanoutDeadLetter,
  FanoutDeadLetterEvent,
  FanoutGroupHandler,
  FanoutGroupMeta,
  FanoutGroupOptions
} from './groups'
export type { ConsumerGroupOptions } from '../engine/group-options'
export type { GroupStats } from '../engine/group'
export type { FanoutHandler, FanoutMeta, FanoutTopics, Topic, TopicData } from './topics'
export type { DropReason, SyncErrorCode } from '../errors'
export type { DurableOptions } from '../engine/options'
export type { SyncGap } from '../engine/durable'
export type { SyncStats, SyncStatus, SyncStatusEvent } from '../engine/stats'
export type { Adapter, Position } from '../adapter'

export default fanout
