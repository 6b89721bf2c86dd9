import {
  BROADCAST_ONLY,
  type Adapter,
  type AdapterHooks,
  type ResolvedOptions,
  type Payload
} from '../src/adapter'
import { SyncConfigError } from '../src/errors'

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

/** Creates an in-process adapter. */
export function createMemoryAdapter(options: ResolvedOptions & MemoryAdapterOptions): Adapter {
  const bus = memoryBus(busName(options))
  const { key } = options
  let hooks: AdapterHooks | undefined
  let subscriber: Subscriber | undefined
  return {
    type: 'memory',
    capabilities: BROADCAST_ONLY,
    target: `memory://${bus.name}`,
    async connect(adapterHooks) {
      hooks = adapterHooks
      bus.join(adapterHooks)
    },
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
