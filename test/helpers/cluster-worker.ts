/**
 * A cluster worker for test/cluster.test.ts: one test app on `cluster://`, driven by plain IPC
 * commands from the Jest process (the primary). Every event the app's `todos` service emits is
 * reported back. Untagged messages like these are exactly the "unrelated IPC traffic" the relay
 * and the adapter must leave alone.
 */
import { frame } from '../../adapters/cluster/protocol'
import { setupPrimary, type SyncOptions } from '../../src/index'
import { createTestApp } from './apps'

const send = (message: Record<string, unknown>): void => {
  process.send?.(message)
}

const options = JSON.parse(process.env.FANOUT_TEST_SYNC ?? '{}') as SyncOptions
const test = createTestApp({ uri: 'cluster://', ...options })
const { app } = test

for (const event of ['created', 'updated', 'patched', 'removed', 'status']) {
  app.service('todos').on(event, (data: Record<string, unknown>, context: { remote?: unknown }) => {
    send({
      test: 'event',
      event,
      marker: data?.marker,
      remote: context?.remote !== undefined,
      bytes: Buffer.isBuffer(data?.bytes) ? data.bytes.toString('base64') : undefined,
      at: data?.at instanceof Date ? data.at.toISOString() : undefined
    })
  })
}

app.sync.ready.then(
  () => send({ test: 'started', ready: true }),
  (error: Error) => send({ test: 'started', ready: false, name: error.name, message: error.message })
)

type Command = { test: 'cmd'; id: number; cmd: string } & Record<string, unknown>

const commands: Record<string, (command: Command) => unknown> = {
  create: ({ marker }) => app.service('todos').create({ marker }),
  // `count` calls started in the same tick, as a busy server would: their events go out together.
  createMany: async ({ prefix, count, size }) => {
    const text = 'x'.repeat(Number(size ?? 0))
    const calls = Array.from({ length: Number(count) }, (_, i) =>
      app.service('todos').create({ marker: `${prefix}-${i}`, text })
    )
    await Promise.all(calls)
  },
  status: ({ marker, bytes, at }) =>
    app
      .service('todos')
      .emit('status', { marker, bytes: Buffer.from(String(bytes), 'base64'), at: new Date(String(at)) }),
  // Publishes `count` events, then closes the app, which waits until IPC has taken every message.
  burst: async ({ prefix, count }) => {
    for (let i = 0; i < Number(count); i++) await app.service('todos').create({ marker: `${prefix}-${i}` })
    await app.sync.close()
  },
  garbage: ({ key }) => {
    const garbage: unknown[] = [
      'a plain string',
      [1, 2, 3],
      { source: '_sio_adapter', type: 1, data: 'socket.io cluster traffic' },
      { source: 'feathers-fanout' },
      { source: 'feathers-fanout', v: 99, type: 'publish', key, data: 'future' },
      { source: 'feathers-fanout', v: 1, type: 'explode', key },
      { source: 'feathers-fanout', v: 1, type: 'publish', key },
      { source: 'feathers-fanout', v: 1, type: 'publish', key: '', data: 'x' },
      { source: 'feathers-fanout', v: 1, type: 'publish', key, data: { base64: 42 } }
    ]
    for (const message of garbage) send(message as Record<string, unknown>)
    return garbage.length
  },
  // A well-formed frame sent behind the library's back, like a raw publish on a broker.
  raw: ({ key, data }) => process.send?.(frame({ type: 'publish', key: String(key), data: String(data) })),
  stats: () => app.sync.stats(),
  syncStatus: () => app.sync.status,
  errors: () => test.errors.map((error) => ({ name: error.name, message: error.message })),
  setupPrimary: () => {
    try {
      setupPrimary()
      return { name: 'none' }
    } catch (error) {
      return { name: (error as Error).name, message: (error as Error).message }
    }
  }
}

process.on('message', (message: Command) => {
  if (message?.test !== 'cmd') return
  const run = commands[message.cmd]
  Promise.resolve()
    .then(() => (run ? run(message) : Promise.reject(new Error(`unknown command ${message.cmd}`))))
    .then(
      (value) => send({ test: 'reply', id: message.id, value: value === undefined ? null : value }),
      (error: Error) => send({ test: 'reply', id: message.id, error: error.message })
    )
})
