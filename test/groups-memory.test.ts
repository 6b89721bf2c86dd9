/** Consumer groups on the in-process adapter, through Feathers apps (see test/helpers/groups-suite.ts). */
import { groupSuite, uniqueGroupKey } from './helpers/groups-suite'

groupSuite('memory', () => ({ uri: `memory://${uniqueGroupKey()}`, key: 'k', durable: true }))
