import { capabilitiesOf, type Adapter, type GroupLog } from '../adapter'
import { SyncConfigError, SyncGroupError } from '../errors'
import type { DeadLetter } from './dead-letters'
import { ConsumerGroup, type GroupHandler, type GroupHost, type GroupStats } from './group'
import {
  checkGroupName,
  differingGroupOption,
  parseGroupOptions,
  type ConsumerGroupOptions
} from './group-options'
import type { EngineOptions } from './options'

/**
 * Which events a group handler takes: one service path and one event name (standard or custom). A binding
 * whose messages have no service path (topics) passes `path: ''`.
 */
export interface GroupFilter {
  path: string
  event: string
}

/**
 * The consumer groups of one bus. Handlers can be registered before the adapter runs; each group joins the
 * broker's group once the adapter is connected, as this instance's member (`durable.consumerName`, else the
 * instance id).
 */
export class ConsumerGroups {
  private readonly groups = new Map<string, ConsumerGroup>()
  private log: GroupLog | undefined
  private connected: Promise<void> | undefined
  private closed = false
  private adapterType = 'this'

  constructor(
    private readonly options: EngineOptions,
    private readonly member: string,
    private readonly host: GroupHost
  ) {}

  /**
   * Registers `handler` for `filter` under `group`; returns the function that removes it. Removing the
   * group's last handler on this instance leaves the broker's group (the promise settles once left, bounded
   * by `closeTimeoutMs`), so that the group's events go to members that handle them.
   * @throws SyncConfigError for a bad name or option, without `durable`, or on an adapter without groups
   */
  consume(
    group: string,
    filter: GroupFilter,
    handler: GroupHandler,
    options?: ConsumerGroupOptions
  ): () => Promise<void> {
    checkGroupName(group)
    checkFilter(filter)
    if (typeof handler !== 'function') {
      throw new SyncConfigError('handler', `The handler of consumer group "${group}" must be a function`)
    }
    if (this.options.durable === false) {
      throw new SyncConfigError(
        'durable',
        `Consumer group "${group}" needs the "durable" option: groups read the log durable delivery writes`
      )
    }
    if (this.closed)
      throw new SyncConfigError('group', `Consumer group "${group}" cannot start on a closed bus`)
    const resolved = parseGroupOptions(options)
    let consumer = this.groups.get(group)
    if (consumer && options !== undefined) {
      const option = differingGroupOption(consumer.options, resolved)
      if (option !== undefined) {
        throw new SyncConfigError(
          option,
          `Consumer group "${group}" was started with another "${option}"; give its options once`
        )
      }
    }
    const member = (consumer ??= this.create(group, resolved))
    const remove = member.add(filter.path, filter.event, handler)
    let left: Promise<void> | undefined
    return () => {
      if (left) return left
      remove()
      // A member without handlers would acknowledge the group's messages unhandled: it leaves instead.
      const empty = member.size === 0 && this.groups.get(group) === member
      left = empty ? this.leave(group, this.options.closeTimeoutMs) : Promise.resolve()
      return left
    }
  }

  /**
   * Called once the bus runs `adapter`; groups join when `connected` resolves.
   * @throws SyncConfigError when groups were registered and the adapter has no group capability
   */
  attach(adapter: Adapter, connected: Promise<void>): void {
    const capable = capabilitiesOf(adapter).group === true
    this.log = capable ? (adapter as Adapter & GroupLog) : undefined
    this.connected = connected
    this.adapterType = adapter.type
    if (!capable && this.groups.size > 0) throw notCapable(adapter.type)
    if (!capable) return
    for (const consumer of this.groups.values()) this.start(consumer)
  }

  get(group: string): ConsumerGroup | undefined {
    return this.groups.get(group)
  }

  /** @throws SyncConfigError for a group this instance has no handler in */
  require(group: string): ConsumerGroup {
    const consumer = this.groups.get(group)
    if (!consumer) throw new SyncConfigError('group', `No consumer group "${group}" on this instance`)
    return consumer
  }

  async stats(): Promise<GroupStats[]> {
    return Promise.all([...this.groups.values()].map((consumer) => consumer.stats()))
  }

  deadLetters(group: string): DeadLetter[] {
    return this.require(group).deadLetters()
  }

  /**
   * Leaves `group` and forgets it, its dead letters with it; a later `consume` joins again, with none.
   * What this member held unacknowledged goes to another member after `claimAfterMs`.
   */
  async leave(group: string, timeoutMs: number): Promise<void> {
    const consumer = this.groups.get(group)
    if (!consumer) return
    this.groups.delete(group)
    await consumer.leave(timeoutMs)
  }

  /** Leaves every group (bounded by `timeoutMs` for handlers still running). */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true
    await Promise.all([...this.groups.values()].map((consumer) => consumer.leave(timeoutMs)))
  }

  private create(group: string, options: ReturnType<typeof parseGroupOptions>): ConsumerGroup {
    if (this.connected && !this.log) throw notCapable(this.adapterType)
    const consumer = new ConsumerGroup(group, options, this.host)
    this.groups.set(group, consumer)
    if (this.log) this.start(consumer)
    return consumer
  }

  private start(consumer: ConsumerGroup): void {
    const log = this.log as GroupLog
    void (this.connected ?? Promise.resolve())
      .then(() => (this.closed ? undefined : consumer.join(log, this.member)))
      .catch((cause: unknown) =>
        this.host.report(
          new SyncGroupError(consumer.name, `Could not join consumer group "${consumer.name}"`, { cause })
        )
      )
  }
}

function checkFilter(filter: GroupFilter): void {
  for (const name of ['path', 'event'] as const) {
    const value = (filter as Partial<GroupFilter> | undefined)?.[name]
    // An empty path is a message without a service path; an event is always named.
    if (typeof value !== 'string' || (value === '' && name === 'event')) {
      throw new SyncConfigError(
        name,
        `A consumer group needs a non-empty "${name}", got ${JSON.stringify(value)}`
      )
    }
  }
}

const notCapable = (type: string): SyncConfigError =>
  new SyncConfigError(
    'group',
    `Consumer groups need an adapter with the group capability; the ${type} adapter has none (see docs/groups.md)`
  )
