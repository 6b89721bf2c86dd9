import { EventEmitter } from 'node:events'
import { feathers, type Application } from '@feathersjs/feathers'
import { sync, SyncServiceEventsError, type SyncError } from '../../src/index'
import { uniqueKey, waitFor } from '../helpers/apps'

interface Instance {
  app: Application
  service: EventEmitter
  errors: SyncError[]
  heard: string[]
}

/**
 * An app whose `legacy` service was put into `app.services` as given, so its Feathers recorded nothing
 * about it: the way a service of another Feathers copy or release looks to this library.
 */
function instance(bus: string, makeService: () => EventEmitter): Instance {
  const app = feathers()
  const service = makeService()
  const errors: SyncError[] = []
  const heard: string[] = []
  ;(app.services as Record<string, unknown>).legacy = service
  app.configure(sync({ uri: `memory://${bus}` }))
  app.on('sync-error', (error: SyncError) => errors.push(error))
  for (const event of ['created', 'status', 'other']) service.on(event, () => heard.push(event))
  return { app, service, errors, heard }
}

let running: Instance[] = []
afterEach(async () => {
  await Promise.all(running.map(({ app }) => app.teardown()))
  running = []
})

describe('the events of each service', () => {
  it('reads options stored under a non-global symbol, as Feathers 5.0.0 stored them', async () => {
    const bus = uniqueKey('symbol')
    const withOptions = () =>
      Object.defineProperty(new EventEmitter(), Symbol('@feathersjs/service'), {
        value: { serviceEvents: ['status'] }
      })
    running = [instance(bus, withOptions), instance(bus, withOptions)]
    const [a, b] = running
    a.service.emit('created', { n: 1 })
    a.service.emit('status', { n: 2 })
    await waitFor(`"status" on the receiver (heard: ${b.heard.join(',')})`, () => b.heard.includes('status'))
    // The memory bus keeps order: a "created" sent before "status" would have arrived first.
    expect(b.heard).toEqual(['status'])
    expect([...a.errors, ...b.errors]).toEqual([])
  })

  it('falls back to the standard events plus service.events and reports it once per service', async () => {
    const bus = uniqueKey('fallback')
    const bare = () => Object.assign(new EventEmitter(), { events: ['status'] })
    running = [instance(bus, bare), instance(bus, bare)]
    const [a, b] = running
    for (const event of ['other', 'created', 'status', 'created']) a.service.emit(event, { event })
    await waitFor(
      `three synced events on the receiver (heard: ${b.heard.join(',')})`,
      () => b.heard.length >= 3
    )
    expect(b.heard).toEqual(['created', 'status', 'created'])
    for (const { errors } of running) {
      expect(errors).toHaveLength(1)
      expect(errors[0]).toBeInstanceOf(SyncServiceEventsError)
      expect(errors[0]).toMatchObject({
        code: 'SYNC_SERVICE_EVENTS',
        path: 'legacy',
        assumed: ['created', 'updated', 'patched', 'removed', 'status']
      })
    }
  })
})
