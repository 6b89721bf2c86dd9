/** Adapter-level probes of the NATS adapter's durable side, for the durable-nats test files. */
import { createNatsAdapter } from '../../adapters/nats'
import type { Adapter, DurableHooks, DurableLog, StartPosition } from '../../src/adapter'
import { SyncConnectionError, type SyncError } from '../../src/errors'
import { parseOptions, type DurableOptions } from '../../src/engine/options'
import type { SyncOptions } from '../../src/feathers/plugin'
import type { Payload } from '../../src/protocol/serializers'
import { waitFor } from './apps'

// Fast retries keep the outage tests short.
const natsConnectionOptions = { reconnectTimeWait: 200, reconnectJitter: 100 }

export type Gap = Parameters<DurableHooks['gap']>[0]

/** One adapter with everything it reported. */
export interface Probe {
  name: string
  adapter: Adapter & DurableLog
  statuses: string[]
  errors: SyncError[]
  got: { text: string; position: string }[]
  gaps: Gap[]
  /** Statuses and errors with the ms since the probe opened, for the message of a failing test. */
  timeline: string[]
}

let probes: Probe[] = []

/** Closes every adapter opened since the last call (for afterEach). */
export async function closeProbes(): Promise<void> {
  const closing = probes
  probes = []
  await Promise.all(closing.map((probe) => probe.adapter.close()))
}

export const texts = (probe: Probe): string[] => probe.got.map((entry) => entry.text)
export const last = <T>(list: T[]): T | undefined => list[list.length - 1]
/** What a failing fault test says about an instance. */
export const describeProbe = (probe: Probe): string =>
  `${probe.name}: status ${String(last(probe.statuses))}, ${probe.got.length} received, ` +
  `${probe.gaps.length} gaps, errors [${probe.errors.map((e) => e.message).join('; ')}], ` +
  `last events [${probe.timeline.slice(-8).join('; ')}]`

export function adapterFor(
  uri: string,
  key: string,
  durable: true | DurableOptions,
  extra: Partial<SyncOptions>
) {
  const adapter = createNatsAdapter(parseOptions({ uri, key, durable, natsConnectionOptions, ...extra }))
  if (!adapter.capabilities?.durable) throw new Error('the NATS adapter with `durable` is not durable')
  return adapter as Adapter & DurableLog
}

export async function open(
  name: string,
  uri: string,
  key: string,
  durable: true | DurableOptions = true,
  extra: Partial<SyncOptions> = {}
): Promise<Probe> {
  const adapter = adapterFor(uri, key, durable, extra)
  const probe: Probe = { name, adapter, statuses: [], errors: [], got: [], gaps: [], timeline: [] }
  probes.push(probe)
  const opened = Date.now()
  const note = (what: string) => probe.timeline.push(`+${Date.now() - opened} ms ${what}`)
  await adapter.connect({
    status: (status) => {
      note(status)
      probe.statuses.push(status)
    },
    error: (error) => {
      note(`error: ${error.message}`)
      probe.errors.push(error)
    }
  })
  return probe
}

export async function follow(probe: Probe, start: StartPosition): Promise<void> {
  await probe.adapter.subscribeDurable(start, {
    message: (payload: Payload, position) =>
      probe.got.push({ text: Buffer.from(payload).toString(), position }),
    gap: (gap) => probe.gaps.push(gap)
  })
  await waitFor(`${probe.name} to report ready`, () => last(probe.statuses) === 'ready')
}

/** A publisher: the engine always subscribes too, and the adapter reports ready once it has. */
export async function openPublisher(
  uri: string,
  key: string,
  durable: true | DurableOptions = true
): Promise<Probe> {
  const probe = await open('publisher', uri, key, durable)
  await follow(probe, { kind: 'tail' })
  return probe
}

export async function publishAll(probe: Probe, items: string[]): Promise<string[]> {
  const positions: string[] = []
  for (const item of items) positions.push(String(await probe.adapter.publishDurable(item)))
  return positions
}

export const numbered = (prefix: string, count: number, from = 0): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}-${from + i}`)

/** Positions strictly increasing: no message handed over twice, none out of order. */
export function expectIncreasing(probe: Probe): void {
  const positions = probe.got.map((entry) => Number(entry.position))
  const bad = positions.findIndex((position, i) => i > 0 && position <= positions[i - 1])
  expect({ who: probe.name, firstOutOfOrder: bad }).toEqual({ who: probe.name, firstOutOfOrder: -1 })
}

/** What `publishSteadily` did so far. */
export interface SteadyPublisher {
  /** Texts whose publish resolved (the broker stored them), in order. */
  readonly confirmed: string[]
  /** Publishes that failed on a lost connection and were sent again. */
  readonly resent: number
  /** What the publishing is doing now, or why it ended early (for the message of a failing test). */
  readonly state: string
  /** Stops after the publish under way and waits for it. */
  stop(): Promise<void>
}

/**
 * Publishes `<prefix>-<n>` one after another like the engine's outbox does: a publish that fails on a
 * lost connection waits for `ready` and is sent again. Bounded: at most `limit` messages, 100 attempts
 * each.
 */
export function publishSteadily(probe: Probe, prefix: string, limit = 5_000): SteadyPublisher {
  let stopped = false
  let resent = 0
  let state = 'publishing'
  const confirmed: string[] = []
  const done = (async () => {
    for (let i = 0; i < limit && !stopped; i++) {
      const text = `${prefix}-${i}`
      for (let attempt = 0; ; attempt++) {
        if (attempt >= 100) throw new Error(`${text} not stored in 100 attempts; ${describeProbe(probe)}`)
        state = `${text}: attempt ${attempt + 1} waiting for ready`
        await waitFor(`${probe.name} ready to publish`, () => last(probe.statuses) === 'ready', 20_000)
        state = `${text}: attempt ${attempt + 1} waiting for its PubAck since ${new Date().toISOString()}`
        try {
          await probe.adapter.publishDurable(text)
          confirmed.push(text)
          break
        } catch (cause) {
          if (!(cause instanceof SyncConnectionError)) throw cause
          resent++
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 2)) // pacing the stream, not waiting for anything
    }
  })()
  done.then(
    () => (state = 'done'),
    (cause: Error) => (state = `ended early: ${cause.message}`)
  )
  return {
    confirmed,
    get resent() {
      return resent
    },
    get state() {
      return state
    },
    stop: async () => {
      stopped = true
      await done
    }
  }
}
