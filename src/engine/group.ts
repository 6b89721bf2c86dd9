import type { GroupLog, GroupMembership, GroupMessage, Position } from '../adapter'
import { SyncConfigError, SyncDeadLetterError, SyncGroupError } from '../errors'
import { isFrame, unpackFrame } from '../protocol/batch'
import type { Envelope } from '../protocol/envelope'
import { runAttempts } from './attempts'
import { DeadLetterList, type DeadLetter, type KeptLetter } from './dead-letters'
import type { ResolvedGroupOptions } from './group-options'
import { framedPosition } from './event-positions'
import { handlerKey, idempotencyKey, stripSlashes, whereIs } from './group-keys'
import type { GroupHandler, GroupHost, GroupStats } from './group-types'

export type { GroupHandler, GroupHost, GroupMessageMeta, GroupStats } from './group-types'
export { idempotencyKey } from './group-keys'

/**
 * One consumer group on this instance: its handlers by path and event, its membership in the broker's
 * group, retries, dead letters and counters.
 */
export class ConsumerGroup {
  private readonly handlers = new Map<string, GroupHandler>()
  private readonly letters: DeadLetterList
  private readonly held = new Set<Promise<void>>()
  private readonly counts = { handled: 0, retried: 0, deadLettered: 0, skipped: 0 }
  private membership: GroupMembership | undefined
  private stopped = false
  private wakeAll = new Set<() => void>()

  constructor(
    readonly name: string,
    readonly options: ResolvedGroupOptions,
    private readonly host: GroupHost
  ) {
    this.letters = new DeadLetterList(options.maxDeadLetters)
  }

  /** How many handlers this group has on this instance. */
  get size(): number {
    return this.handlers.size
  }

  /** @throws SyncConfigError when `path`/`event` already has a handler in this group */
  add(path: string, event: string, handler: GroupHandler): () => void {
    const key = handlerKey(stripSlashes(path), event)
    if (this.handlers.has(key)) {
      throw new SyncConfigError(
        'event',
        `Consumer group "${this.name}" already has a handler for "${event}" of "${path}"`
      )
    }
    this.handlers.set(key, handler)
    return () => this.handlers.delete(key)
  }

  /** Joins the broker's group as `member`. */
  async join(log: GroupLog, member: string): Promise<void> {
    const { claimAfterMs, prefetch } = this.options
    const membership = await log.joinGroup(this.name, member, { claimAfterMs, prefetch }, (message) =>
      this.track(this.receive(message))
    )
    if (this.stopped) await membership.leave()
    else this.membership = membership
  }

  async stats(): Promise<GroupStats> {
    let lag: number | undefined
    try {
      lag = await this.membership?.lag?.()
    } catch (cause) {
      this.host.report(
        new SyncGroupError(this.name, `Could not read the lag of group "${this.name}"`, { cause })
      )
    }
    return {
      group: this.name,
      joined: this.membership !== undefined,
      pending: this.held.size,
      ...this.counts,
      lag
    }
  }

  /** The raw payload of a dead letter kept in process. */
  payloadOf(id: string): GroupMessage['payload'] | undefined {
    return this.letters.get(id)?.payload
  }

  deadLetters(): DeadLetter[] {
    return this.letters.list()
  }

  /**
   * Runs the handler again on a dead letter (with retries); resolves once it succeeded (the letter is then
   * removed), rejects with the last failure otherwise (the letter stays).
   * @throws SyncConfigError when there is no such dead letter
   */
  async replay(id: string): Promise<void> {
    const letter = this.letters.get(id)
    if (!letter) {
      throw new SyncConfigError('id', `Consumer group "${this.name}" has no dead letter "${id}"`)
    }
    const envelope = this.host.decode(letter.payload)
    const handler = envelope && this.handlerFor(envelope)
    if (!envelope || !handler) {
      throw new SyncConfigError(
        'id',
        `Dead letter "${id}" of group "${this.name}" has no handler on this instance`
      )
    }
    const outcome = await this.attempts(handler, envelope, letter.position, 1, true)
    if (outcome.ok === true) {
      this.letters.remove(id)
      this.counts.deadLettered--
      this.counts.handled++
      return
    }
    if (outcome.ok === false) {
      this.letters.add({ ...letter, attempts: outcome.attempts, error: outcome.error, at: Date.now() })
      throw outcome.error
    }
  }

