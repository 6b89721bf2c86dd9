import { EventEmitter } from 'node:events'
import { feathers } from '@feathersjs/feathers'
import { sync } from '../../src/index'
import { uniqueKey, waitFor } from '../helpers/apps'

describe('debug output', () => {
  it("goes through the app's Feathers, so feathers.setDebug turns it on", async () => {
    const lines: string[] = []
    feathers.setDebug(
      (name: string) =>
        (...args: unknown[]) =>
          lines.push(`${name} ${String(args[0])}`)
    )
    const app = feathers()
    try {
      // A service Feathers recorded nothing about: the core reports it, and every report is debug output.
      ;(app.services as Record<string, unknown>).bare = new EventEmitter()
      app.configure(sync({ uri: `memory://${uniqueKey('debug')}` }))
      await waitFor(`a feathers-fanout/bus line (got: ${lines.join(' | ')})`, () =>
        lines.some((line) => line.startsWith('feathers-fanout/bus SyncServiceEventsError'))
      )
    } finally {
      feathers.setDebug(() => () => {})
      await app.teardown()
    }
  })
})
