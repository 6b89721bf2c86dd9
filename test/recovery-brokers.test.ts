/**
 * Client recovery through real brokers: 3 Koa + socket.io instances in durable mode, Feathers socket.io
 * clients in two rooms; one client is cut off for about 5 s while 100 events are created across the
 * instances, then its socket reconnects through the balancer to another instance.
 */
import { expectExactDelivery, outage, startFleet, type Running } from './helpers/recovery-scenario'

const BROKERS = [
  { name: 'redis', env: 'FANOUT_REDIS_URL', outageMs: 5_000 },
  { name: 'nats', env: 'FANOUT_NATS_URL', outageMs: 5_000 },
  { name: 'rabbitmq', env: 'FANOUT_AMQP_URL', outageMs: 2_000 }
].filter(({ env }) => process.env[env] !== undefined)

let fleet: Running | undefined
afterEach(async () => {
  await fleet?.close()
  fleet = undefined
})

describe.each(BROKERS)('client recovery through $name', ({ env, outageMs }) => {
  it('gives the moved client exactly the events of its room, once, in order, and the others theirs', async () => {
    fleet = await startFleet({ uri: process.env[env] as string, durable: true, recovery: true })
    await outage(fleet, 100, outageMs)
    await expectExactDelivery(fleet)
    expect(fleet.away.app.recovery.replayed).toBeGreaterThan(40)
  }, 60_000)
})