  /** Stops deliveries; waits (bounded by `timeoutMs`) for the handlers running now. What is unacked is claimed. */
  async leave(timeoutMs: number): Promise<void> {
    this.stopped = true
    for (const wake of this.wakeAll) wake()
    const membership = this.membership
    this.membership = undefined
    await membership
      ?.leave()
      .catch((cause: unknown) =>
        this.host.report(new SyncGroupError(this.name, `Could not leave group "${this.name}"`, { cause }))
      )
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))
    await Promise.race([Promise.allSettled([...this.held]), bound])
    clearTimeout(timer)
  }

  private track(work: Promise<void>): void {
    this.held.add(work)
    void work.finally(() => this.held.delete(work))
  }

  private handlerFor(envelope: Envelope): GroupHandler | undefined {
    return this.handlers.get(handlerKey(stripSlashes(envelope.path), envelope.event))
  }

  /**
   * A batched frame's events are handled one after another, each as a message of its own (with its event
   * position), and the frame is acknowledged once every one is settled. A member that stops half way
   * leaves the frame unacknowledged: the next member gets it whole, so handlers must be idempotent (the
   * idempotency key of each event stays the same).
   */
  private async receive(message: GroupMessage): Promise<void> {
    const events = isFrame(message.payload) ? unpackFrame(message.payload) : undefined
    // A malformed frame is dropped (and counted) by the decoder like any undecodable message.
    if (events === undefined || typeof events === 'string') return void (await this.handle(message))
    for (const [index, payload] of events.entries()) {
      const { position } = message
      const at = position === undefined ? undefined : framedPosition(position, index + 1)
      const event: GroupMessage = { ...message, payload, position: at, ack: async () => {} }
      if (!(await this.handle(event))) return
    }
    const { position } = message
    await this.settle(
      message,
      undefined,
      `holding ${events.length} events${position ? ` at ${position}` : ''}`
    )
  }

  /** Handles one event; false when the member stopped before it was settled (it stays unacknowledged). */
  private async handle(message: GroupMessage): Promise<boolean> {
    const envelope = this.host.decode(message.payload)
    const handler = envelope && this.handlerFor(envelope)
    if (!envelope || !handler) {
      // Undecodable (counted by the codec) or not for this group: nothing will ever handle it.
      if (envelope) this.counts.skipped++
      await this.settle(message, envelope)
      return true
    }
    const outcome = await this.attempts(
      handler,
      envelope,
      message.position,
      message.deliveries,
      false,
      message
    )
    if (outcome.ok === 'abandoned') return false
    if (outcome.ok) this.counts.handled++
    else this.bury(message, envelope, outcome.attempts, outcome.error)
    await this.settle(message, envelope)
    return true
  }

  private attempts(
    handler: GroupHandler,
    envelope: Envelope,
    position: Position | undefined,
    deliveries: number,
    replay: boolean,
    message?: GroupMessage
  ) {
    const context = this.host.context(envelope, handler)
    const base = {
      group: this.name,
      idempotencyKey: idempotencyKey(envelope, position),
      path: stripSlashes(envelope.path),
      event: envelope.event,
      context,
      deliveries: message?.deliveries ?? deliveries,
      position,
      replay
    }
    return runAttempts(
      (attempt, signal) => handler(envelope.data, { ...base, attempt, signal }),
      this.options,
      replay ? 1 : deliveries,
      { retried: () => this.counts.retried++, wait: (ms) => this.wait(ms) }
    )
  }

  private bury(message: GroupMessage, envelope: Envelope, attempts: number, error: Error): void {
    const id = idempotencyKey(envelope, message.position)
    const path = stripSlashes(envelope.path)
    const letter: KeptLetter = {
      group: this.name,
      id,
      path,
      event: envelope.event,
      data: envelope.data,
      position: message.position,
      attempts,
      error,
      at: Date.now(),
      payload: message.payload
    }
    this.letters.add(letter)
    this.counts.deadLettered++
    const what = `"${envelope.event}" of "${path}" ${whereIs(message.position, envelope)}`
    const { payload: _payload, ...visible } = letter
    this.host.deadLetter(visible, new SyncDeadLetterError(this.name, id, what, attempts, { cause: error }))
  }

  private async settle(
    message: GroupMessage,
    envelope: Envelope | undefined,
    where = whereIs(message.position, envelope)
  ): Promise<void> {
    try {
      await message.ack()
    } catch (cause) {
      // Unacknowledged: the broker hands it out again after claimAfterMs; the handler must be idempotent.
      this.host.report(
        new SyncGroupError(this.name, `Could not acknowledge the message ${where} in group "${this.name}"`, {
          cause
        })
      )
    }
  }

  /** Waits `ms`; false when the group stopped meanwhile. */
  private wait(ms: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false)
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        this.wakeAll.delete(wake)
        resolve(!this.stopped)
      }
      const timer = setTimeout(wake, ms)
      timer.unref()
      this.wakeAll.add(wake)
    })
  }
}
