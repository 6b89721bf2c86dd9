/**
 * Type tests of the public API, checked by test/types.test.ts with `tsc --strict`. Each
 * `@ts-expect-error` line must fail to compile: if one compiles, tsc reports the directive as unused.
 */
import { feathers, type HookContext } from '@feathersjs/feathers'
import sync, {
  SYNC,
  SyncConfigError,
  type Adapter,
  type AdapterCapabilities,
  type SyncOptions,
  type SyncStats,
  type SyncStatus
} from '../../src/index'

const app = feathers()
app.configure(sync({ uri: 'redis://127.0.0.1:6379', key: 'chat' }))
app.configure(sync.redis({ uri: 'redis://127.0.0.1:6379', sharded: true }))
app.configure(sync.nats({ uri: 'nats://127.0.0.1:4222' }))
app.configure(sync.memory())

// The handle is typed on every app.
const status: SyncStatus = app.sync.status
const stats: SyncStats = app.sync.stats()
const ready: Promise<unknown> = app.sync.ready
void [status, stats, ready]

// The SYNC opt-out is a typed key of the hook context.
export const keepLocal = (context: HookContext) => {
  context[SYNC] = false
}

// @ts-expect-error: an option of another adapter on the Redis shortcut
sync.redis({ uri: 'redis://127.0.0.1', natsConnection: undefined })

// @ts-expect-error: emitOrder has two values
sync({ uri: 'memory://x', emitOrder: 'sometimes' })

// @ts-expect-error: the durable retention is a number of milliseconds
sync({ uri: 'redis://127.0.0.1', durable: { maxAgeMs: '1d' } })

export const keepLocalWrongly = (context: HookContext) => {
  // @ts-expect-error: SYNC takes a boolean
  context[SYNC] = 'no'
}

// @ts-expect-error: stats are read through stats(), not a property
export const published: number = app.sync.stats.published

// A custom adapter needs only the contract; capabilities are optional and typed.
const capabilities: AdapterCapabilities = { broadcast: true, durable: false }
export const custom: Adapter = {
  type: 'custom',
  target: 'nowhere',
  capabilities,
  connect: async () => undefined,
  subscribe: async () => undefined,
  publish: () => undefined,
  close: async () => undefined
}
// @ts-expect-error: an adapter must be able to publish
export const broken: Adapter = {
  type: 'x',
  target: 'y',
  connect: async () => undefined,
  subscribe: async () => undefined,
  close: async () => undefined
}

export const options: SyncOptions = { uri: 'amqp://127.0.0.1', durable: { consumerName: 'web-1' } }
export const error: SyncConfigError = new SyncConfigError('uri', 'bad')
// @ts-expect-error: every SyncError has a stable code
export const code: 'SYNC_NOPE' = error.code
