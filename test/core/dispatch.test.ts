/**
 * What websocket clients of other instances receive, through Feathers' real channel dispatcher:
 * resolvers' safe `dispatch` data must travel, and feathers-sync 3.x receivers must get a routable event.
 */
import { feathers, type Application } from '@feathersjs/feathers'
import { MemoryService } from '@feathersjs/memory'
import { resolve, resolveExternal } from '@feathersjs/schema'
import { channels } from '@feathersjs/transport-commons'
import { getDispatcher } from '@feathersjs/transport-commons/lib/socket/utils'
import { memoryBus, sync, type Payload, type SyncOptions } from '../../src/index'
import { uniqueKey, waitFor } from '../helpers/apps'

type Sent = [eventName: string, data: unknown]

/** Gives an app one fake realtime connection in a published channel, and records what it is sent. */
function withClient(app: Application): Sent[] {
  const sent: Sent[] = []
  const connection = {}
  const socket = { emit: (eventName: string, data: unknown) => void sent.push([eventName, data]) }
  app.configure(channels())
  app.on('publish', getDispatcher('emit', new WeakMap([[connection, socket]])))
  app.channel('everyone').join(connection)
  app.publish(() => app.channel('everyone'))
  return sent
}

function usersApp(options: SyncOptions, protect: boolean) {
  const app = feathers()
  const sent = withClient(app)
  app.configure(sync(options))
  app.use('users', new MemoryService({}))
  if (protect) {
    app
      .service('users')
      .hooks({ around: { all: [resolveExternal(resolve({ password: async () => undefined }))] } })
  }
  return { app, sent }
}

/** A feathers-sync 3.x instance on the same memory bus and channel. */
function feathersSyncApp(bus: string, key: string) {
  const { core } = require('feathers-sync') as { core: (app: Application) => void }
  const app = feathers()
  const sent = withClient(app)
  app.configure(core)
  ;(app as unknown as { sync: object }).sync = {
    type: 'memory',
    ready: Promise.resolve(),
    serialize: JSON.stringify,
    deserialize: (payload: Payload) => JSON.parse(Buffer.from(payload as string).toString())
  }
  app.on('sync-out', (payload: Payload) => memoryBus(bus).publish(key, payload))
  memoryBus(bus).subscribe(key, (payload) => app.emit('sync-in', payload))
  app.use('users', new MemoryService({}))
  return { app, sent }
}

const apps: Application[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.teardown()))
})

describe("other instances' websocket clients", () => {
  it("get the resolvers' safe data, never the raw record", async () => {
    const name = uniqueKey('dispatch')
    const sender = usersApp({ uri: `memory://${name}` }, true)
    const receiver = usersApp({ uri: `memory://${name}` }, true)
    apps.push(sender.app, receiver.app)
    await sender.app.service('users').create({ email: 'ada@example.com', password: 'hash' })
    await waitFor('the remote client event', () => receiver.sent.length === 1)
    expect(sender.sent).toEqual([['users created', { email: 'ada@example.com', id: 0 }]])
    expect(receiver.sent).toEqual(sender.sent)
  })

  it('of a feathers-sync 3.x instance get a routable event with the safe data', async () => {
    const name = uniqueKey('fs-dispatch')
    const sender = usersApp({ uri: `memory://${name}`, key: 'mixed' }, true)
    const legacy = feathersSyncApp(name, 'mixed')
    apps.push(sender.app)
    await sender.app.service('users').create({ email: 'bob@example.com', password: 'hash' })
    await waitFor('the legacy client event', () => legacy.sent.length === 1)
    expect(legacy.sent).toEqual([['users created', { email: 'bob@example.com', id: 0 }]])
  })

  it('of a feathers-sync 3.x instance get the data of services without resolvers, by default', async () => {
    const name = uniqueKey('fs-result')
    const sender = usersApp({ uri: `memory://${name}`, key: 'mixed' }, false)
    const legacy = feathersSyncApp(name, 'mixed')
    apps.push(sender.app)
    await sender.app.service('users').create({ email: 'eve@example.com' })
    await waitFor('the legacy client event', () => legacy.sent.length === 1)
    expect(legacy.sent).toEqual([['users created', { email: 'eve@example.com', id: 0 }]])
  })

  it('of a feathers-sync 3.x instance get no data with includeResult: false (for fully upgraded fleets)', async () => {
    const name = uniqueKey('fs-lean')
    const sender = usersApp({ uri: `memory://${name}`, key: 'mixed', includeResult: false }, false)
    const legacy = feathersSyncApp(name, 'mixed')
    apps.push(sender.app)
    await sender.app.service('users').create({ email: 'lean@example.com' })
    await waitFor('the legacy client event', () => legacy.sent.length === 1)
    expect(legacy.sent).toEqual([['users created', undefined]])
  })

  it('of our instances get the data once: the remote context.result is the event data itself', async () => {
    const name = uniqueKey('one-copy')
    const sender = usersApp({ uri: `memory://${name}` }, false)
    const receiver = usersApp({ uri: `memory://${name}` }, false)
    apps.push(sender.app, receiver.app)
    const remote: { data: unknown; result: unknown }[] = []
    receiver.app
      .service('users')
      .on('created', (data: unknown, context: { result: unknown }) =>
        remote.push({ data, result: context.result })
      )
    await sender.app.service('users').create({ email: 'once@example.com' })
    await waitFor('the remote event', () => remote.length === 1 && receiver.sent.length === 1)
    // The message carried the record twice (data and context.result); the receiver keeps one copy.
    expect(remote[0].result).toBe(remote[0].data)
    expect(receiver.sent).toEqual([['users created', { email: 'once@example.com', id: 0 }]])
  })

  it('of our instances get events from feathers-sync 3.x instances', async () => {
    const name = uniqueKey('fs-in')
    const receiver = usersApp({ uri: `memory://${name}`, key: 'mixed' }, false)
    const legacy = feathersSyncApp(name, 'mixed')
    apps.push(receiver.app)
    await legacy.app.service('users').create({ email: 'old@example.com' })
    await waitFor('the client event', () => receiver.sent.length === 1)
    expect(receiver.sent).toEqual([['users created', { email: 'old@example.com', id: 0 }]])
  })
})
