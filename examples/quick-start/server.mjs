// server.mjs: one instance of a Feathers app whose service events reach every other instance.
// Run it twice, e.g. `node server.mjs 3030` and `node server.mjs 3031`, next to a Redis server.
import { feathers } from '@feathersjs/feathers'
import { bodyParser, errorHandler, koa, rest } from '@feathersjs/koa'
import { MemoryService } from '@feathersjs/memory'
import socketio from '@feathersjs/socketio'
import sync from 'feathers-fanout'

const port = Number(process.argv[2] ?? 3030)
const uri = process.argv[3] ?? 'redis://127.0.0.1:6379'

const app = koa(feathers())
app.use(errorHandler())
app.use(bodyParser())
app.configure(rest())
app.configure(socketio())
app.configure(sync(uri))

app.use('messages', new MemoryService())
app.service('messages').on('created', (message) => {
  console.log(`[${port}] created ${JSON.stringify(message)}`)
})

// Every websocket client hears every event, whichever instance handled the call.
app.on('connection', (connection) => app.channel('everyone').join(connection))
app.publish(() => app.channel('everyone'))

// A broker that is down never ends the process: `ready` rejects after 10 s, the library keeps
// retrying, and events stay local until it is back.
app.on('sync-error', (error) => console.error(`[${port}] ${error.code}: ${error.message}`))
app.sync.ready.then(
  () => console.log(`[${port}] synced through ${app.sync.type}`),
  (error) => console.error(`[${port}] not synced yet (${error.message}); retrying`)
)

await app.listen(port)
console.log(`[${port}] listening on http://localhost:${port}`)
