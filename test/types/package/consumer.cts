// A CommonJS consumer of the built package, resolved through package.json `exports` (test/package.test.ts).
import Fastify from 'fastify'
import fanout, { fanout as named, type FanoutOptions } from 'feathers-fanout/fastify'

declare module 'feathers-fanout/fastify' {
  interface FanoutTopics {
    'user.state': { id: string; state: string }
  }
}

const options: FanoutOptions = { uri: 'redis://127.0.0.1:6379' }
const app = Fastify()
void app.register(fanout, options)
void app.register(named, options)
app.fanout.publish('user.state', { id: 'u1', state: 'active' })
// @ts-expect-error: an undeclared topic
app.fanout.publish('user.stat', { id: 'u1', state: 'active' })
