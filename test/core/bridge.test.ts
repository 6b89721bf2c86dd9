import { EventEmitter } from 'node:events'
import { feathers, type Application } from '@feathersjs/feathers'
import { MemoryService } from '@feathersjs/memory'
import {
  core,
  memoryBus,
  sync,
  SyncConnectionError,
  SyncDeliveryError,
  SyncOutboxOverflowError,
  type Adapter,
  type AdapterHooks,
  type Payload,
  type SyncError,
  type SyncStatusEvent
} from '../../src/index'
import { createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from '../helpers/apps'

let fleet: TestApp[] = []
afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
})

describe('the bridge between service events and the channel', () => {
  it('syncs services registered before the plugin was configured', async () => {
    const name = uniqueKey('early')
    const apps = [feathers(), feathers()]
    for (const app of apps) {
      app.use('early', new MemoryService({}))
      app.configure(sync({ uri: `memory://${name}` }))
    }
    const seen: unknown[] = []
    apps[1].service('early').on('created', (data: unknown) => seen.push(data))
    await apps[0].service('early').create({ text: 'before' })
    await waitFor('the early service event', () => seen.length === 1)
    await Promise.all(apps.map((app) => app.teardown()))
  })

  it('leaves events that are not service events local and untouched', async () => {
    fleet = await createFleet(2, { uri: `memory://${uniqueKey('plain')}` })
    const [sender, receiver] = fleet
    const heard: unknown[] = []
    receiver.app.service('todos').on('not-declared', (data: unknown) => heard.push(data))
    sender.app.service('todos').emit('not-declared', { x: 1 })
    await sender.app.service('todos').create({ marker: 'after' })
    await waitFor('the later event', () => receiver.seen('created', 'after').length === 1)
    expect(heard).toHaveLength(0)
    expect(sender.app.sync.stats().published).toBe(1)
  })

  it('accepts messages written by feathers-sync 3.x and marks their origin as unknown', async () => {
    const key = uniqueKey('legacy')
    fleet = await createFleet(1, { uri: 'memory://legacy', key })
    const legacy = {
      event: 'created',
      path: 'todos',
      data: { marker: 'old' },
      context: { params: { provider: 'rest' }, method: 'create' }
    }
    memoryBus('legacy').publish(key, JSON.stringify(legacy))
    await waitFor('the legacy event', () => fleet[0].seen('created', 'old').length === 1)
    const [event] = fleet[0].seen('created', 'old')
    expect(event.context.remote).toEqual({ instanceId: null, messageId: null })
    expect(event.context.params).toEqual({ provider: 'rest' })
  })

  it('delivers a message that arrives twice only once, and counts the duplicate', async () => {
    const key = uniqueKey('dup')
    fleet = await createFleet(1, { uri: 'memory://dup', key })
    const message = JSON.stringify({
      event: 'created',
      path: 'todos',
      data: { marker: 'twice' },
      context: null,
      v: 1,
      sender: 'peer',
      id: 9
    })
    memoryBus('dup').publish(key, message)
    memoryBus('dup').publish(key, Buffer.from(message))
    await waitFor('both copies to arrive', () => fleet[0].app.sync.stats().received === 2)
    expect(fleet[0].seen('created', 'twice')).toHaveLength(1)
    expect(fleet[0].app.sync.stats().dropped.duplicate).toBe(1)
  })

  it('reports a listener that throws on a remote event instead of throwing into the broker', async () => {
    fleet = await createFleet(2, { uri: `memory://${uniqueKey('throws')}` })
    const [sender, receiver] = fleet
    receiver.app.service('todos').on('created', () => {
      throw new Error('listener bug')
    })
    await sender.app.service('todos').create({ marker: 'boom' })
    await waitFor('the delivery error', () => receiver.errors.length === 1)
    expect(receiver.errors[0]).toBeInstanceOf(SyncDeliveryError)
  })
})

describe('listeners of the library events', () => {
  it('cannot crash the process by throwing from sync-error or sync-status', async () => {
    const name = uniqueKey('throwing-listeners')
    fleet = await createFleet(1, { uri: `memory://${name}`, key: 'k' })
    const { app } = fleet[0]
    app.on('sync-error', () => {
      throw new Error('sync-error listener bug')
    })
    app.on('sync-status', () => {
      throw new Error('sync-status listener bug')
    })
    // Both are emitted from inside the bus's delivery and status callbacks.
    memoryBus(name).publish('k', 'garbage')
    memoryBus(name).goOffline()
    memoryBus(name).goOnline()
    await waitFor('the garbage to be counted', () => app.sync.stats().dropped.undecodable === 1)
    expect(app.sync.status).toBe('ready')
  })
})

