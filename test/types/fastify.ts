/**
 * Type tests of the Fastify plugin (`feathers-fanout/fastify`), checked by test/types.test.ts: the
 * decorated instance, typed topics by declaration merging, and each `@ts-expect-error` case refused.
 */
import Fastify from 'fastify'
import {
  fanout,
  type FanoutDeadLetter,
  type FanoutGroupMeta,
  type GroupStats,
  type SyncDeadLetterError,
  type FanoutMeta,
  type FanoutOptions,
  type SyncStats,
  type SyncStatus
} from '../../src/fastify'

declare module '../../src/fastify' {
  interface FanoutTopics {
    'user.state': { id: string; state: string }
    'cache.flush': { keys: string[] }
  }
}

const app = Fastify()
void app.register(fanout, { uri: 'redis://127.0.0.1:6379', durable: { consumerName: 'web-1' } })

// The decoration is typed on every instance.
const status: SyncStatus = app.fanout.status
const stats: SyncStats = app.fanout.stats()
const ready: Promise<void> = app.fanout.ready
const id: string = app.fanout.instanceId
void [status, stats, ready, id]

// A declared topic takes its data type, and its handler gets it with the meta.
const sent: boolean = app.fanout.publish('user.state', { id: 'u1', state: 'active' })
void sent
const stop: () => void = app.fanout.subscribe('user.state', async (data, meta) => {
  const state: string = data.state
  const key = `${meta.sender}:${meta.id}`
  const topic: 'user.state' = meta.topic
  const own: boolean = meta.own
  const position: string | undefined = meta.position
  void [state, key, topic, own, position]
})
stop()
app.fanout.subscribe('cache.flush', (data) => {
  const keys: string[] = data.keys
  void keys
})
export const meta: FanoutMeta<'cache.flush'> = { topic: 'cache.flush', sender: 'a', id: 1, own: false }
app.fanout.on('error', (error) => void error.code)
app.fanout.on('status', (event) => void event.previous)

// Run-once handling: the group handler gets the topic's data and the group's meta; unsubscribing
// resolves once the group is left.
const leave: () => Promise<void> = app.fanout.subscribe(
  'user.state',
  async (data, meta) => {
    const state: string = data.state
    const key: string = meta.idempotencyKey
    const group: string = meta.group
    const attempt: number = meta.attempt
    const deliveries: number = meta.deliveries
    const signal: AbortSignal = meta.signal
    const replay: boolean = meta.replay
    const topic: 'user.state' = meta.topic
    void [state, key, group, attempt, deliveries, signal, replay, topic]
  },
  { group: 'history', maxAttempts: 3, retryDelayMs: 500, prefetch: 20 }
)
void leave()
const groupStats: Promise<GroupStats[]> = app.fanout.groupStats()
const letters: FanoutDeadLetter[] = app.fanout.deadLetters('history')
const replayed: Promise<void> = app.fanout.replay('history', letters[0].id)
void [groupStats, replayed]
app.fanout.on('dead-letter', ({ letter, error }) => {
  const topic: string = letter.topic
  const typed: SyncDeadLetterError = error
  void [topic, typed.group]
})
export const groupMeta = (meta: FanoutGroupMeta<'cache.flush'>): string => meta.idempotencyKey

// @ts-expect-error: the group options need a group name
app.fanout.subscribe('user.state', () => undefined, { maxAttempts: 3 })

// @ts-expect-error: an unknown group option
app.fanout.subscribe('user.state', () => undefined, { group: 'history', retries: 3 })

// @ts-expect-error: a group handler gets the topic's data too
app.fanout.subscribe('cache.flush', (data: { id: string }) => void data.id, { group: 'history' })

app.fanout.subscribe('user.state', (_data, meta) => {
  // @ts-expect-error: a plain handler's meta has no group
  void meta.group
})

// @ts-expect-error: a topic nobody declared
app.fanout.publish('user.stat', { id: 'u1', state: 'active' })

// @ts-expect-error: the data of another topic
app.fanout.publish('user.state', { keys: ['a'] })

// @ts-expect-error: state is a string
app.fanout.publish('user.state', { id: 'u1', state: 3 })

app.fanout.subscribe('user.state', (data) => {
  // @ts-expect-error: user.state data has no keys
  void data.keys
})

// @ts-expect-error: an event the handle does not report
app.fanout.on('message', () => undefined)

// @ts-expect-error: emitOrder has two values
export const order: FanoutOptions = { uri: 'redis://127.0.0.1', emitOrder: 'sometimes' }

// @ts-expect-error: echo is the Feathers-free bus's option; the plugin has emitOrder
export const echo: FanoutOptions = { uri: 'redis://127.0.0.1', echo: true }

// @ts-expect-error: the durable retention is a number of milliseconds
void app.register(fanout, { uri: 'redis://127.0.0.1', durable: { maxAgeMs: '1d' } })

// @ts-expect-error: the stats are read through stats()
export const published: number = app.fanout.stats.published
