/**
 * Three Feathers apps in one process, kept in sync by the in-memory adapter.
 * Run: npm run example
 */
import { feathers } from '@feathersjs/feathers'
import { MemoryService } from '@feathersjs/memory'
import sync from '../src/index'

async function main(): Promise<void> {
  const apps = ['alpha', 'beta', 'gamma'].map((name) => {
    const app = feathers()
    app.configure(sync({ uri: 'memory://example' }))
    app.use('messages', new MemoryService({}))
    app.service('messages').on('created', (message: { text: string }, context: { remote?: unknown }) => {
      const origin = context.remote ? 'from another instance' : 'local'
      console.log(`${name.padEnd(6)} got "${message.text}" (${origin})`)
    })
    return app
  })
  await Promise.all(apps.map((app) => app.sync.ready))
  await apps[0].service('messages').create({ text: 'hello from alpha' })
  await apps[2].service('messages').create({ text: 'and hello from gamma' })
  // Deliveries are asynchronous, like a broker's; give them a turn of the event loop.
  await new Promise((resolve) => setImmediate(resolve))
  for (const [i, app] of apps.entries()) {
    const { published, delivered } = app.sync.stats()
    console.log(`app ${i}: published ${published}, received from others ${delivered}`)
  }
  await Promise.all(apps.map((app) => app.teardown()))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
