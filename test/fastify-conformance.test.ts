/**
 * The conformance suite through `fastify.fanout` (test/fastify-conformance.ts) on memory, and on the
 * test run's Redis and NATS.
 */
import { fanoutConformanceSuite } from './fastify-conformance'

fanoutConformanceSuite({
  name: 'memory',
  options: (key) => ({ uri: 'memory://fastify-conformance', key }),
  durable: true
})

for (const [name, url] of [
  ['redis', process.env.FANOUT_REDIS_URL],
  ['nats', process.env.FANOUT_NATS_URL]
] as const) {
  if (url) fanoutConformanceSuite({ name, options: (key) => ({ uri: url, key }), durable: true })
}
