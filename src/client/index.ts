/**
 * Client side of recovery, for a Feathers client on socket.io (`feathers-fanout/client`): remembers the
 * position of the last event received and, on every reconnect (to any instance), asks for what it missed.
 * The server sends the missed events as ordinary socket events, so the client's services emit them as
 * usual. No server code and no dependency: it only uses the socket it is given.
 */
import {
  HANDSHAKE_FLAG,
  POSITION_EVENT,
  REPLAY_EVENT,
  type ReplayAnswer,
  type ReplayRequest
} from './protocol'

export type { GapReason, RecoveryGap, ReplayAnswer } from './protocol'

/** The part of a socket.io-client `Socket` the plugin uses. */
export interface RecoverySocket {
  auth: Record<string, unknown> | ((cb: (data: object) => void) => void)
  readonly connected: boolean
  on(event: string, listener: (...args: never[]) => void): unknown
  onAny(listener: (event: string, ...args: unknown[]) => void): unknown
  timeout(ms: number): { emit(event: string, ...args: unknown[]): unknown }
}

/** The part of a Feathers client app the plugin uses. */
export interface RecoveryApp {
  io?: unknown
  emit(event: string | symbol, ...args: unknown[]): boolean
  on?(event: string, listener: (...args: unknown[]) => void): unknown
  /** Added by `@feathersjs/authentication-client`. */
  reAuthenticate?: () => Promise<unknown>
}

/** Options of the client plugin. */
export interface ClientRecoveryOptions {
  /** The socket; @default the one given to `@feathersjs/socketio-client` (`app.io`) */
  socket?: RecoverySocket
  /**
   * When to ask for the replay after each connect: once the promise this returns resolves, so that the
   * server replays to a connection that has joined its channels again (they are joined on login). When it
   * rejects (no stored token yet, an expired one), the plugin asks once the app logs in on that connection
   * (the app's `authenticated` event). The server holds the connection's live events until the request
   * (its `recovery.holdMs`).
   * @default `(app) => app.reAuthenticate()` when `@feathersjs/authentication-client` is configured, else at once
   */
  ready?: (app: RecoveryApp) => Promise<unknown>
  /** How long (ms) to wait for the server's answer. @default 10_000 */
  timeoutMs?: number
  /** Where to start, e.g. a position kept from an earlier page load. @default none */
  position?: string
}

/** `app.recovery`: where the client is. */
export interface RecoveryState {
  /** The position of the last event received, once known. */
  readonly position: string | undefined
  /** Events replayed to this client so far, over all reconnects. */
  readonly replayed: number
}

/**
 * `app.configure(recovery())` after `socketioClient(socket)`. The app emits `recovery-gap` (a
 * {@link RecoveryGap}) when events were missed that will not come (refetch then), `recovered` (the
 * {@link ReplayAnswer}) after each replay, and `recovery-error` when the server did not answer.
 */
export function recovery(options: ClientRecoveryOptions = {}): (app: RecoveryApp) => void {
  return (app) => {
    const socket = options.socket ?? (app.io as RecoverySocket | undefined)
    if (!socket || typeof socket.onAny !== 'function') {
      throw new TypeError(
        'recovery() needs a socket.io-client socket: configure socketioClient(socket) first'
      )
    }
    let position = options.position
    let pending: string | undefined
    let replayed = 0
    let lostAt: number | undefined
    const state: RecoveryState = {
      get position() {
        return position
      },
      get replayed() {
        return replayed
      }
    }
    Object.defineProperty(app, 'recovery', { value: state, configurable: true })

    // The flag rides in every (re)connect's handshake, beside the app's own auth data.
    const own = socket.auth
    socket.auth =
      typeof own === 'function'
        ? (cb) => own((data) => cb({ ...data, [HANDSHAKE_FLAG]: true }))
        : { ...own, [HANDSHAKE_FLAG]: true }

    // A position is committed only once its event has arrived: a connection lost in between asks again.
    socket.onAny((event, ...args) => {
      if (event === POSITION_EVENT) {
        pending = typeof args[0] === 'string' ? args[0] : undefined
      } else if (pending !== undefined) {
        position = pending
        pending = undefined
      }
    })
    socket.on('disconnect', () => {
      pending = undefined
      lostAt = Date.now()
    })
    const ask = () => {
      const request: ReplayRequest =
        position === undefined
          ? {}
          : { after: position, awayMs: lostAt === undefined ? 0 : Date.now() - lostAt }
      socket
        .timeout(options.timeoutMs ?? 10_000)
        .emit(REPLAY_EVENT, request, (error: unknown, answer?: ReplayAnswer) => {
          if (error || !answer) {
            app.emit('recovery-error', error ?? new Error('The server sent an empty replay answer'))
            return
          }
          if (answer.position !== undefined) position = answer.position
          replayed += answer.replayed
          if (answer.gap) app.emit('recovery-gap', answer.gap)
          app.emit('recovered', answer)
        })
    }
    // Counts connects: a login or a readiness that settles after the socket reconnected is not this one's.
    let connects = 0
    let awaitingLogin: number | undefined
    app.on?.('authenticated', () => {
      if (awaitingLogin !== connects || !socket.connected) return
      awaitingLogin = undefined
      ask()
    })
    const onConnect = () => {
      const connect = ++connects
      const reAuthenticate = app.reAuthenticate
      const ready = options.ready ?? (reAuthenticate && (() => reAuthenticate.call(app)))
      if (!ready) return ask()
      ready(app).then(
        () => {
          if (connect === connects) ask()
        },
        (error: unknown) => {
          if (connect !== connects) return
          // Not authenticated: a replay now would give nothing of the user's channels. Ask after login.
          awaitingLogin = connect
          if (position !== undefined) app.emit('recovery-error', error)
        }
      )
    }
    socket.on('connect', onConnect)
    if (socket.connected) onConnect()
  }
}

export default recovery
