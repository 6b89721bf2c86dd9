// Types of the client plugin's ES module entry (client.mjs).
import { recovery } from '../dist/src/client/index.js'

export default recovery
export * from '../dist/src/client/index.js'
