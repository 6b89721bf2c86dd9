/**
 * Adapter-level helpers for durable delivery tests: an adapter made through its factory, with plain
 * callbacks that record what it hands over, reports and counts.
 */
import type {
  Adapter,
  AdapterCapabilities,
  DurableHooks,
  DurableLog,
  Position,
  StartPosition
} from '../../src/adapter'
import type { SyncError } from '../../src/errors'
import { redisCommand } from '../brokers'
import { waitFor } from './apps'

export type DurableAdapter = Adapter & DurableLog & { readonly capabilities: AdapterCapabilities }

export type Gap = Parameters<DurableHooks['gap']>[0]

/** One adapter and everything it reported. */
export interface Instance {
  name: string
  adapter: DurableAdapter
  messages: { text: string; position: Position }[]
  gaps: Gap[]
  statuses: ('ready' | 'reconnecting')[]
  errors: SyncError[]
  /** The texts handed over, in order. */
  texts(): string[]
  /** Name, last status and counters, for failure messages. */
  describe(): string
}

/** Wraps an adapter (already created) and connects it; `subscribe` opens its durable subscription. */
export async function connectInstance(name: string, adapter: Adapter): Promise<Instance> {
  const instance: Instance = {
    name,
    adapter: adapter as DurableAdapter,
    messages: [],
    gaps: [],
    statuses: [],
    errors: [],
    texts: () => instance.messages.map(({ text }) => text),
    describe: () =>
      `${name}: status ${instance.statuses.at(-1) ?? 'none'} (${instance.statuses.join('>')}), ` +
      `${instance.messages.length} messages, ${instance.gaps.length} gaps, ${instance.errors.length} errors` +
      (instance.errors.length > 0 ? ` (last: ${instance.errors.at(-1)?.message})` : '')
  }
  await adapter.connect({
    status: (status) => instance.statuses.push(status),
    error: (error) => instance.errors.push(error)
  })
  return instance
}

export async function subscribe(instance: Instance, start: StartPosition): Promise<void> {
  await instance.adapter.subscribeDurable(start, {
    message: (payload, position) => {
      const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString()
      instance.messages.push({ text, position })
    },
    gap: (gap) => instance.gaps.push(gap)
  })
}

/** Waits (bounded) until `check` holds; on timeout the error says what each instance reported. */
export async function waitOn(
  instances: Instance[],
  what: string,
  check: () => boolean,
  timeoutMs = 10_000
): Promise<void> {
  try {
    await waitFor(what, check, timeoutMs)
  } catch (error) {
    const states = instances.map((instance) => instance.describe()).join('; ')
    throw new Error(`${(error as Error).message}. ${states}`)
  }
}

/** Send sequence per instance, for the message ids of publishAll. */
const sent = new WeakMap<Instance, number>()

/**
 * Publishes `texts` one after the other (each confirmed before the next) and returns their positions.
 * Like the engine's outbox: each carries a message id (`<name>-<n>`), and a publish that failed while the
 * instance reported `reconnecting` is sent again with the same id once it is `ready` (stored once);
 * one that fails while it says `ready` fails the test. Bounded: 20 attempts, 20 s for each wait.
 */
export async function publishAll(instance: Instance, texts: string[]): Promise<Position[]> {
  const positions: Position[] = []
  const producer = instance.name.replace(/[^0-9A-Za-z_]/g, '_')
  for (const text of texts) {
    const seq = (sent.get(instance) ?? 0) + 1
    sent.set(instance, seq)
    let position: Position | undefined
    for (let attempt = 1; ; attempt++) {
      try {
        position = await instance.adapter.publishDurable(text, `${producer}-${seq}`)
        break
      } catch (cause) {
        const reason = `${instance.name}: publishDurable(${text}) failed: ${(cause as Error).message}`
        if (instance.statuses.at(-1) === 'ready' || attempt >= 20) {
          throw new Error(`${reason}; attempt ${attempt}; ${instance.describe()}`, { cause })
        }
        await waitOn(
          [instance],
          `${reason}; ready again to resend it`,
          () => instance.statuses.at(-1) === 'ready',
          20_000
        )
      }
    }
    if (position === undefined) throw new Error(`${instance.name}: publishDurable gave no position`)
    positions.push(position)
  }
  return positions
}

/** `count` texts `<prefix>-0` … */
export const texts = (prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}-${i}`)

/** Kills, on the node at `port`, every connection blocked in XREAD (the durable readers). */
export async function killReaders(port: number): Promise<number> {
  const list = await redisCommand(port, ['CLIENT', 'LIST'])
  const ids = list
    .split('\n')
    .filter((line) => /\bcmd=xread\b/.test(line))
    .map((line) => /\bid=(\d+)/.exec(line)?.[1])
  for (const id of ids) if (id) await redisCommand(port, ['CLIENT', 'KILL', 'ID', id])
  return ids.length
}
