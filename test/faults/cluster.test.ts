/** The fault-injection suite (test/faults/suite.ts) against the Node cluster adapter (no broker: an instance is killed instead). */
import { faultSuite } from './suite'
import { clusterTarget } from './targets'

faultSuite(clusterTarget)
