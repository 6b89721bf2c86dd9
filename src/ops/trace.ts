import type * as OpenTelemetry from '@opentelemetry/api'

type Api = typeof OpenTelemetry

// undefined: not tried yet; null: not installed.
let api: Api | null | undefined

/** `@opentelemetry/api` when the app has it installed (an optional peer), loaded on first use. */
function load(): Api | undefined {
  if (api === undefined) {
    try {
      api = require('@opentelemetry/api') as Api
    } catch {
      api = null
    }
  }
  return api ?? undefined
}

/** Carries the W3C trace context (`traceparent`, `tracestate`) from a sender's call to the receivers. */
export interface TraceCarrier {
  /** The active trace context as message fields, or undefined when no span is active. */
  capture(): Record<string, string> | undefined
  /** Runs `fn` inside the trace context `fields` carry (a plain call when it carries none). */
  run<T>(fields: Record<string, string> | undefined, fn: () => T): T
}

/**
 * The trace carrier, or undefined when `@opentelemetry/api` is not installed or `enabled` is false. With
 * the API but no SDK registered, its propagator is a no-op: nothing is added to messages.
 */
export function traceCarrier(enabled: boolean): TraceCarrier | undefined {
  const otel = enabled ? load() : undefined
  if (!otel) return undefined
  const { context, propagation, ROOT_CONTEXT } = otel
  return {
    capture() {
      const fields: Record<string, string> = {}
      propagation.inject(context.active(), fields)
      return Object.keys(fields).length > 0 ? fields : undefined
    },
    run(fields, fn) {
      if (fields === undefined) return fn()
      return context.with(propagation.extract(ROOT_CONTEXT, fields), fn)
    }
  }
}
