import cluster, { type Worker } from 'node:cluster'
import { createDebug } from '../../src/debug'
import type { AdapterHooks } from '../../src/adapter'
import { SyncConnectionError, SyncMessageError } from '../../src/errors'
import type { Payload } from '../../src/serializers'
import { TickBatch } from '../../src/tick-batch'
import {
  frame,
  isOurs,
  parsePrimaryFrame,
  toWire,
  unbatch,
  type WireData,
  type WorkerFrame
} from './protocol'

const debug = createDebug('feathers-fanout/cluster')

// The worker's own handle on its IPC channel. `cluster.worker` wraps the real `process`, even where
// `process` itself is a stand-in (test runners such as Jest replace `process.send` with a no-op).
const ipc = (): Worker | undefined => cluster.worker

// An unanswered subscription is sent again, backing off to once a second, until the primary
// answers: its setupPrimary() may simply run a little after the workers were forked.
const RETRY_FIRST_MS = 100
const RETRY_MAX_MS = 1_000
// A frame carries about this many characters of payloads at most. Node's IPC handles a few large
// messages worse per byte than many mid-sized ones (measured with `npm run bench` on 10 kB events).
const FRAME_CHARS = 64 * 1024

/** One app's adapter, as the process-wide link sees it. */
export interface Member {
  readonly key: string
  readonly hooks: AdapterHooks
  /** Whether the app needs its own messages back from the primary (`emitOrder: 'broker'`). */
  readonly echo: boolean
  onMessage?: (payload: Payload) => void
}

interface Channel {
  readonly members: Set<Member>
  readonly waiters: Map<Member, () => void>
  acknowledged: boolean
  delay: number
  timer?: NodeJS.Timeout
}

/**
 * The worker's single link to the primary, shared by every app in the process: one IPC listener,
 * one subscription per key. The primary sends each message once per worker, and the link hands
 * it to every app on that key, so several apps in one worker see each other's events too.
 */
export class WorkerLink {
  private readonly members = new Set<Member>()
  private readonly channels = new Map<string, Channel>()
  // Per key: what the apps of this process publish in one tick goes to the primary in one frame.
  private readonly outgoing = new Map<string, TickBatch<WireData>>()
  private answered = false

  /** Where messages go, for errors: the primary's pid, and what to check while it never answered. */
  get target(): string {
    const primary = `cluster primary pid ${process.ppid}`
    return this.answered
      ? primary
      : `${primary} (no answer; setupPrimary() must be called in the primary process)`
  }

  join(member: Member): void {
    if (this.members.size === 0) {
      ipc()?.on('message', this.onFrame)
      ipc()?.on('disconnect', this.onDisconnect)
    }
    this.members.add(member)
  }

  /** Resolves once the primary acknowledged the subscription of this worker to `member.key`. */
  subscribe(member: Member, onMessage: (payload: Payload) => void): Promise<void> {
    member.onMessage = onMessage
    let channel = this.channels.get(member.key)
    if (!channel) {
      channel = { members: new Set(), waiters: new Map(), acknowledged: false, delay: RETRY_FIRST_MS }
      this.channels.set(member.key, channel)
    }
    channel.members.add(member)
    if (channel.acknowledged) return Promise.resolve()
    const waiting = new Promise<void>((resolve) => channel.waiters.set(member, resolve))
    if (!channel.timer) this.request(member.key, channel)
    return waiting
  }

  publish(key: string, payload: Payload): Promise<void> {
    let batch = this.outgoing.get(key)
    if (!batch) {
      batch = new TickBatch((data) => this.sendBatch(key, data))
      this.outgoing.set(key, batch)
    }
    return batch.add(toWire(payload))
  }

  /** Sends a tick's payloads in frames of about FRAME_CHARS each, in order. */
  private sendBatch(key: string, data: WireData[]): Promise<void> {
    const echo = this.wantsEcho(key)
    const sends: Promise<void>[] = []
    let start = 0
    let chars = 0
    for (let i = 0; i < data.length; i++) {
      const item = data[i]
      chars += typeof item === 'string' ? item.length : item.base64.length
      if (chars < FRAME_CHARS && i < data.length - 1) continue
      sends.push(this.send(frame({ type: 'publish', key, data: data.slice(start, i + 1), echo })))
      start = i + 1
      chars = 0
    }
    return Promise.all(sends).then(() => undefined)
  }

