import './declarations'
import { core } from './core'
import { SYNC, isRemote, sanitize, travellingContext, DEFAULT_CONTEXT_PARAMS } from './context'
import {
  SyncConfigError,
  SyncConnectionError,
  SyncDeliveryError,
  SyncError,
  SyncMessageError,
  SyncOutboxOverflowError,
  SyncOversizeError,
  SyncPublishError,
  SyncSerializationError,
  SyncServiceEventsError
} from './errors'
import { registerAdapter, knownSchemes } from './registry'
import { bson } from './bson'
import { json } from './serializers'
import { sync } from './sync'

/** The adapters by name, also reachable as `sync.redis` and so on, as in feathers-sync. */
const { redis, amqp, rabbitmq, nats, memory, cluster } = sync
import { memoryBus } from '../adapters/memory'
import { setupPrimary } from '../adapters/cluster/primary'

export {
  sync,
  redis,
  amqp,
  rabbitmq,
  nats,
  memory,
  cluster,
  core,
  SYNC,
  isRemote,
  sanitize,
  travellingContext,
  DEFAULT_CONTEXT_PARAMS,
  registerAdapter,
  knownSchemes,
  json,
  bson,
  memoryBus,
  setupPrimary,
  SyncError,
  SyncConfigError,
  SyncConnectionError,
  SyncDeliveryError,
  SyncMessageError,
  SyncOutboxOverflowError,
  SyncOversizeError,
  SyncPublishError,
  SyncSerializationError,
  SyncServiceEventsError
}
export type { Adapter, AdapterHooks } from './adapter'
export type { ContextBuilder, RemoteOrigin } from './context'
export type { CoreOptions } from './core'
export type { Envelope } from './envelope'
export type { DropReason, SyncErrorCode } from './errors'
export type { SyncHandle, SyncInfo } from './handle'
export type { SecurityOptions } from './security'
export type { BaseSyncOptions, ResolvedOptions, SyncOptions } from './options'
export type { OutboxOptions } from './outbox'
export type { AdapterFactory } from './registry'
export type { DeserializeFn, Payload, SerializeFn, Serializer, SerializerOptions } from './serializers'
export type { SyncStats, SyncStatus, SyncStatusEvent } from './stats'
export type { Configure, Sync } from './sync'
export type { MemoryAdapterOptions, MemoryBus } from '../adapters/memory'
export type { AmqpAdapterOptions, AmqpConnectionOptions, AmqpRecoveryOptions } from '../adapters/amqp'
export type { ClusterRelay, ClusterRelayStats, SetupPrimaryOptions } from '../adapters/cluster/primary'
export type { NatsAdapterOptions } from '../adapters/nats'
export type { RedisAdapterOptions } from '../adapters/redis'

export default sync
