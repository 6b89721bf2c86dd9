/**
 * Options that say when they are wrong: a URI string is accepted as `{ uri }`, unknown option names are
 * refused with the closest known name, a second `configure` with other options is refused, and
 * `core.SYNC` is where feathers-sync has it.
 */
import { feathers, type Application, type HookContext } from '@feathersjs/feathers'
import { registerAdapter, sync, SYNC, SyncConfigError, type Adapter, type SyncOptions } from '../../src/index'
import { createTestApp, teardownFleet, uniqueKey, waitFor, type TestApp } from '../helpers/apps'

const configError = (make: () => unknown): SyncConfigError => {
  try {
    make()
  } catch (error) {
    expect(error).toBeInstanceOf(SyncConfigError)
    return error as SyncConfigError
  }
  throw new Error('expected a SyncConfigError, nothing was thrown')
}

/** Options as a JavaScript caller passes them: names the types would not allow. */
const loose = (options: Record<string, unknown>): SyncOptions => options as SyncOptions

const noop: Adapter = {
  type: 'noop',
  target: 'noop:0',
  connect: async () => undefined,
  subscribe: async () => undefined,
  publish: () => undefined,
  close: async () => undefined
}

const apps: Application[] = []
let fleet: TestApp[] = []
afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
  await Promise.all(apps.splice(0).map((app) => app.teardown()))
})

describe('a URI string as the only argument', () => {
  it('is taken as { uri }: two apps configured with sync(uri) share events', async () => {
    const uri = `memory://${uniqueKey('string-uri')}`
    fleet = [createTestApp(uri as unknown as SyncOptions), createTestApp(uri as unknown as SyncOptions)]
    // createTestApp passes its argument to sync() as is: here a plain string.
    await Promise.all(fleet.map(({ app }) => app.sync.ready))
    const marker = uniqueKey('string')
    await fleet[0].app.service('todos').create({ marker })
    await waitFor('the event on the other app', () => fleet[1].seen('created', marker).length === 1)
    expect(fleet[0].app.sync.type).toBe('memory')
  })

  it('works for the named adapters too, e.g. sync.redis(uri) against a real Redis', async () => {
    const url = process.env.FANOUT_REDIS_URL
    if (!url) throw new Error('FANOUT_REDIS_URL is not set: run with FANOUT_BROKERS including redis')
    const app = feathers()
    apps.push(app)
    app.configure(sync.redis(url))
    await app.sync.ready
    expect(app.sync.type).toBe('redis')
    expect(app.sync.status).toBe('ready')
  })

  it.each(['memory', 'cluster', 'nats', 'amqp', 'rabbitmq'] as const)(
    'is checked like a uri option by sync.%s',
    (name) => {
      expect(configError(() => sync[name]('')).option).toBe('uri')
    }
  )
})