describe('the outbox while the broker is away', () => {
  it('queues while offline, delivers locally at once, and flushes in order on reconnect', async () => {
    const name = uniqueKey('outage')
    fleet = await createFleet(2, { uri: `memory://${name}` })
    const [sender, receiver] = fleet
    const statuses: SyncStatusEvent[] = []
    sender.app.on('sync-status', (event: SyncStatusEvent) => statuses.push(event))
    memoryBus(name).goOffline()
    for (let i = 0; i < 5; i++) await sender.app.service('todos').create({ marker: `m${i}` })
    expect(sender.received).toHaveLength(5)
    expect(sender.app.sync.status).toBe('reconnecting')
    expect(sender.app.sync.stats().outbox.messages).toBe(5)
    expect(receiver.received).toHaveLength(0)
    memoryBus(name).goOnline()
    await waitFor('the queued events', () => receiver.received.length === 5)
    expect(receiver.received.map((r) => r.data.marker)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4'])
    expect(sender.app.sync.stats()).toMatchObject({ reconnects: 1, outbox: { messages: 0, bytes: 0 } })
    expect(statuses.map((s) => s.status)).toEqual(['reconnecting', 'ready'])
    expect(statuses[0].cause?.message).toMatch(/offline/)
  })

  it('drops the oldest messages past its limit, counts and reports them', async () => {
    const name = uniqueKey('overflow')
    fleet = await createFleet(2, { uri: `memory://${name}`, outbox: { maxMessages: 3 } })
    const [sender, receiver] = fleet
    memoryBus(name).goOffline()
    for (let i = 0; i < 5; i++) await sender.app.service('todos').create({ marker: `o${i}` })
    expect(sender.app.sync.stats().dropped.outboxOverflow).toBe(2)
    expect(sender.errors.filter((e) => e instanceof SyncOutboxOverflowError)).toHaveLength(1)
    memoryBus(name).goOnline()
    await waitFor('the kept events', () => receiver.received.length === 3)
    expect(receiver.received.map((r) => r.data.marker)).toEqual(['o2', 'o3', 'o4'])
  })

  it('counts what is still queued at close as unsent', async () => {
    const name = uniqueKey('unsent')
    fleet = await createFleet(1, { uri: `memory://${name}`, closeTimeoutMs: 50 })
    memoryBus(name).goOffline()
    await fleet[0].app.service('todos').create({ marker: 'stuck' })
    await fleet[0].app.sync.close()
    expect(fleet[0].app.sync.stats().dropped.unsent).toBe(1)
    memoryBus(name).goOnline()
  })
})

/** An adapter whose behaviour a test controls, to reach branches a real broker cannot. */
function scriptedAdapter(script: Partial<Adapter>): Adapter {
  return {
    type: 'scripted',
    target: '127.0.0.1:1',
    connect: async () => undefined,
    subscribe: async () => undefined,
    publish: () => undefined,
    close: async () => undefined,
    ...script
  }
}

describe('readiness and shutdown', () => {
  it('rejects ready with a typed error naming the target when the broker never answers, without an unhandled rejection', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    const app = feathers()
    const errors: SyncError[] = []
    app.on('sync-error', (error: SyncError) => errors.push(error))
    app.configure(
      sync({
        adapter: scriptedAdapter({ connect: () => new Promise(() => undefined) }),
        connectTimeoutMs: 50
      })
    )
    await expect(app.sync.ready).rejects.toThrow(SyncConnectionError)
    await expect(app.sync.ready).rejects.toThrow('Could not connect to scripted at 127.0.0.1:1 within 50 ms')
    expect(errors[0]).toBeInstanceOf(SyncConnectionError)
    await new Promise((resolve) => setImmediate(resolve))
    process.off('unhandledRejection', onUnhandled)
    expect(unhandled).toEqual([])
    await app.teardown()
  })

  it('waits on close for publishes the driver has not confirmed yet', async () => {
    let confirm: () => void = () => undefined
    const closed: string[] = []
    const adapter = scriptedAdapter({
      publish: () => new Promise<void>((resolve) => (confirm = resolve)),
      close: async () => void closed.push('adapter')
    })
    const app = feathers()
    app.configure(sync({ adapter }))
    app.use('todos', new MemoryService({}))
    await app.sync.ready
    await app.service('todos').create({})
    const closing = app.teardown().then(() => closed.push('teardown'))
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(closed).toEqual([])
    confirm()
    await closing
    expect(closed).toEqual(['adapter', 'teardown'])
    expect(app.sync.status).toBe('closed')
    expect(app.listenerCount('sync-out')).toBe(0)
  })

  it('reports status changes as sync-status events', async () => {
    const statuses: string[] = []
    const app = feathers()
    app.on('sync-status', (event: SyncStatusEvent) => statuses.push(`${event.previous}>${event.status}`))
    app.configure(sync({ uri: `memory://${uniqueKey('status')}` }))
    await app.sync.ready
    await app.teardown()
    expect(statuses).toEqual(['connecting>ready', 'ready>closing', 'closing>closed'])
  })
})

