/**
 * The publisher: `POST /users/:id/state { "state": "active" }` publishes "user state changed" to the
 * fleet and answers 202 at once; every instance's consumers react to it.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { UserState } from './topics'

export const users: FastifyPluginAsync = async (fastify) => {
  fastify.post<{ Params: { id: string }; Body: { state: string } }>(
    '/users/:id/state',
    {
      schema: {
        body: {
          type: 'object',
          required: ['state'],
          properties: { state: { type: 'string', minLength: 1, maxLength: 64 } }
        }
      }
    },
    async (request, reply) => {
      const change: UserState = {
        id: request.params.id,
        state: request.body.state,
        at: new Date().toISOString()
      }
      // false only when the message cannot travel at all (too large); it is then reported and logged.
      const published = fastify.fanout.publish('user.state', change)
      return reply.code(published ? 202 : 500).send({ published })
    }
  )
}
