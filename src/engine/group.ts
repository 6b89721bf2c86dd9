import type { GroupLog, GroupMembership, GroupMessage } from '../adapter'
import { SyncConfigError, SyncGroupError } from '../errors'
import type { DeadLetter } from './dead-letters'
import { GroupDelivery } from './group-delivery'
import { handlerKey, stripSlashes } from './group-keys'
import type { GroupHandler, GroupStats } from './group-types'

export type { GroupHandler, GroupHost, GroupMessageMeta, GroupStats } from './group-types'
export { idempotencyKey } from './group-keys'

/**
 * One consumer group on this instance: its handlers by path and event, its membership in the broker's
 * group, retries, dead letters and counters.
 */
export class ConsumerGroup extends GroupDelivery {
  private membership: GroupMembership | undefined

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
   * @throws SyncGroupError when the group is left (or the app closed) between two attempts of the replay
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
    if (outcome.ok === 'abandoned') {
      throw new SyncGroupError(
        this.name,
        `The replay of dead letter "${id}" stopped: group "${this.name}" was left before it succeeded`
      )
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
}
