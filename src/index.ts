import './feathers/declarations'
import { SYNC, isRemote, sanitize, travellingContext, DEFAULT_CONTEXT_PARAMS } from './feathers/context'
import { core, sync } from './feathers/plugin'
import {
  SyncConfigError,
  SyncConnectionError,
  SyncDeadLetterError,
  SyncDeliveryError,
  SyncDependencyError,
  SyncGroupError,
  SyncLogResetError,
  SyncError,
  SyncMessageError,
  SyncOutboxOverflowError,
  SyncOversizeError,
  SyncPublishError,
  SyncSerializationError,
  SyncServiceEventsError,
  SyncSubscriptionError
} from './errors'
import { registerAdapter, knownSchemes } from './registry'
import { bson } from './protocol/bson'
import { json } from './protocol/serializers'

import { memoryBus } from '../adapters/memory'
import { syncMetrics } from './ops/metrics'
import { setupPrimary } from '../adapters/cluster/primary'

/** The adapters by name, also reachable as `sync.redis` and so on, as in feathers-sync. */
const { redis, amqp, rabbitmq, nats, memory, cluster } = sync

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
  syncMetrics,
  SyncError,
  SyncDependencyError,
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
  SyncSerializationError,
  SyncServiceEventsError,
  SyncSubscriptionError
}
// The adapter contract, for custom adapters (docs/custom-adapters.md).
export type {
  Adapter,
  AdapterCapabilities,
  AdapterHooks,
  DurableHooks,
  DurableLog,
  GapReason,
  GroupLog,
  GroupMembership,
  GroupMessage,
  GroupOptions,
  StoredDeadLetter,
  Payload,
  Position,
  StartPosition
} from './adapter'
export type { DropReason, SyncErrorCode } from './errors'
export type { BaseSyncOptions, DurableOptions } from './engine/options'
export type { SyncGap } from './engine/durable'
export type { DeadLetter } from './engine/dead-letters'
export type { GroupHandler, GroupMessageMeta, GroupStats } from './engine/group'
export type { ConsumerGroupOptions } from './engine/group-options'
export type { GroupFilter } from './engine/groups'
export type { ConsumeHandler, ConsumeMeta, ConsumerGroupApi } from './feathers/groups'
export type { OutboxOptions } from './engine/outbox'
export type { BatchOptions } from './engine/batching'
export type { SyncStats, SyncStatus, SyncStatusEvent } from './engine/stats'
export type { SyncHealth } from './engine/health'
export type { ReportCounts } from './engine/reports'
export type { MetricsRegistry, SyncMetrics, SyncMetricsOptions, SyncedApp } from './ops/metrics'
export type { SecurityOptions } from './protocol/security'
export type { DeserializeFn, SerializeFn, Serializer, SerializerOptions } from './protocol/serializers'
export type { AdapterFactory } from './registry'
export type { ContextBuilder, RemoteOrigin } from './feathers/context'
export type { SyncHandle, SyncInfo } from './feathers/handle'
export type { FeathersOptions } from './feathers/options'
export type { AdapterSyncOptions, Configure, Sync, SyncOptions } from './feathers/plugin'
export type { MemoryAdapterOptions, MemoryBus } from '../adapters/memory'
export type { AmqpAdapterOptions, AmqpConnectionOptions, AmqpRecoveryOptions } from '../adapters/amqp'
export type { ClusterRelay, ClusterRelayStats, SetupPrimaryOptions } from '../adapters/cluster/primary'
export type { NatsAdapterOptions } from '../adapters/nats'
export type { RedisAdapterOptions } from '../adapters/redis'

export default sync
