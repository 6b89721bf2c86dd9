// An ES module consumer of the built package, resolved through package.json `exports` (test/package.test.ts).
import Fastify from 'fastify'
import fanout, { SyncConfigError, fanout as named, type FanoutOptions } from 'feathers-fanout/fastify'

const options: FanoutOptions = { uri: 'nats://127.0.0.1:4222', durable: true }
const app = Fastify()
await app.register(fanout, options)
await app.register(named, options)
app.fanout.subscribe('user.state', (data, meta) => void [data.state, meta.sender])
export const error: SyncConfigError = new SyncConfigError('uri', 'bad')
// @ts-expect-error: state is a string
app.fanout.publish('user.state', { id: 'u1', state: 1 })