  /**
   * Whether this process needs its own messages on `key` back. Not when its only app on the key emits
   * local-first (it would drop them as echoes): skipping that copy saves the relay a send and this
   * process a decode per message.
   */
  private wantsEcho(key: string): boolean {
    const members = this.channels.get(key)?.members
    if (members?.size !== 1) return true
    const [only] = members
    return only.echo
  }

  leave(member: Member): void {
    if (!this.members.delete(member)) return
    const channel = this.channels.get(member.key)
    if (channel?.members.delete(member)) {
      // An app closed before the primary answered: let its startup finish instead of hanging.
      channel.waiters.get(member)?.()
      channel.waiters.delete(member)
      if (channel.members.size === 0) {
        clearTimeout(channel.timer)
        this.channels.delete(member.key)
        this.outgoing.delete(member.key)
        this.send(frame({ type: 'unsubscribe', key: member.key })).catch((error) =>
          debug('unsubscribe', error)
        )
      }
    }
    if (this.members.size === 0) {
      ipc()?.removeListener('message', this.onFrame)
      ipc()?.removeListener('disconnect', this.onDisconnect)
    }
  }

  private send(message: WorkerFrame): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = ipc()
      if (!worker?.isConnected()) {
        reject(new Error(`The IPC channel to the ${this.target} is closed`))
        return
      }
      worker.send(message, undefined, (error: Error | null) => (error ? reject(error) : resolve()))
    })
  }

  private request(key: string, channel: Channel): void {
    clearTimeout(channel.timer)
    this.send(frame({ type: 'subscribe', key })).catch((error) => debug('subscribe', error))
    channel.timer = setTimeout(() => this.request(key, channel), channel.delay)
    channel.timer.unref()
    channel.delay = Math.min(channel.delay * 2, RETRY_MAX_MS)
  }

  private readonly onFrame = (message: unknown): void => {
    // Someone else's IPC message (the app's own, another library's): not ours to judge.
    if (!isOurs(message)) return
    const parsed = parsePrimaryFrame(message)
    if (typeof parsed === 'string') {
      const error = new SyncMessageError(
        'shape',
        `Dropped a malformed frame from the cluster primary: ${parsed}`
      )
      for (const member of this.members) member.hooks.error(error)
      return
    }
    this.answered = true
    if (parsed.type === 'hello') {
      // A relay (re)started in the primary: it knows nothing of this worker yet.
      for (const [key, channel] of this.channels) {
        channel.delay = RETRY_FIRST_MS
        if (channel.acknowledged)
          this.send(frame({ type: 'subscribe', key })).catch((error) => debug('hello', error))
        else this.request(key, channel)
      }
      return
    }
    const channel = this.channels.get(parsed.key)
    if (!channel) return
    if (parsed.type === 'subscribed') {
      clearTimeout(channel.timer)
      channel.timer = undefined
      channel.acknowledged = true
      for (const resolve of channel.waiters.values()) resolve()
      channel.waiters.clear()
      return
    }
    for (const payload of unbatch(parsed.data)) {
      for (const member of channel.members) member.onMessage?.(payload)
    }
  }

  private readonly onDisconnect = (): void => {
    debug('IPC channel to the primary closed')
    const cause = new SyncConnectionError(
      this.target,
      `Lost the IPC channel to the ${this.target}; events stay local`
    )
    for (const channel of this.channels.values()) clearTimeout(channel.timer)
    for (const member of this.members) {
      member.hooks.error(cause)
      member.hooks.status('reconnecting', cause)
    }
  }
}

const LINK = Symbol.for('feathers-fanout/cluster-link')

/**
 * The process's link. Kept on `cluster.worker` so that two copies of this library in one worker (a
 * CommonJS and an ES module build, say) share it instead of unsubscribing each other's keys.
 */
export function workerLink(): WorkerLink {
  const holder = (cluster.worker ?? {}) as { [LINK]?: WorkerLink }
  return (holder[LINK] ??= new WorkerLink())
}
