/** Consumer groups on Redis streams, through Feathers apps (see test/helpers/groups-suite.ts). */
import { groupSuite, uniqueGroupKey } from './helpers/groups-suite'

const REDIS_URL = process.env.FANOUT_REDIS_URL ?? ''

if (REDIS_URL) groupSuite('redis', () => ({ uri: REDIS_URL, key: uniqueGroupKey(), durable: true }))
else it.skip('needs redis-server (FANOUT_REDIS_URL)', () => undefined)
