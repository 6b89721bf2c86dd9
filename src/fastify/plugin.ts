import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { SyncConfigError } from '../errors'
import { Fanout } from './fanout'
import type { FanoutDeadLetterEvent } from './groups'
import type { FanoutOptions } from './options'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The fleet's topics: `publish`, `subscribe` (with `{ group }` for run-once handling), `ready`,
     * `status`, `stats()`, `groupStats()`, `deadLetters()`, `replay()`, `on()`; see docs/fastify.md.
     */
    fanout: Fanout
  }
}

/** Where the plugin logs what the bus reports: Fastify's logger, at a level fitting each status. */
function logTo(log: FastifyBaseLogger) {
  return {
    error: (error: Error) => log.warn({ err: error }, `fanout: ${error.message}`),
    status: ({ status, previous, cause }: { status: string; previous: string; cause?: Error }) => {
      const text = `fanout: ${previous} -> ${status}`
      if (status === 'reconnecting') log.warn({ err: cause }, text)
      else log.info(text)
    },
    deadLetter: ({ letter, error }: FanoutDeadLetterEvent) =>
      log.error(
        { err: error, group: letter.group, id: letter.id, topic: letter.topic },
        `fanout: ${error.message}`
      ),
    gap: ({ channel, missing }: { channel: string; missing: number | undefined }) => {
      const count = missing === undefined ? 'messages' : `${missing} messages`
      log.warn(`fanout: ${count} on "${channel}" expired before this instance read them`)
    }
  }
}

const plugin: FastifyPluginAsync<FanoutOptions> = async (fastify: FastifyInstance, options) => {
  if (fastify.hasDecorator('fanout')) {
    throw new SyncConfigError(
      'fanout',
      'feathers-fanout is registered on this Fastify instance already; register it once, at the root'
    )
  }
  const fanout = new Fanout(options, logTo(fastify.log))
  fastify.decorate('fanout', fanout)
  // Closes the bus the plugin opened; a client of yours passed as an option stays open.
  fastify.addHook('onClose', async () => {
    await fanout.close()
  })
}

/**
 * The Fastify plugin: `fastify.register(fanout, { uri: 'redis://127.0.0.1:6379' })`, then
 * `fastify.fanout.publish(topic, data)` and `fastify.fanout.subscribe(topic, handler)` on every instance.
 * Options are checked at register time; a bad one fails the registration with a `SyncConfigError`
 * naming it.
 */
export const fanout = fp(plugin, { name: 'feathers-fanout', fastify: '5.x' })
