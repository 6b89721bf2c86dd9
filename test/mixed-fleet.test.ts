/**
 * A rolling upgrade on default options, seen by real socket.io clients: an instance of this library and
 * a feathers-sync 3.1.1 instance on the same channel of each broker, each with a websocket client. The
 * old instance's clients get the data of our events (feathers-sync dispatches `context.result`, which we
 * send by default), and our clients get the data of its events.
 */
import {
  brokerUrl,
  closeLegacy,
  connectClient,
  legacyPlugin,
  startServer,
  untilHeard,
  type Broker,
  type SocketClient,
  type SocketServer
} from './helpers/socket-fleet'
import { uniqueKey, waitFor } from './helpers/apps'
import { sync } from '../src/index'

describe.each<Broker>(['redis', 'amqp', 'nats'])('a mixed fleet on %s with default options', (broker) => {
  let ours: SocketServer
  let legacy: SocketServer
  let ourClient: SocketClient
  let legacyClient: SocketClient

  beforeEach(async () => {
    const key = uniqueKey(`mixed-${broker}`)
    legacy = await startServer(legacyPlugin(broker, key))
    // Every default: only the address and the channel shared with feathers-sync.
    ours = await startServer(sync({ uri: brokerUrl(broker), key }))
    await ours.app.sync.ready
    ourClient = await connectClient(ours.url)
    legacyClient = await connectClient(legacy.url)
    await untilHeard(ours.app, legacy)
    await untilHeard(legacy.app, ours)
  })

  afterEach(async () => {
    ourClient?.socket.close()
    legacyClient?.socket.close()
    await ours?.app.teardown()
    if (legacy) {
      await closeLegacy(legacy.app)
      await legacy.app.teardown()
    }
  })

  it("the feathers-sync instance's websocket client gets the data of our created and patched events", async () => {
    const marker = uniqueKey('from-ours')
    const item = await ours.app.service('todos').create({ marker, text: 'new' })
    await ours.app.service('todos').patch(item.id, { text: 'edited' })
    const what = () =>
      `feathers-sync client got ${JSON.stringify(legacyClient.got.filter((g) => g.event !== 'status'))}`
    await waitFor('both events at the feathers-sync client', () => {
      const events = legacyClient.got.filter((g) => g.event === 'created' || g.event === 'patched')
      return events.length >= 2
    }).catch((error: Error) => {
      throw new Error(`${error.message}; ${what()}`)
    })
    expect(legacyClient.got.filter((g) => g.event !== 'status')).toEqual([
      { event: 'created', data: { marker, text: 'new', id: item.id } },
      { event: 'patched', data: { marker, text: 'edited', id: item.id } }
    ])
    // Our own client got the same, once each.
    await waitFor('both events at our client', () => ourClient.seen('patched', marker).length === 1)
    expect(ourClient.seen('created', marker)).toEqual([{ marker, text: 'new', id: item.id }])
  })

  it("our instance's websocket client gets the data of the feathers-sync instance's events", async () => {
    const marker = uniqueKey('from-legacy')
    const item = await legacy.app.service('todos').create({ marker, text: 'old' })
    await legacy.app.service('todos').patch(item.id, { text: 'edited' })
    await waitFor('both events at our client', () => ourClient.seen('patched', marker).length === 1)
    expect(ourClient.seen('created', marker)).toEqual([{ marker, text: 'old', id: item.id }])
    expect(ourClient.seen('patched', marker)).toEqual([{ marker, text: 'edited', id: item.id }])
    expect(ours.app.sync.stats().dropped).toMatchObject({ undecodable: 0, shape: 0, unknownEvent: 0 })
  })
})
