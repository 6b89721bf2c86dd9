// The dashboard's latency plot, drawn as plain SVG: p50 and p99 of the events that reached one
// instance from the others (log scale, ms), the outbox fill, and shaded spans where the instance was
// not ready (broker away) or not reachable (killed, replacing). No library, no build step.
/* exported drawPlot, PLOT_WINDOW_MS */

const PLOT_WINDOW_MS = 60_000
const SVG = 'http://www.w3.org/2000/svg'
const W = 320
const H = 130
const PAD = { left: 34, right: 6, top: 8, bottom: 16 }

function svgElement(name, attributes, text) {
  const element = document.createElementNS(SVG, name)
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value))
  if (text !== undefined) element.textContent = text
  return element
}

/**
 * Redraws `svg` from `samples` ({ at, p50, p99, status, outbox }, oldest first) and `offline`
 * ([from, to] spans with no connection to the instance), over the last PLOT_WINDOW_MS up to `now`.
 */
function drawPlot(svg, samples, offline, now) {
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`)
  svg.replaceChildren()
  const start = now - PLOT_WINDOW_MS
  const x = (at) => PAD.left + ((at - start) / PLOT_WINDOW_MS) * (W - PAD.left - PAD.right)
  const visible = samples.filter((sample) => sample.at >= start)
  const highest = Math.max(10, ...visible.map((sample) => sample.p99 ?? 0))
  const top = 10 ** Math.ceil(Math.log10(highest))
  const bottom = 0.1
  const y = (ms) => {
    const clamped = Math.min(top, Math.max(bottom, ms))
    const share = (Math.log10(clamped) - Math.log10(bottom)) / (Math.log10(top) - Math.log10(bottom))
    return H - PAD.bottom - share * (H - PAD.top - PAD.bottom)
  }

  // Spans first, so the lines stay on top: not ready (amber), unreachable (red).
  const span = (from, to, kind) => {
    const left = Math.max(x(from), PAD.left)
    const right = Math.min(x(to), W - PAD.right)
    if (right > left)
      svg.append(
        svgElement('rect', {
          class: `span ${kind}`,
          x: left,
          y: PAD.top,
          width: right - left,
          height: H - PAD.top - PAD.bottom
        })
      )
  }
  for (const sample of visible) if (sample.status !== 'ready') span(sample.at - 500, sample.at, 'not-ready')
  for (const [from, to] of offline) span(from, to ?? now, 'offline')

  // Grid: one line per decade, labelled in ms.
  for (let ms = 1; ms <= top; ms *= 10) {
    svg.append(svgElement('line', { class: 'grid', x1: PAD.left, x2: W - PAD.right, y1: y(ms), y2: y(ms) }))
    svg.append(
      svgElement(
        'text',
        { class: 'axis', x: PAD.left - 3, y: y(ms) + 3, 'text-anchor': 'end' },
        ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`
      )
    )
  }
  svg.append(svgElement('text', { class: 'axis', x: PAD.left, y: H - 3 }, '−60 s'))
  svg.append(svgElement('text', { class: 'axis', x: W - PAD.right, y: H - 3, 'text-anchor': 'end' }, 'now'))

  // Outbox fill, scaled to its own peak in the window, as a filled area along the bottom.
  const peak = Math.max(...visible.map((sample) => sample.outbox), 0)
  if (peak > 0) {
    const base = H - PAD.bottom
    const height = (n) => base - (n / peak) * (H - PAD.top - PAD.bottom) * 0.5
    const points = visible.map((sample) => `${x(sample.at)},${height(sample.outbox)}`)
    const first = visible[0]
    const last = visible[visible.length - 1]
    svg.append(
      svgElement('polygon', {
        class: 'outbox',
        points: `${x(first.at)},${base} ${points.join(' ')} ${x(last.at)},${base}`
      })
    )
    svg.append(
      svgElement(
        'text',
        { class: 'axis outbox-label', x: W - PAD.right - 2, y: PAD.top + 10, 'text-anchor': 'end' },
        `outbox peak ${peak}`
      )
    )
  }

  // p50 and p99: a line through consecutive ticks that had remote events, a dot where one stands alone.
  for (const key of ['p99', 'p50']) {
    let run = []
    const flush = () => {
      if (run.length === 1)
        svg.append(svgElement('circle', { class: key, cx: run[0][0], cy: run[0][1], r: 1.8 }))
      else if (run.length > 1)
        svg.append(svgElement('polyline', { class: key, points: run.map((p) => p.join(',')).join(' ') }))
      run = []
    }
    for (const sample of visible) {
      if (sample[key] === null) flush()
      else run.push([x(sample.at), y(sample[key])])
    }
    flush()
  }
}
