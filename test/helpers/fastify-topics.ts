/**
 * The topics the Fastify tests publish, declared the way users declare theirs (declaration merging).
 */
import type { Position } from '../../src/adapter'

/** A numbered message of a test run, told apart by its `marker`. */
export interface Tick {
  marker: string
  n: number
}

/** What a test handler records of each delivery. */
export interface SeenTick extends Tick {
  sender: string
  id: number
  own: boolean
  position?: Position
}

declare module '../../src/fastify' {
  interface FanoutTopics {
    'fleet.tick': Tick
    'fleet.other': Tick
  }
}