describe('custom adapters written the feathers-sync way', () => {
  /** A toy broker: every app's sync-out goes to every app's sync-in. */
  function customApp(broker: EventEmitter): Application {
    const app = feathers()
    app.configure(core)
    app.sync = {
      type: 'custom',
      ready: Promise.resolve(),
      serialize: JSON.stringify,
      deserialize: JSON.parse
    }
    app.on('sync-out', (data: Payload) => broker.emit('message', data))
    broker.on('message', (data: Payload) => app.emit('sync-in', data))
    app.use('todos', new MemoryService({}))
    return app
  }

  it('syncs apps exactly once each and gives them status and stats', async () => {
    const broker = new EventEmitter()
    const [a, b] = [customApp(broker), customApp(broker)]
    const seenA: unknown[] = []
    const seenB: unknown[] = []
    a.service('todos').on('created', (data: unknown) => seenA.push(data))
    b.service('todos').on('created', (data: unknown) => seenB.push(data))
    await a.sync.ready
    await a.service('todos').create({ text: 'custom' })
    expect(seenA).toHaveLength(1)
    expect(seenB).toHaveLength(1)
    expect(a.sync.type).toBe('custom')
    expect(a.sync.status).toBe('ready')
    expect(a.sync.stats()).toMatchObject({ published: 1, received: 1, dropped: { ownEcho: 1 } })
    expect(b.sync.stats()).toMatchObject({ received: 1, delivered: 1 })
  })

  it('stops syncing an app whose sync is closed', async () => {
    const broker = new EventEmitter()
    const [a, b] = [customApp(broker), customApp(broker)]
    const seenB: unknown[] = []
    b.service('todos').on('created', (data: unknown) => seenB.push(data))
    await a.sync.close()
    await a.service('todos').create({ text: 'after close' })
    expect(a.sync.status).toBe('closed')
    expect(seenB).toHaveLength(0)
  })
})

describe('readiness of a script', () => {
  it('keeps the process alive until ready settles, and close ends the wait', async () => {
    const app = feathers()
    app.configure(sync({ adapter: scriptedAdapter({ connect: () => new Promise(() => undefined) }) }))
    const handles = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length
    const before = handles()
    await app.sync.close()
    await expect(app.sync.ready).rejects.toThrow('Closed before the scripted connection was ready')
    expect(handles()).toBeLessThan(before)
  })
})

describe('publishes that fail on a lost connection', () => {
  it('are sent again in their original order, before newer messages, whatever order the driver rejects them in', async () => {
    let hooks: AdapterHooks | undefined
    const pending: { payload: Payload; reject: (error: Error) => void }[] = []
    const delivered: string[] = []
    // Until the connection is lost, the driver takes messages but never confirms them.
    let confirming = false
    const adapter = scriptedAdapter({
      connect: async (adapterHooks) => void (hooks = adapterHooks),
      publish: (payload) => {
        if (confirming) return Promise.resolve(void delivered.push(String(payload)))
        return new Promise<void>((_, reject) => pending.push({ payload, reject }))
      }
    })
    const app = feathers()
    app.configure(sync({ adapter, resumeDelayMs: 1 }))
    app.use('todos', new MemoryService({}))
    await app.sync.ready
    for (let i = 0; i < 200; i++) await app.service('todos').create({ n: i })
    hooks?.status('reconnecting', new Error('gone'))
    // The driver fails the unconfirmed batch newest first, as amqplib and nats do.
    for (const { reject } of pending.reverse()) reject(new Error('connection lost'))
    await new Promise((resolve) => setImmediate(resolve))
    await app.service('todos').create({ n: 200 })
    expect(app.sync.stats().outbox.messages).toBe(201)
    confirming = true
    hooks?.status('ready')
    await waitFor('every message to be sent again', () => delivered.length === 201)
    expect(delivered.map((payload) => JSON.parse(payload).data.n)).toEqual(
      Array.from({ length: 201 }, (_, i) => i)
    )
    await app.teardown()
  })
})

describe('closing', () => {
  it('keeps the status at closing while the drain waits, even if the connection comes and goes', async () => {
    let hooks: AdapterHooks | undefined
    let confirm: () => void = () => undefined
    const adapter = scriptedAdapter({
      connect: async (adapterHooks) => void (hooks = adapterHooks),
      publish: () => new Promise<void>((resolve) => (confirm = resolve))
    })
    const statuses: string[] = []
    const app = feathers()
    app.on('sync-status', (event: SyncStatusEvent) => statuses.push(event.status))
    app.configure(sync({ adapter }))
    app.use('todos', new MemoryService({}))
    await app.sync.ready
    await app.service('todos').create({})
    const closing = app.sync.close()
    hooks?.status('reconnecting', new Error('blip'))
    hooks?.status('ready')
    confirm()
    await closing
    expect(statuses).toEqual(['ready', 'closing', 'closed'])
  })
})
