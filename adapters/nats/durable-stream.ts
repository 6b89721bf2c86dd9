import { createDebug } from '../../src/engine/debug'
import {
  DiscardPolicy,
  NatsError,
  RetentionPolicy,
  StorageType,
  nanos,
  type JetStreamManager,
  type NatsConnection,
  type StreamConfig,
  type StreamInfo
} from 'nats'
import { SyncConfigError } from '../../src/errors'
import type { NatsDurableSettings } from './durable-options'

const debug = createDebug('feathers-fanout/nats')

// JetStream API error codes (nats-server's server/errors.json).
const STREAM_NOT_FOUND = 10059
const STREAM_NAME_IN_USE = 10058
const SUBJECTS_OVERLAP = 10065
const JETSTREAM_NOT_ENABLED_FOR_ACCOUNT = 10039
const JETSTREAM_NOT_ENABLED = 10076

const apiCode = (cause: unknown): number | undefined =>
  cause instanceof NatsError ? cause.api_error?.err_code : undefined

/** The retention `settings` ask for, as stream configuration. */
function limits(
  settings: NatsDurableSettings
): Pick<StreamConfig, 'max_msgs' | 'max_age' | 'max_bytes' | 'discard' | 'num_replicas'> {
  return {
    max_msgs: settings.maxMessages,
    max_age: nanos(settings.maxAgeMs),
    max_bytes: settings.maxBytes,
    discard: DiscardPolicy.Old,
    num_replicas: settings.replicas
  }
}

/**
 * The JetStream manager of `nc`. A server without JetStream (started without `-js`, or an account
 * without it) is a configuration problem, not an outage: a SyncConfigError naming `durable`.
 */
export async function jetStreamOf(nc: NatsConnection): Promise<JetStreamManager> {
  try {
    return await nc.jetstreamManager()
  } catch (cause) {
    // No responders at all (503 without an API error), or the server says so. A cluster still electing
    // its JetStream leader answers 503 with an API error (10008): that is retried, not reported here.
    const api = apiCode(cause)
    const noResponders = cause instanceof NatsError && cause.code === '503' && api === undefined
    if (noResponders || api === JETSTREAM_NOT_ENABLED_FOR_ACCOUNT || api === JETSTREAM_NOT_ENABLED) {
      throw new SyncConfigError(
        'durable',
        `Option "durable" needs JetStream, which the NATS server at ${nc.getServer()} does not offer ` +
          '(start nats-server with -js, or enable JetStream for the account)',
        { cause }
      )
    }
    throw cause
  }
}

/** Whether the stream's limits differ from the configured ones. */
function differs(info: StreamInfo, settings: NatsDurableSettings): boolean {
  const wanted = limits(settings)
  const { config } = info
  return (Object.keys(wanted) as (keyof typeof wanted)[]).some((name) => config[name] !== wanted[name])
}

/**
 * Makes sure the channel's stream exists. Missing: created with the configured limits (file storage,
 * discard old). Present with other limits: updated when `update` (the first connect of this instance:
 * the options are what the app asked for; later reconnects leave it, so that instances of an older
 * deploy do not flip it back). Present but not holding our subject: a SyncConfigError, nothing touched.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  settings: NatsDurableSettings,
  update: boolean
): Promise<StreamInfo> {
  const { stream, subject } = settings
  let info: StreamInfo | undefined
  try {
    info = await jsm.streams.info(stream)
  } catch (cause) {
    if (apiCode(cause) !== STREAM_NOT_FOUND) throw cause
  }
  if (info === undefined) {
    try {
      return await jsm.streams.add({
        name: stream,
        subjects: [subject],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        ...limits(settings)
      })
    } catch (cause) {
      if (apiCode(cause) === SUBJECTS_OVERLAP) {
        throw new SyncConfigError(
          'key',
          `Another JetStream stream already holds the subject "${subject}"; pick another "key"`,
          { cause }
        )
      }
      // Another instance created it at the same moment (with other limits): use it as it is.
      if (apiCode(cause) !== STREAM_NAME_IN_USE) throw cause
      info = await jsm.streams.info(stream)
    }
  }
  if (!info.config.subjects?.includes(subject)) {
    throw new SyncConfigError(
      'key',
      `The JetStream stream "${stream}" exists but does not hold the subject "${subject}"; pick another "key"`
    )
  }
  if (update && differs(info, settings)) {
    debug('updating the limits of stream', stream)
    return jsm.streams.update(stream, limits(settings))
  }
  return info
}
