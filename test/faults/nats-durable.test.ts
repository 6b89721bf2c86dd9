/** The durable fault suite (test/faults/suite.ts, durable scenarios) against NATS JetStream. */
import { faultSuite } from './suite'
import { natsDurableTarget } from './targets'

faultSuite(natsDurableTarget)
