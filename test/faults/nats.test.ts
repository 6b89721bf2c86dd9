/** The fault-injection suite (test/faults/suite.ts) against NATS. */
import { faultSuite } from './suite'
import { natsTarget } from './targets'

faultSuite(natsTarget)
