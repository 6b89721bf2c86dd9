/** The fault-injection suite (test/faults/suite.ts) against Redis. */
import { faultSuite } from './suite'
import { redisTarget } from './targets'

faultSuite(redisTarget)
