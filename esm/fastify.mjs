// ES module entry of `feathers-fanout/fastify`: the CommonJS build re-exported by name
// (`feathersFanout` is the camel-case alias fastify-plugin adds). test/package.test.ts checks
// that this list matches the CommonJS exports, so it cannot drift.
import entry from '../dist/src/fastify/cjs.js'

export default entry
export const {
  fanout,
  feathersFanout,
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
} = entry
