/** The durable fault suite (test/faults/suite.ts, durable scenarios) against RabbitMQ stream queues. */
import { faultSuite } from './suite'
import { amqpDurableTarget } from './targets'

faultSuite(amqpDurableTarget)