describe('unknown option names', () => {
  it.each([
    ['serialise', 'serialize'],
    ['redisOptons', 'redisOptions'],
    ['natsConnectionOption', 'natsConnectionOptions'],
    ['amqpRecover', 'amqpRecovery'],
    ['includeResults', 'includeResult'],
    ['connectTimeout', 'connectTimeoutMs'],
    ['URI', 'uri']
  ])('"%s" is refused, naming "%s" as the likely one', (typo, meant) => {
    const error = configError(() => sync(loose({ uri: 'memory://typos', [typo]: true })))
    expect(error.option).toBe(typo)
    expect(error.message).toBe(`Unknown option "${typo}"; did you mean "${meant}"?`)
  })

  it('names the option inside outbox', () => {
    const error = configError(() => sync(loose({ uri: 'memory://typos', outbox: { maxMesages: 5 } })))
    expect(error.option).toBe('outbox.maxMesages')
    expect(error.message).toMatch(/did you mean "outbox.maxMessages"/)
  })

  it('without a close match, says where the options are listed', () => {
    const error = configError(() => sync(loose({ uri: 'memory://typos', zebra: 1 })))
    expect(error.option).toBe('zebra')
    expect(error.message).toMatch(/^Unknown option "zebra"\. See docs\/configuration\.md/)
  })

  it('accepts every option of every built-in adapter, whichever adapter is chosen', () => {
    const options = loose({
      uri: `memory://${uniqueKey('all')}`,
      name: 'bus',
      redisOptions: {},
      clusterOptions: {},
      sharded: false,
      amqpConnectionOptions: {},
      amqpRecovery: {},
      natsConnectionOptions: {},
      confirmPublish: true,
      includeResult: false,
      maxMessageAgeMs: 1_000,
      resumeDelayMs: 0
    })
    const app = feathers()
    apps.push(app)
    expect(() => app.configure(sync(options))).not.toThrow()
  })

  it('are refused with an adapter object too: its options never reach it, only the core reads them', () => {
    expect(configError(() => sync(loose({ adapter: noop, emitorder: 'broker' }))).message).toMatch(
      /did you mean "emitOrder"/
    )
  })

  it('are accepted when a registered adapter declares them, and reach its factory', async () => {
    const seen: unknown[] = []
    registerAdapter(
      'declared',
      (options) => {
        seen.push((options as unknown as { streamName?: unknown }).streamName)
        return noop
      },
      { optionNames: ['streamName'] }
    )
    const app = feathers()
    apps.push(app)
    app.configure(sync(loose({ uri: 'declared://x', streamName: 'orders' })))
    await app.sync.ready
    expect(seen).toEqual(['orders'])
    registerAdapter('undeclared', () => noop)
    expect(configError(() => sync(loose({ uri: 'undeclared://x', topicName: 'x' }))).option).toBe('topicName')
  })

  it('refuses optionNames that are not a list of names', () => {
    const bad = { optionNames: 'streamName' } as never
    expect(configError(() => registerAdapter('badnames', () => noop, bad)).option).toBe('optionNames')
  })
})

describe('configuring an app a second time', () => {
  const uri = () => `memory://${uniqueKey('again')}`

  it('with the same options, written differently, stays harmless', () => {
    const app = feathers()
    apps.push(app)
    const context = (ctx: HookContext) => ({ method: ctx.method })
    const first = uri()
    app.configure(sync({ uri: first, context, secrets: [Buffer.alloc(32, 1)] }))
    // Defaults spelt out, the URI as a string, an equal secret in another buffer, the same function.
    app.configure(
      sync.memory({ uri: first, key: 'feathers-sync', context, secrets: [Buffer.alloc(32, 1)], outbox: {} })
    )
    expect(app.listenerCount('sync-out')).toBe(1)
    expect(app.listenerCount('sync-in')).toBe(1)
    const plain = feathers()
    apps.push(plain)
    const address = uri()
    plain.configure(sync(address))
    plain.configure(sync({ uri: address }))
  })

  it.each([
    ['key', { key: 'other' }],
    ['includeResult', { includeResult: false }],
    ['outbox.maxMessages', { outbox: { maxMessages: 5 } }],
    ['contextParams', { contextParams: ['query', 'user'] }],
    ['context', { context: (ctx: HookContext) => ({ method: ctx.method }) }],
    ['secrets', { secrets: [Buffer.alloc(32, 2)] }]
  ])('with a different "%s" throws, naming it', (option, change) => {
    const app = feathers()
    apps.push(app)
    const base: SyncOptions = {
      uri: uri(),
      context: (ctx: HookContext) => ({ method: ctx.method }),
      secrets: [Buffer.alloc(32, 1)]
    }
    app.configure(sync(base))
    const error = configError(() => app.configure(sync({ ...base, ...change })))
    expect(error.option).toBe(option)
    expect(error.message).toBe(
      `This app already syncs with other options ("${option}" differs); configure sync once per app`
    )
  })
})

describe('core.SYNC', () => {
  it('is the SYNC symbol, on the CommonJS entry as on feathers-sync', () => {
    const entry = require('../../src/cjs') as { core: { SYNC?: symbol }; SYNC: symbol }
    const legacy = require('feathers-sync') as { core: { SYNC?: symbol } }
    expect(typeof legacy.core.SYNC).toBe('symbol')
    expect(entry.core.SYNC).toBe(SYNC)
    expect(entry.core.SYNC).toBe(entry.SYNC)
    expect(sync.core.SYNC).toBe(SYNC)
  })
})
