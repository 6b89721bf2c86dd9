// ES module entry of the client plugin (`feathers-fanout/client`): the CommonJS build re-exported by name.
import entry from '../dist/src/client/index.js'

export default entry.recovery
export const { recovery } = entry
