/**
 * The Fastify plugin with no topic declared (its own program, so that test/types/fastify.ts's
 * declarations do not apply): any topic name is accepted, and data is `unknown` until narrowed.
 */
import Fastify from 'fastify'
import { fanout } from '../../../src/fastify'

const app = Fastify()
void app.register(fanout, { uri: 'nats://127.0.0.1:4222', emitOrder: 'broker' })

app.fanout.publish('anything.at.all', { free: 'form' })
app.fanout.subscribe('anything.at.all', (data, meta) => {
  const topic: string = meta.topic
  void topic
  // @ts-expect-error: undeclared data is unknown until narrowed
  void data.free
})

// @ts-expect-error: a topic is a string
app.fanout.publish(42, {})

app.fanout.subscribe(
  'anything.at.all',
  (data, meta) => {
    const key: string = meta.idempotencyKey
    void key
    // @ts-expect-error: undeclared data is unknown in a group handler too
    void data.free
  },
  { group: 'workers' }
)
