import type { Application, HookContext, NextFunction } from '@feathersjs/feathers'
import type { Position } from '../../adapter'
import { SyncConfigError } from '../../errors'
import {
  HANDSHAKE_FLAG,
  REPLAY_EVENT,
  type GapReason,
  type ReplayAnswer,
  type ReplayRequest
} from '../../client/protocol'
import type { Bridge } from '../bridge'
import { POSITION, positionOf, remoteContext } from '../context'
import { compareEventPositions } from '../../engine/event-positions'
import { Gate, type GatedSocket } from './gate'
import type { ResolvedRecovery } from './options'
import { dispatchFor, readMissed } from './replay'

/** The part of a socket.io server socket recovery uses. */
interface ServerSocket extends GatedSocket {
  feathers?: object
  handshake: { auth?: Record<string, unknown> }
  on(event: string, listener: (...args: unknown[]) => void): unknown
}
interface ServerIo {
  on(event: 'connection', listener: (socket: ServerSocket) => void): unknown
}
interface Channel {
  connections: object[]
}

const stripSlashes = (path: string): string => path.replace(/^\/+|\/+$/g, '')
const MAX_POSITION_LENGTH = 128

/**
 * Server side of client recovery: positions sent before each event a recovering connection receives, a
 * hold on its live events until it asked for a replay, and the replay itself (see docs/client-recovery.md).
 * Attached once the app is set up, when socket.io (`app.io`) exists.
 */
export function installRecovery(app: Application, bridge: Bridge, settings: ResolvedRecovery): void {
  const { bus } = bridge
  const gates = new WeakMap<object, Gate>()
  // The newest position this instance handed to its services: where a fresh client starts.
  let delivered: Position | undefined
  bus.subscribe(({ position }) => {
    if (position !== undefined) delivered = position
  })

  // Before the socket dispatcher: tells each recovering connection's gate the position of what follows.
  app.prependListener('publish', (event: string, channel: Channel, context: HookContext) => {
    const position = positionOf(context)
    if (position === undefined) return
    const name = `${context.path ?? ''} ${event}`.trim()
    for (const connection of channel.connections) gates.get(connection)?.announce(name, position)
  })

  async function answer(gate: Gate, connection: object, request: ReplayRequest): Promise<ReplayAnswer> {
    const { after, awayMs } = request
    const gap = (reason: GapReason, message: string, position?: Position): ReplayAnswer => ({
      position,
      replayed: 0,
      gap: { reason, after: after as string, message }
    })
    if (after === undefined) {
      gate.open()
      return { position: delivered, replayed: 0 }
    }
    if (typeof after !== 'string' || after.length > MAX_POSITION_LENGTH) {
      gate.open()
      return gap('invalid', 'The position must be a string of at most 128 characters', delivered)
    }
    const log = bus.log
    if (!log) {
      gate.open()
      return gap('unavailable', 'This instance has no durable log', delivered)
    }
    let upper: Position | undefined
    try {
      upper = await log.lastPosition()
      gate.floor = upper
      if (typeof awayMs === 'number' && awayMs > settings.maxAgeMs) {
        return gap('tooOld', `Away ${awayMs} ms, more than recovery.maxAgeMs (${settings.maxAgeMs})`, upper)
      }
      const read = await readMissed(log, bus.codec, after, upper, settings.maxEvents)
      if ('gap' in read) return gap(read.gap, read.message, upper)
      let replayed = 0
      for (const { envelope, position } of read.events) {
        const sent = await replayOne(connection, envelope, position)
        if (sent) {
          gate.sendPositioned(sent.name, [sent.data], position)
          replayed++
        }
      }
      return { position: upper, replayed }
    } catch (cause) {
      gate.floor = undefined
      return gap('unavailable', `The log could not be read: ${String(cause)}`, delivered)
    }
  }

  /** The socket event name and data `connection` would have got for a logged event, if any. */
  async function replayOne(
    connection: object,
    envelope: { path: string; event: string; data: unknown; context: Record<string, unknown> | null },
    position: Position
  ): Promise<{ name: string; data: unknown } | undefined> {
    const path = stripSlashes(envelope.path)
    const service = (app.services as Record<string, object | undefined>)[path]
    if (!service) return undefined
    const origin = { instanceId: null, messageId: null }
    const context = remoteContext(app, service, path, envelope.event, envelope.data, envelope.context, origin)
    ;(context as { [POSITION]?: Position })[POSITION] = position
    const decided = await dispatchFor(app, service, envelope.event, envelope.data, context, connection)
    return decided && { name: `${path} ${envelope.event}`, data: decided.data }
  }

  function attach(io: ServerIo): void {
    io.on('connection', (socket) => {
      const connection = socket.feathers
      if (!connection || socket.handshake.auth?.[HANDSHAKE_FLAG] !== true) return
      const log = bus.log
      const compare = log
        ? (a: string, b: string) => compareEventPositions((x, y) => log.comparePositions(x, y), a, b)
        : () => 0
      const gate = new Gate(socket, compare, settings.holdMs)
      gates.set(connection, gate)
      let asked = false
      socket.on('disconnect', () => gate.close())
      socket.on(REPLAY_EVENT, (request: unknown, ack: unknown) => {
        if (typeof ack !== 'function') return
        const reply = ack as (answer: ReplayAnswer) => void
        const given = (typeof request === 'object' && request !== null ? request : {}) as ReplayRequest
        if (asked || gate.state !== 'holding') {
          // Live events already flowed: a replay now could repeat them.
          const why = asked
            ? 'A replay was asked for twice'
            : 'The replay was asked for after recovery.holdMs'
          const late =
            typeof given.after === 'string'
              ? { reason: 'late' as const, after: given.after, message: why }
              : undefined
          reply({ position: delivered, replayed: 0, ...(late && { gap: late }) })
          return
        }
        asked = true
        gate.state = 'replaying'
        void answer(gate, connection, given).then((result) => {
          reply(result)
          gate.open()
        })
      })
    })
  }

  app.hooks({
    setup: [
      async (_context: HookContext, next: NextFunction) => {
        await next()
        const io = (app as unknown as { io?: ServerIo }).io
        if (!io || typeof io.on !== 'function') {
          bus.report(
            new SyncConfigError(
              'recovery',
              'Option "recovery" needs @feathersjs/socketio configured on the app'
            )
          )
          return
        }
        attach(io)
      }
    ]
  })
}
