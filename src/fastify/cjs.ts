// CommonJS entry of `feathers-fanout/fastify`: `require('feathers-fanout/fastify')` is the plugin itself,
// as Fastify plugins are, and carries every named export too (including `default`).
import * as api from './index'

const entry = Object.assign(api.fanout, api, { default: api.fanout })

export = entry
