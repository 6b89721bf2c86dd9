import { createDebug } from '../../src/engine/debug'
import type { ChannelModel } from 'amqplib'
import { SyncConnectionError } from '../../src/errors'
import type { AmqpGroupMember } from './group'
import type { AmqpSettings } from './options'
import { closeRecovering, guardModel, reportRecovery, type Recovering } from './recovering'
import { openRecovering, OutageReports } from './rotation'

const debug = createDebug('feathers-fanout/amqp')

/** The shortest heartbeat timeout AMQP can say: one second. */
const MIN_HEARTBEAT_S = 1

/**
 * The AMQP heartbeat timeout (s) of the connection that carries the members of groups with `claimAfterMs`:
 * half of it, at least 1 s.
 *
 * RabbitMQ looks for bytes from the client once per timeout and closes the connection when two looks in
 * a row found none, 2 to 3 timeouts after the last frame it received (`start_heartbeat_receiver` in
 * rabbit_heartbeat.erl; https://www.rabbitmq.com/docs/heartbeats). amqplib sends something at least once
 * per timeout (a heartbeat frame when it sent nothing for half of one). So RabbitMQ gives back what a
 * member stopped dead (a frozen process, a dead network path) held between 1 and 3 timeouts after it
 * stopped: between 0.5 and 1.5 times `claimAfterMs`. A live member's event loop keeps sending, so its
 * deliveries stay with it however long its handler runs.
 */
export function groupHeartbeatS(claimAfterMs: number): number {
  return Math.max(MIN_HEARTBEAT_S, Math.round(claimAfterMs / 2_000))
}

/** What the group connections need from the adapter. */
export interface GroupConnectionLink {
  settings: AmqpSettings
  /** Reports a problem to the app (`sync-error`); the instance's status is the main connection's. */
  error(error: SyncConnectionError): void
}

/**
 * One connection, kept up by amqplib's recovery like the adapter's main one, for the members of every
 * group whose `claimAfterMs` gives the same heartbeat. Opened by the first member that needs it. On each
 * new connection its members consume again (in the background, see AmqpGroupMember.reattach); a lost one
 * is reported once per outage, and does not change the instance's status: broadcast and the durable log
 * run on the main connection.
 */
export class GroupConnection {
  readonly members = new Set<AmqpGroupMember>()
  private recovering: Promise<Recovering> | undefined
  private model: ChannelModel | undefined
  private closed = false
  private readonly reports: OutageReports
  private waiters: { resolve(model: ChannelModel): void; reject(error: Error): void }[] = []
  /** `host:port` of the address in use. */
  private target: string

  constructor(
    private readonly link: GroupConnectionLink,
    readonly heartbeatS: number
  ) {
    this.target = link.settings.target
    this.reports = new OutageReports(link.settings.urls.length)
  }

  /** The live connection, if any. */
  current(): ChannelModel | undefined {
    return this.model
  }

  /** Resolves with the live connection, opening it the first time; rejects once closed. */
  ready(): Promise<ChannelModel> {
    if (this.model) return Promise.resolve(this.model)
    if (this.closed) return Promise.reject(new Error('The group connection was closed'))
    if (!this.recovering) {
      this.recovering = this.open()
      this.recovering.catch((cause: Error) =>
        this.waiters.splice(0).forEach((waiter) => waiter.reject(cause))
      )
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }))
  }

  /** Stops recovery and closes the connection (bounded). Its members left already. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const error = new Error('The group connection was closed')
    this.waiters.splice(0).forEach((waiter) => waiter.reject(error))
    const model = this.model
    this.model = undefined
    const recovering = await this.recovering?.catch(() => undefined)
    if (recovering) await closeRecovering(recovering, model)
  }

  private async open(): Promise<Recovering> {
    const { settings } = this.link
    const urls = settings.urls.map((address) => {
      const url = new URL(address)
      url.searchParams.set('heartbeat', String(this.heartbeatS))
      return url.toString()
    })
    const name = settings.socket.clientProperties?.connection_name ?? 'feathers-fanout'
    const recovering = await openRecovering({
      ...settings,
      urls,
      onAddress: (index) => (this.target = settings.targets[index]),
      // Told apart from the main connection in the broker's connection list.
      socket: {
        ...settings.socket,
        clientProperties: {
          ...settings.socket.clientProperties,
          connection_name: `${String(name)} groups (heartbeat ${this.heartbeatS} s)`
        }
      },
      setup: async (model) => this.setup(model)
    })
    recovering.on('disconnect', (cause: Error) => {
      this.model = undefined
      this.report('Lost the connection to', cause)
    })
    recovering.on('connect', () =>
      debug(`group connection to ${this.target} up (heartbeat ${this.heartbeatS} s)`)
    )
    reportRecovery(
      recovering,
      () => this.target,
      (what, cause) => this.report(what, cause)
    )
    if (this.closed) await closeRecovering(recovering, undefined)
    return recovering
  }

  // amqplib runs this after every successful (re)connect, before it reports the connection up. Nothing
  // in it waits on the broker (the members attach in the background), so it needs no bound.
  private setup(model: ChannelModel): void {
    guardModel(model, (cause) => debug(`group connection error at ${this.target}`, cause))
    // amqplib closes this connection again if close() came meanwhile.
    if (this.closed) return
    this.model = model
    this.reports.clear()
    this.waiters.splice(0).forEach((waiter) => waiter.resolve(model))
    this.members.forEach((member) => member.reattach(model))
  }

  /** One report per outage: the first failure, then only failures that say something new. */
  private report(what: string, cause: Error): void {
    const reason = cause.message.replace(/^Error: /, '')
    debug(`${what} RabbitMQ at ${this.target} (groups): ${reason}`)
    if (this.closed || !this.reports.fresh(reason)) return
    const where = `RabbitMQ at ${this.target} (consumer groups, heartbeat ${this.heartbeatS} s)`
    this.link.error(new SyncConnectionError(this.target, `${what} ${where}: ${reason}`, { cause }))
  }
}

/** The group connections of one adapter, one per heartbeat (see groupHeartbeatS). */
export class GroupConnections {
  private readonly byHeartbeat = new Map<number, GroupConnection>()

  constructor(private readonly link: GroupConnectionLink) {}

  /** The connection for members of groups with `claimAfterMs` (opened on its first `ready()`). */
  for(claimAfterMs: number): GroupConnection {
    const heartbeatS = groupHeartbeatS(claimAfterMs)
    let connection = this.byHeartbeat.get(heartbeatS)
    if (!connection) {
      connection = new GroupConnection(this.link, heartbeatS)
      this.byHeartbeat.set(heartbeatS, connection)
    }
    return connection
  }

  /** Closes `connection` once its last member left; a later member opens a new one. */
  async release(connection: GroupConnection): Promise<void> {
    if (connection.members.size > 0) return
    if (this.byHeartbeat.get(connection.heartbeatS) === connection)
      this.byHeartbeat.delete(connection.heartbeatS)
    await connection.close()
  }

  async close(): Promise<void> {
    const connections = [...this.byHeartbeat.values()]
    this.byHeartbeat.clear()
    await Promise.all(connections.map((connection) => connection.close()))
  }
}
