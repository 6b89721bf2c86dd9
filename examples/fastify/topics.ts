/**
 * The topics of this example fleet. In an app of yours this is
 * `declare module 'feathers-fanout/fastify' { … }`; the example imports the source instead.
 */
export interface UserState {
  /** The user whose state changed. */
  id: string
  state: string
  /** When the publishing instance accepted the change (ISO time). */
  at: string
}

declare module '../../src/fastify' {
  interface FanoutTopics {
    'user.state': UserState
  }
}
