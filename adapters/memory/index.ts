import {
  BROADCAST_ONLY,
  type Adapter,
  type AdapterHooks,
  type DurableLog,
  type GroupLog,
  type ResolvedOptions,
  type Payload,
  type Position
} from '../../src/adapter'
import type { ResolvedDurable } from '../../src/engine/options'
import { SyncConfigError } from '../../src/errors'
import { MemoryLog, parse, type LogReader } from './log'

/** Options of the in-process adapter. */
export interface MemoryAdapterOptions {
  /** Name of the bus; apps in one process with the same bus name and `key` share events. @default from `memory://<name>`, else 'default' */
  name?: string
}

/** Every option of `MemoryAdapterOptions`; a missing or extra name does not compile. */
export const MEMORY_OPTION_KEYS = { name: true } satisfies Record<keyof MemoryAdapterOptions, true>

type Subscriber = (payload: Payload) => void

/**
 * An in-process bus. Apps on the same bus and key see each other's events, delivered
 * asynchronously like a broker would. `goOffline()` / `goOnline()` simulate an outage,
 * which is handy for testing how an app behaves while its broker is away.
 */
export class MemoryBus {
  private readonly channels = new Map<string, Set<Subscriber>>()
  private readonly members = new Set<AdapterHooks>()
  private readonly logs = new Map<string, MemoryLog>()
  private up = true

  constructor(readonly name: string) {}

  get online(): boolean {
    return this.up
  }

  /** Every connected app sees its connection drop; publishes queue in each app's outbox. */
  goOffline(): void {
    this.up = false
    for (const hooks of this.members)
      hooks.status('reconnecting', new Error(`memory bus "${this.name}" went offline`))
  }

  /** Connections come back; queued messages are flushed. */
  goOnline(): void {
    this.up = true
    for (const hooks of this.members) hooks.status('ready')
    for (const log of this.logs.values()) log.resume()
  }

  /** The durable log of `key`, created with `retention` on first use (durable mode). */
  log(key: string, retention: ResolvedDurable): MemoryLog {
    let log = this.logs.get(key)
    if (!log) this.logs.set(key, (log = new MemoryLog(retention)))
    return log
  }

  /** Number of subscriptions on `key` (or on every key), to check that closing released them. */
  subscriberCount(key?: string): number {
    if (key !== undefined) return this.channels.get(key)?.size ?? 0
    let total = 0
    for (const channel of this.channels.values()) total += channel.size
    return total
  }

  join(hooks: AdapterHooks): void {
    this.members.add(hooks)
  }

  leave(hooks: AdapterHooks, key: string, subscriber: Subscriber | undefined): void {
    this.members.delete(hooks)
    if (subscriber) this.channels.get(key)?.delete(subscriber)
  }

  subscribe(key: string, subscriber: Subscriber): void {
    let channel = this.channels.get(key)
    if (!channel) this.channels.set(key, (channel = new Set()))
    channel.add(subscriber)
  }

  publish(key: string, payload: Payload): void {
    if (!this.up) throw new Error(`memory bus "${this.name}" is offline`)
    for (const subscriber of this.channels.get(key) ?? []) queueMicrotask(() => subscriber(payload))
  }
}

const buses = new Map<string, MemoryBus>()

/** The bus with this name, created on first use. */
export function memoryBus(name = 'default'): MemoryBus {
  let bus = buses.get(name)
  if (!bus) buses.set(name, (bus = new MemoryBus(name)))
  return bus
}

function busName(options: ResolvedOptions & MemoryAdapterOptions): string {
  if (options.name !== undefined) {
    if (typeof options.name !== 'string' || options.name === '') {
      throw new SyncConfigError(
        'name',
        `Option "name" must be a non-empty string, got ${JSON.stringify(options.name)}`
      )
    }
    return options.name
  }
  const match = options.uri === undefined ? null : /^memory:\/\/([^/?#]*)/i.exec(options.uri)
  if (options.uri !== undefined && !match) {
    throw new SyncConfigError('uri', `Option "uri" must look like memory://<name>, got "${options.uri}"`)
  }
  return match?.[1] || 'default'
}

/** Creates an in-process adapter; with `durable`, one that keeps a bounded log per channel. */
export function createMemoryAdapter(options: ResolvedOptions & MemoryAdapterOptions): Adapter {
  const bus = memoryBus(busName(options))
  const { key, durable } = options
  let hooks: AdapterHooks | undefined
  let subscriber: Subscriber | undefined
  const base = {
    type: 'memory',
    target: `memory://${bus.name}`,
    async connect(adapterHooks: AdapterHooks) {
      hooks = adapterHooks
      bus.join(adapterHooks)
    }
  }
  if (durable !== false) return durableAdapter(bus, key, durable, base, () => hooks)
  return {
    ...base,
    capabilities: BROADCAST_ONLY,
    async subscribe(onMessage) {
      subscriber = onMessage
      bus.subscribe(key, onMessage)
    },
    publish(payload) {
      bus.publish(key, payload)
    },
    async close() {
      if (hooks) bus.leave(hooks, key, subscriber)
      hooks = undefined
      subscriber = undefined
    }
  }
}

/** The durable side: the bus's log of `key`, read by one reader per adapter. */
function durableAdapter(
  bus: MemoryBus,
  key: string,
  retention: ResolvedDurable,
  base: Pick<Adapter, 'type' | 'target' | 'connect'>,
  hooksOf: () => AdapterHooks | undefined
): Adapter & DurableLog & GroupLog {
  const log = bus.log(key, retention)
  let reader: LogReader | undefined
  const offline = () => new Error(`memory bus "${bus.name}" is offline`)
  return {
    ...base,
    capabilities: { broadcast: true, durable: true, group: true },
    subscribe: () => Promise.reject(new Error('a durable memory adapter reads with subscribeDurable()')),
    publish: () => {
      throw new Error('a durable memory adapter publishes with publishDurable()')
    },
    async publishDurable(payload) {
      if (!bus.online) throw offline()
      return log.append(payload)
    },
    async subscribeDurable(start, durableHooks) {
      reader = log.open(start, durableHooks, () => bus.online)
    },
    async readRange(after, limit, inclusive) {
      return log.range(after, limit, inclusive === true)
    },
    async firstPosition() {
      return log.firstPosition()
    },
    async lastPosition() {
      return log.lastPosition()
    },
    async savePosition(name, position) {
      if (!bus.online) throw offline()
      log.save(name, position)
    },
    async loadPosition(name) {
      return log.load(name)
    },
    comparePositions: (a: Position, b: Position) => parse(a) - parse(b),
    async joinGroup(group, member, groupOptions, onMessage) {
      if (!bus.online) throw offline()
      return log.group(group, () => bus.online).join(member, groupOptions, onMessage)
    },
    async close() {
      log.close(reader)
      reader = undefined
      const hooks = hooksOf()
      if (hooks) bus.leave(hooks, key, undefined)
    }
  }
}
