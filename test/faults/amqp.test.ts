/** The fault-injection suite (test/faults/suite.ts) against RabbitMQ. */
import { faultSuite } from './suite'
import { amqpTarget } from './targets'

faultSuite(amqpTarget)
