/** The durable fault suite (test/faults/suite.ts, durable scenarios) against Redis Streams. */
import { faultSuite } from './suite'
import { redisDurableTarget } from './targets'

faultSuite(redisDurableTarget)
