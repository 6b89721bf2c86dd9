// The delivery path of a consumer group: how a message from the broker's group is handled, retried,
// dead-lettered and acknowledged. ConsumerGroup (./group.ts) adds handlers, membership and replays.
import type { GroupMessage, Position } from '../adapter'
import { SyncDeadLetterError, SyncGroupError } from '../errors'
import { isFrame, unpackFrame } from '../protocol/batch'
import type { Envelope } from '../protocol/envelope'
import { runAttempts } from './attempts'
import { DeadLetterList, type KeptLetter } from './dead-letters'
import type { ResolvedGroupOptions } from './group-options'
import { framedPosition } from './event-positions'
import { handlerKey, idempotencyKey, stripSlashes, whereIs } from './group-keys'
import type { GroupHandler, GroupHost } from './group-types'

/** The state of one consumer group on this instance and how it handles each delivery. */
export abstract class GroupDelivery {
  protected readonly handlers = new Map<string, GroupHandler>()
  protected readonly letters: DeadLetterList
  protected readonly held = new Set<Promise<void>>()
  protected readonly counts = { handled: 0, retried: 0, deadLettered: 0, skipped: 0 }
  protected stopped = false
  protected wakeAll = new Set<() => void>()

  constructor(
    readonly name: string,
    readonly options: ResolvedGroupOptions,
    protected readonly host: GroupHost
  ) {
    this.letters = new DeadLetterList(options.maxDeadLetters)
  }

  protected track(work: Promise<void>): void {
    this.held.add(work)
    void work.finally(() => this.held.delete(work))
  }

  protected handlerFor(envelope: Envelope): GroupHandler | undefined {
    return this.handlers.get(handlerKey(stripSlashes(envelope.path), envelope.event))
  }

  /**
   * A batched frame's events are handled one after another, each as a message of its own (with its event
   * position), and the frame is acknowledged once every one is settled. A member that stops half way
   * leaves the frame unacknowledged: the next member gets it whole, so handlers must be idempotent (the
   * idempotency key of each event stays the same).
   */
  protected async receive(message: GroupMessage): Promise<void> {
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

  protected attempts(
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
