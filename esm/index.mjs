// ES module entry: the CommonJS build re-exported by name. test/package.test.ts checks that
// this list matches the CommonJS exports, so it cannot drift.
import entry from '../dist/src/cjs.js'

export default entry
export const {
  sync,
  core,
  redis,
  amqp,
  rabbitmq,
  nats,
  memory,
  cluster,
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
  SyncDeliveryError,
  SyncMessageError,
  SyncOutboxOverflowError,
  SyncOversizeError,
  SyncPublishError,
  SyncSerializationError,
  SyncServiceEventsError,
  SyncDeadLetterError,
  SyncGroupError,
  SyncLogResetError,
  SyncSubscriptionError
} = entry
