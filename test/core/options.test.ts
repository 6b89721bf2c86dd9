import { feathers } from '@feathersjs/feathers'
import {
  knownSchemes,
  registerAdapter,
  sync,
  SyncConfigError,
  SyncError,
  type Adapter,
  type SyncOptions
} from '../../src/index'

const configError = (make: () => unknown): SyncConfigError => {
  try {
    make()
  } catch (error) {
    expect(error).toBeInstanceOf(SyncConfigError)
    expect((error as SyncError).code).toBe('SYNC_CONFIG')
    return error as SyncConfigError
  }
  throw new Error('expected a SyncConfigError')
}

describe('configuration errors name the bad option', () => {
  it('rejects an unknown URI scheme and lists the known ones', () => {
    const error = configError(() => sync({ uri: 'kafka://localhost:9092' }))
    expect(error.option).toBe('uri')
    expect(error.message).toContain('"kafka:"')
    for (const scheme of ['memory', 'redis', 'amqp', 'nats']) expect(error.message).toContain(scheme)
  })

  it('matches schemes exactly, never by substring (a feathers-sync pitfall)', () => {
    expect(configError(() => sync({ uri: 'redisx://localhost' })).option).toBe('uri')
    expect(configError(() => sync({ uri: 'my-nats://localhost' })).option).toBe('uri')
  })

  it('requires a uri when no client or adapter is given', () => {
    const error = configError(() => sync({}))
    expect(error.option).toBe('uri')
    expect(error.message).toMatch(/"uri" is required/)
  })

  it('rejects a uri without a scheme without echoing credentials', () => {
    const error = configError(() => sync({ uri: 'user:secret@localhost' }))
    expect(error.option).toBe('uri')
  })

  it.each([
    ['serialize', { serialize: 'JSON.stringify', deserialize: JSON.parse }],
    ['deserialize', { serialize: JSON.stringify, deserialize: 42 }],
    ['deserialize', { serialize: JSON.stringify }],
    ['serializer', { serializer: 'yaml' }],
    ['serializer', { serializer: { serialize: JSON.stringify } }],
    ['key', { key: '' }],
    ['connectTimeoutMs', { connectTimeoutMs: -5 }],
    ['closeTimeoutMs', { closeTimeoutMs: Number.NaN }],
    ['outbox.maxMessages', { outbox: { maxMessages: 0 } }],
    ['emitOrder', { emitOrder: 'random' }],
    ['context', { context: 'params' }],
    ['contextParams', { contextParams: 'user' }],
    ['includeResult', { includeResult: 'yes' }],
    ['name', { name: '' }]
  ])('names "%s" when it is wrong', (option, bad) => {
    // Core options fail in sync(), adapter options when the app is configured: both before any I/O.
    const error = configError(() =>
      feathers().configure(sync({ uri: 'memory://options', ...(bad as unknown as SyncOptions) }))
    )
    expect(error.option).toBe(option)
    expect(error.message).toContain(option.split('.').pop())
  })

  it('rejects an options value that is not an object', () => {
    expect(configError(() => sync(null as unknown as SyncOptions)).option).toBe('options')
  })

  it('never changes the options object it is given', () => {
    const options = Object.freeze({ uri: 'memory://frozen', outbox: Object.freeze({ maxMessages: 5 }) })
    const app = feathers()
    app.configure(sync(options))
    expect(options).toEqual({ uri: 'memory://frozen', outbox: { maxMessages: 5 } })
  })
})

describe('the adapter registry', () => {
  it('lets a third party register a scheme and resolves it exactly', async () => {
    const published: unknown[] = []
    const adapter: Adapter = {
      type: 'loopback',
      target: 'loopback:0',
      connect: async () => undefined,
      subscribe: async () => undefined,
      publish: (payload) => void published.push(payload),
      close: async () => undefined
    }
    registerAdapter('loopback', () => adapter)
    expect(knownSchemes()).toContain('loopback')
    const app = feathers()
    app.configure(sync({ uri: 'loopback://anything' }))
    await app.sync.ready
    expect(app.sync.type).toBe('loopback')
    await app.teardown()
  })

  it.each(['Bad', 'with space', '', '1abc'])('refuses the scheme name %j', (scheme) => {
    expect(configError(() => registerAdapter(scheme, () => ({}) as Adapter)).option).toBe('scheme')
  })

  it('refuses a factory that is not a function', () => {
    expect(configError(() => registerAdapter('okname', 'nope' as never)).option).toBe('factory')
  })

  it.each(['redis', 'amqp', 'rabbitmq', 'nats', 'cluster'] as const)(
    'gives a typed error, never a TypeError, for sync.%s with a bad uri',
    (name) => {
      expect(
        configError(() => feathers().configure(sync[name]({ uri: 'memory://wrong-scheme' }))).option
      ).toBe('uri')
    }
  )
})

describe('configuring an app', () => {
  it('is harmless twice with the same adapter and keeps one publish path', () => {
    const app = feathers()
    app.configure(sync({ uri: 'memory://twice' }))
    app.configure(sync({ uri: 'memory://twice' }))
    expect(app.listenerCount('sync-out')).toBe(1)
    expect(app.listenerCount('sync-in')).toBe(1)
  })

  it('refuses a second, different adapter on one app', () => {
    const app = feathers()
    app.configure(sync({ uri: 'memory://first' }))
    const other: Adapter = {
      type: 'other',
      target: 'other:0',
      connect: async () => undefined,
      subscribe: async () => undefined,
      publish: () => undefined,
      close: async () => undefined
    }
    expect(configError(() => app.configure(sync({ adapter: other }))).message).toMatch(
      /already syncs through "memory"/
    )
  })

  it('refuses an adapter option that does not implement the contract', () => {
    expect(configError(() => sync({ adapter: { type: 'x' } as unknown as Adapter })).option).toBe('adapter')
  })
})

describe('credentials in configuration errors', () => {
  it.each([
    ['redis', 'redis://:my/secret@host:6379'],
    ['amqp', 'amqp://user:p/w@secret@host:5672'],
    ['nats', 'nats://user:top/secret@'],
    ['sync', 'user:secret@localhost']
  ] as const)('are never shown for %s uri %j', (adapter, uri) => {
    let message = ''
    try {
      const configure = adapter === 'sync' ? sync({ uri }) : sync[adapter]({ uri })
      feathers().configure(configure)
    } catch (error) {
      expect(error).toBeInstanceOf(SyncConfigError)
      message = `${(error as Error).message} ${String((error as Error).cause ?? '')}`
    }
    expect(message).not.toBe('')
    expect(message).not.toMatch(/secret|p\/w/)
  })
})
