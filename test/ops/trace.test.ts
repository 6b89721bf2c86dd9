import { context, propagation, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { barrier, createFleet, teardownFleet, uniqueKey, waitFor, type TestApp } from '../helpers/apps'

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const contextManager = new AsyncLocalStorageContextManager()

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable())
  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  trace.setGlobalTracerProvider(provider)
})
afterAll(async () => {
  await provider.shutdown()
  trace.disable()
  propagation.disable()
  context.disable()
})

let fleet: TestApp[] = []
afterEach(async () => {
  await teardownFleet(fleet)
  fleet = []
  exporter.reset()
})

const tracer = () => trace.getTracer('feathers-fanout-test')

/** The envelopes `member` receives, decoded from JSON. */
function incoming(member: TestApp): Record<string, unknown>[] {
  const envelopes: Record<string, unknown>[] = []
  member.app.on('sync-in', (payload: Buffer | string) => envelopes.push(JSON.parse(payload.toString())))
  return envelopes
}

/** A listener on every app but `sender` that opens a span named `listener <app>` for each created event. */
function traceListeners(members: TestApp[]): void {
  members.forEach(({ app }, index) => {
    app.service('todos').on('created', () => tracer().startSpan(`listener ${index}`).end())
  })
}

describe('trace context across instances (OpenTelemetry)', () => {
  it('continues the trace of a create on one instance in the event listeners of the others', async () => {
    fleet = await createFleet(3, { uri: `memory://${uniqueKey('trace')}` })
    const [sender, ...receivers] = fleet
    traceListeners(receivers)
    const envelopes = incoming(receivers[0])
    const root = await tracer().startActiveSpan('create todo', async (span) => {
      await sender.app.service('todos').create({ marker: 'traced' })
      span.end()
      return span.spanContext()
    })
    await waitFor('a listener span on every receiver', () =>
      receivers.every((_, index) => exporter.getFinishedSpans().some((s) => s.name === `listener ${index}`))
    )
    const listeners = exporter.getFinishedSpans().filter((s) => s.name.startsWith('listener'))
    expect(listeners).toHaveLength(2)
    for (const span of listeners) {
      expect(span.spanContext().traceId).toBe(root.traceId)
      expect(span.parentSpanContext?.spanId).toBe(root.spanId)
      expect(span.parentSpanContext?.isRemote).toBe(true)
    }
    const traceparent = `00-${root.traceId}-${root.spanId}-01`
    expect(envelopes.find((e) => e.event === 'created')?.trace).toEqual({ traceparent })
  })

  it('adds nothing to the message and starts no trace when no span is active', async () => {
    fleet = await createFleet(2, { uri: `memory://${uniqueKey('untraced')}` })
    const [sender, receiver] = fleet
    traceListeners([receiver])
    const envelopes = incoming(receiver)
    await sender.app.service('todos').create({ marker: 'plain' })
    await barrier(fleet, sender)
    const listeners = exporter.getFinishedSpans().filter((s) => s.name === 'listener 0')
    expect(listeners).toHaveLength(2)
    for (const span of listeners) expect(span.parentSpanContext).toBeUndefined()
    expect(envelopes.filter((e) => 'trace' in e)).toHaveLength(0)
    expect(envelopes.every((e) => typeof e.t === 'number')).toBe(true)
  })

  it('leaves the trace context out with traceContext: false', async () => {
    fleet = await createFleet(2, { uri: `memory://${uniqueKey('trace-off')}`, traceContext: false })
    const [sender, receiver] = fleet
    traceListeners([receiver])
    const envelopes = incoming(receiver)
    await tracer().startActiveSpan('create todo', async (span) => {
      await sender.app.service('todos').create({ marker: 'off' })
      span.end()
    })
    await waitFor('the listener span', () => exporter.getFinishedSpans().some((s) => s.name === 'listener 0'))
    expect(envelopes.find((e) => e.event === 'created')).not.toHaveProperty('trace')
    // The memory adapter delivers in-process, so the sender's context may leak through async hooks; it
    // is never the remote one taken from a message.
    const listener = exporter.getFinishedSpans().find((s) => s.name === 'listener 0')
    expect(listener?.parentSpanContext?.isRemote).not.toBe(true)
  })
})
