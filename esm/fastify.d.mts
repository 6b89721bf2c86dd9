// Types of the ES module entry (esm/fastify.mjs): the declarations of the CommonJS build, with the plugin
// as the default export, which is what the ES module entry's default is at run time.
import { fanout } from '../dist/src/fastify/index.js'

export default fanout
export * from '../dist/src/fastify/index.js'
