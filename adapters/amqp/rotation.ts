import { EventEmitter } from 'node:events'
import type { ChannelModel, RecoveringChannelModel } from 'amqplib'
import { connectRecovering, type Recovering, type RecoveringSpec } from './recovering'

/** amqplib's recovery events that the rotation passes on as they come. */
const PASSED_ON = ['disconnect', 'connect-failed', 'error', 'handler-error', 'blocked', 'unblocked'] as const
/** amqplib's jitter: each delay is its base ± 20 %. */
const JITTER = 0.2

/**
 * The wait before reconnect attempt `attempt` (from 1), as amqplib's recovery computes it: doubling
 * from `initialDelayMs`, never above `maxDelayMs`, ± 20 % jitter.
 */
export function backoffMs(attempt: number, initialDelayMs: number, maxDelayMs: number): number {
  const base = Math.min(maxDelayMs / (1 + JITTER), initialDelayMs * 2 ** (attempt - 1))
  return Math.round(base * (1 + JITTER * (2 * Math.random() - 1)))
}

/**
 * One connection kept up over several broker addresses (the nodes of one RabbitMQ cluster). amqplib's
 * recovery reconnects to the one URL it was given, which is no help when that node is down for good.
 * So each address gets an amqplib recovering connection told never to retry; when it gives up (its
 * attempt failed, or its live connection ended), the next address is tried after amqplib's usual
 * backoff: round robin, starting from the first address, so that the order given is the order of
 * preference (a node in the same zone first). A lost node costs one failed attempt, usually a refused
 * TCP connect, and a connection never stays on a dead address. Emits amqplib's recovery events.
 */
export class AddressRotation extends EventEmitter implements Recovering {
  private index = 0
  private attempt = 0
  private current: RecoveringChannelModel | undefined
  private timer: NodeJS.Timeout | undefined
  private stopped = false
  private readonly first: Promise<void>
  private settleFirst: (error?: Error) => void = () => undefined

  constructor(private readonly spec: RecoveringSpec) {
    super()
    this.first = new Promise<void>((resolve, reject) => {
      this.settleFirst = (error) => (error ? reject(error) : resolve())
    })
    // Only a caller that waits for it cares; close() before the first connection rejects it.
    this.first.catch(() => undefined)
    // Like amqplib: the first attempt comes after the caller put its listeners on.
    setImmediate(() => void this.open())
  }

  waitForConnect(): Promise<void> {
    return this.first
  }

  async close(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearTimeout(this.timer)
    this.timer = undefined
    this.settleFirst(new Error('Connection closed'))
    const current = this.current
    this.current = undefined
    await current?.close()
  }

  private async open(): Promise<void> {
    if (this.stopped) return
    const { index, spec } = this
    spec.onAddress?.(index)
    const recovering = await connectRecovering(spec.urls[index], spec, 0)
    if (this.stopped) return recovering.close()
    this.current = recovering
    for (const name of PASSED_ON) {
      recovering.on(name, (...args: unknown[]) => this.emit(name, ...args))
    }
    recovering.on('connect', (model: ChannelModel) => {
      this.attempt = 0
      this.settleFirst()
      this.emit('connect', model)
    })
    recovering.once('reconnect-failed', (cause: Error) => this.next(recovering, cause))
  }

  /** `recovering` gave up on its address: the next one, after the backoff. */
  private next(recovering: RecoveringChannelModel, cause: Error): void {
    if (this.current !== recovering) return
    this.current = undefined
    // Stopped already; this only lets go of it.
    void recovering.close()
    if (this.stopped) return
    this.index = (this.index + 1) % this.spec.urls.length
    const attempt = ++this.attempt
    const delay = backoffMs(attempt, this.spec.initialDelayMs, this.spec.maxDelayMs)
    this.emit('reconnect-scheduled', { attempt, delay, error: cause })
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.open()
    }, delay)
  }
}

/**
 * Opens the connection described by `spec`: with one address, amqplib's built-in recovery to it for
 * good (never giving up); with several, an AddressRotation over them. Resolves at once, so that
 * listeners are on before the first attempt; `waitForConnect()` waits for it.
 */
export function openRecovering(spec: RecoveringSpec): Promise<Recovering> {
  if (spec.urls.length > 1) return Promise.resolve(new AddressRotation(spec))
  return connectRecovering(spec.urls[0], spec, Infinity)
}

/**
 * One report per outage: the first failure, then only failures that say something new. With several
 * addresses each fails its own way (its own `host:port` in the reason), so a reason is new until it is
 * not among the last `addresses` reasons told: one report per address and outage, not one per attempt.
 */
export class OutageReports {
  private recent: string[] = []

  constructor(private readonly addresses: number) {}

  /** Whether `reason` is worth telling now; if so, it is remembered as told. */
  fresh(reason: string): boolean {
    if (this.recent.includes(reason)) return false
    this.recent = [...this.recent, reason].slice(-this.addresses)
    return true
  }

  /** The outage is over: the next one gets its own reports. */
  clear(): void {
    this.recent = []
  }
}
