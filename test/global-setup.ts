/**
 * Jest globalSetup: starts the brokers shared by all test files, once per run, in parallel.
 *
 * - FANOUT_BROKERS: comma list of redis,nats,rabbitmq (default: all three) or `none`.
 * - A broker whose FANOUT_REDIS_URL / FANOUT_NATS_URL / FANOUT_AMQP_URL is already set is used as is.
 * - URLs reach the test workers through process.env (workers are forked after this runs and inherit it).
 *   A test needing a broker that was not requested should skip when its URL is unset.
 *
 * The shared brokers must stay up for the whole run: tests that kill, pause or restart a broker start
 * their OWN with startRedis/startNats/startRabbitMq from ./brokers and stop it themselves.
 */
import { startNats, startRabbitMq, startRedis, type BrokerHandle, type BrokerKind } from './brokers'

export const URL_ENV: Record<BrokerKind, string> = {
  redis: 'FANOUT_REDIS_URL',
  nats: 'FANOUT_NATS_URL',
  rabbitmq: 'FANOUT_AMQP_URL'
}

const STARTERS: Record<BrokerKind, () => Promise<BrokerHandle>> = {
  redis: () => startRedis(),
  nats: () => startNats({ jetstream: true }),
  rabbitmq: () => startRabbitMq()
}

const KINDS = Object.keys(STARTERS) as BrokerKind[]

// globalSetup and globalTeardown run in the same (parent) process; globalThis carries the handles.
const store = globalThis as typeof globalThis & { __FANOUT_SHARED_BROKERS__?: BrokerHandle[] }

/** Removes and returns the shared broker handles recorded by globalSetup. */
export function takeSharedBrokers(): BrokerHandle[] {
  const handles = store.__FANOUT_SHARED_BROKERS__ ?? []
  store.__FANOUT_SHARED_BROKERS__ = []
  return handles
}

function requestedKinds(): BrokerKind[] {
  const raw = (process.env.FANOUT_BROKERS ?? KINDS.join(',')).trim().toLowerCase()
  if (raw === 'none' || raw === '') return []
  const names = raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '')
  const unknown = names.filter((name) => !(KINDS as string[]).includes(name))
  if (unknown.length > 0) {
    throw new Error(
      `FANOUT_BROKERS: unknown broker(s) ${unknown.join(', ')}; use a comma list of ${KINDS} or none`
    )
  }
  return KINDS.filter((kind) => names.includes(kind))
}

export default async function globalSetup(): Promise<void> {
  const kinds = requestedKinds().filter((kind) => !process.env[URL_ENV[kind]])
  const results = await Promise.allSettled(kinds.map((kind) => STARTERS[kind]()))
  const handles = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []))

  if (failures.length > 0) {
    // Jest skips globalTeardown when globalSetup throws, so clean up here.
    await Promise.allSettled(handles.map((handle) => handle.stop()))
    const messages = failures.map((reason) => (reason instanceof Error ? reason.message : String(reason)))
    throw new Error(`Could not start the shared test brokers:\n\n${messages.join('\n\n')}`)
  }

  store.__FANOUT_SHARED_BROKERS__ = [...(store.__FANOUT_SHARED_BROKERS__ ?? []), ...handles]
  for (const handle of handles) process.env[URL_ENV[handle.kind]] = handle.url
}
