/**
 * The dashboard's handles on an instance, asked over the instance's own socket.io connection:
 * `socket.emit('demo:<name>', argument, ack)`. Each entry of `createControls` is one action, so a new
 * experiment (a page that goes offline, a replay from a durable position…) is one more entry here and
 * one more button in demo/public/dashboard.js.
 */
import { randomBytes } from 'node:crypto'
import type { Application } from '@feathersjs/koa'
import type { Server } from 'socket.io'
import { createBus } from '../src/bus'
import type { Bus } from '../src/engine/bus'
import { DEMO_KEY } from './app'
import type { Monitor } from './monitor'

/** What an action acknowledges: its result, or an error message the page shows. */
export type ControlReply = { ok: true; result: unknown } | { ok: false; error: string }

export type Control = (argument: unknown) => Promise<unknown>

const MAX_COUNT = 10_000
// Creates run in slices, so the instance keeps serving its sockets during a burst.
const SLICE = 50

function count(argument: unknown, fallback: number): number {
  const value = argument === undefined ? fallback : Number(argument)
  if (!Number.isInteger(value) || value < 1 || value > MAX_COUNT)
    throw new Error(`count must be a whole number from 1 to ${MAX_COUNT}, got ${JSON.stringify(argument)}`)
  return value
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** The actions of one instance, and `close()` for what they opened. */
export function createControls(
  app: Application,
  uri: string,
  monitor: Monitor
): { controls: Record<string, Control>; close(): Promise<void> } {
  let junkBus: Bus | undefined

  const controls: Record<string, Control> = {
    /** The events this instance emitted lately, for a page that just opened. */
    history: async () => monitor.recent(),

    /** Creates `count` messages (default 1,000) on this instance, as fast as it can. */
    burst: async (argument) => {
      const total = count(argument, 1_000)
      const started = Date.now()
      const label = new Date(started).toLocaleTimeString()
      for (let done = 0; done < total; done += SLICE) {
        const slice = Array.from({ length: Math.min(SLICE, total - done) }, (_, index) =>
          app.service('messages').create({ text: `burst ${label} #${done + index + 1}/${total}` })
        )
        await Promise.all(slice)
        await nextTurn()
      }
      return { created: total, ms: Date.now() - started }
    },

    /**
     * Sends `count` messages of random bytes (default 1,000) straight onto the demo's channel, past the
     * encoder, the way a stray or hostile publisher would. Every instance should count and drop them.
     */
    junk: async (argument) => {
      const total = count(argument, 1_000)
      junkBus ??= createBus({ uri, key: DEMO_KEY })
      await junkBus.ready
      for (let sent = 0; sent < total; sent++) {
        junkBus.send(randomBytes(16 + (sent % 48)))
        if (sent % SLICE === SLICE - 1) await nextTurn()
      }
      return { sent: total }
    }
  }

  return {
    controls,
    close: async () => {
      await junkBus?.close()
    }
  }
}

/** Answers `demo:<name>` requests on every socket of `io` with the matching control. */
export function serveControls(io: Server, controls: Record<string, Control>): void {
  io.on('connection', (socket) => {
    for (const [name, control] of Object.entries(controls)) {
      socket.on(`demo:${name}`, (argument: unknown, ack?: (reply: ControlReply) => void) => {
        control(argument).then(
          (result) => ack?.({ ok: true, result }),
          (error: Error) => ack?.({ ok: false, error: error.message })
        )
      })
    }
  })
}
