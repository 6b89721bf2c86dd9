import { feathers, type HookContext } from '@feathersjs/feathers'
import { MemoryService } from '@feathersjs/memory'
import {
  sanitize,
  sync,
  SyncSerializationError,
  travellingContext,
  type Payload,
  type SyncError,
  type SyncOptions
} from '../../src/index'
import { uniqueKey } from '../helpers/apps'

/** An app whose published payloads are captured as text. */
function capturingApp(options: SyncOptions = {}) {
  const app = feathers()
  const payloads: string[] = []
  const errors: SyncError[] = []
  app.configure(sync({ uri: `memory://${uniqueKey('ctx')}`, ...options }))
  app.on('sync-out', (payload: Payload) => payloads.push(String(payload)))
  app.on('sync-error', (error: SyncError) => errors.push(error))
  app.use('users', new MemoryService({}))
  return { app, payloads, errors }
}

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl'

describe('what travels with an event', () => {
  it('never sends credentials, headers, the connection or the user by default', async () => {
    const { app, payloads } = capturingApp()
    const params = {
      provider: 'socketio',
      query: { archived: false },
      authentication: { strategy: 'jwt', accessToken: JWT },
      headers: { authorization: `Bearer ${JWT}`, cookie: 'session=abc' },
      connection: { authentication: { accessToken: JWT }, socket: {} },
      user: { id: 1, password: 'hash' }
    }
    await app.service('users').create({ name: 'ada' }, params)
    expect(payloads).toHaveLength(1)
    const [payload] = payloads
    for (const secret of [JWT, 'authorization', 'cookie', 'session=abc', 'password', 'connection']) {
      expect(payload).not.toContain(secret)
    }
    expect(JSON.parse(payload).context).toEqual({
      method: 'create',
      type: 'around',
      path: 'users',
      event: 'created',
      params: { provider: 'socketio', query: { archived: false } },
      // What feathers-sync 3.x receivers dispatch to their clients (includeResult, on by default).
      result: { id: 0, name: 'ada' }
    })
  })

  it('sends the params named in contextParams, made JSON-safe', async () => {
    const { app, payloads } = capturingApp({ contextParams: ['user'] })
    await app.service('users').create({ name: 'ada' }, { user: { id: 7, greet: () => 'hi' } } as never)
    expect(JSON.parse(payloads[0]).context.params).toEqual({ user: { id: 7 } })
  })

  it('lets a context builder choose exactly what travels', async () => {
    const context = (ctx: HookContext) => ({ method: ctx.method, tenant: ctx.params.tenant })
    const { app, payloads } = capturingApp({ context })
    await app.service('users').create({ name: 'ada' }, { tenant: 'acme' } as never)
    expect(JSON.parse(payloads[0]).context).toEqual({
      method: 'create',
      tenant: 'acme',
      path: 'users',
      event: 'created',
      result: { id: 0, name: 'ada' }
    })
  })

  it('keeps the call and the local event when the data cannot be serialized, and reports it', async () => {
    const { app, payloads, errors } = capturingApp()
    const local: unknown[] = []
    app.service('users').on('created', (data: unknown) => local.push(data))
    const circular: Record<string, unknown> = { name: 'loop' }
    circular.self = circular
    // The memory service clones its result, so emit the circular value as a custom event would.
    app.service('users').emit('created', circular, { method: 'create', params: {} })
    await expect(app.service('users').create({ name: 'fine' })).resolves.toMatchObject({ name: 'fine' })
    expect(local).toHaveLength(2)
    expect(payloads).toHaveLength(1)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(SyncSerializationError)
    expect(errors[0].message).toContain('"created" of service "users"')
    expect(app.sync.stats().dropped.serializeFailed).toBe(1)
  })

  it('treats a context builder that returns something other than an object like a serialize failure', async () => {
    const { app, payloads, errors } = capturingApp({ context: () => 'params' as never })
    await app.service('users').create({ name: 'x' })
    expect(payloads).toHaveLength(0)
    expect(errors[0]).toBeInstanceOf(SyncSerializationError)
    expect((errors[0].cause as Error).message).toMatch(/must return an object or null, got string/)
  })

  it('treats a throwing context builder like a serialize failure', async () => {
    const { app, errors } = capturingApp({
      context: () => {
        throw new Error('builder bug')
      }
    })
    await app.service('users').create({ name: 'x' })
    expect(errors[0]).toBeInstanceOf(SyncSerializationError)
    expect((errors[0].cause as Error).message).toBe('builder bug')
  })
})

describe('sanitize', () => {
  class Socket {
    write() {}
  }
  class WithJson {
    toJSON() {
      return { kind: 'json' }
    }
  }

  it('keeps plain data, Dates, bytes and BSON values', () => {
    const at = new Date()
    const bytes = Buffer.from('x')
    const objectId = { _bsontype: 'ObjectId', id: 'x' }
    expect(sanitize({ a: 1, b: 'two', c: [true, null], at, bytes, objectId })).toEqual({
      a: 1,
      b: 'two',
      c: [true, null],
      at,
      bytes,
      objectId
    })
  })

  it('drops functions, symbols, bigints, class instances and circular references', () => {
    const value: Record<string, unknown> = {
      keep: 1,
      fn: () => 1,
      sym: Symbol('s'),
      big: 1n,
      socket: new Socket()
    }
    value.self = value
    expect(sanitize(value)).toEqual({ keep: 1 })
    expect(sanitize([1, () => 1, 3])).toEqual([1, null, 3])
  })

  it('uses toJSON for class instances that have one, and turns NaN into null', () => {
    expect(sanitize({ w: new WithJson(), n: Number.NaN })).toEqual({ w: { kind: 'json' }, n: null })
  })

  it('stops at a depth limit instead of overflowing the stack', () => {
    let deep: Record<string, unknown> = {}
    const root = deep
    for (let i = 0; i < 10_000; i++) deep = deep.next = {}
    expect(() => sanitize(root)).not.toThrow()
  })

  it('builds the default context from a hook context', () => {
    const context = { method: 'patch', type: 'around', id: 3, params: { query: { a: 1 }, headers: {} } }
    expect(travellingContext(context as unknown as HookContext, ['query'])).toEqual({
      method: 'patch',
      type: 'around',
      id: 3,
      params: { query: { a: 1 } }
    })
  })
})
