import { memoryBus } from '../src/index'
import { conformanceSuite } from './conformance'

const bus = memoryBus('conformance')

conformanceSuite({
  name: 'memory',
  options: (key) => ({ uri: 'memory://conformance', key }),
  publishRaw: async (key, payload) => bus.publish(key, payload),
  openHandles: () => bus.subscriberCount()
})
