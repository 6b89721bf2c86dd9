// The dashboard: one Column per instance, kept up to date from the primary's event stream
// (GET /api/fleet), and the toolbar. A new control is one more button here that calls
// `column.ask('<name>')` (answered by an entry in demo/controls.ts) or the primary's /api.
/* global Column */

const $ = (id) => document.getElementById(id)
const columns = new Map()
const notice = (text) => ($('notice').textContent = text)

function column(instance) {
  let found = columns.get(instance)
  if (!found) {
    found = new Column(instance, $('columns'))
    columns.set(instance, found)
    const option = document.createElement('option')
    option.value = String(instance)
    option.textContent = `instance ${instance}`
    $('via').append(option)
  }
  return found
}

/** The column the toolbar acts through: the one chosen in the form, else the first connected one. */
function chosen() {
  const picked = columns.get(Number($('via').value))
  if (picked?.socket?.connected) return picked
  return [...columns.values()].find((candidate) => candidate.socket?.connected) ?? picked
}

function showBroker(broker) {
  $('broker').hidden = !broker
  if (!broker) return
  $('broker-stop').disabled = broker.busy || !broker.running
  $('broker-start').disabled = broker.busy || broker.running
  const state = broker.busy ? 'changing…' : broker.running ? 'running' : 'stopped'
  $('broker-state').textContent = `${broker.kind} on port ${broker.port}: ${state}`
  $('broker-state').dataset.state = state
}

const fleet = new EventSource('/api/fleet')
fleet.onmessage = (event) => {
  const view = JSON.parse(event.data)
  $('transport').textContent = `synced through ${view.transport}`
  for (const member of view.instances) column(member.instance).setMember(member)
  showBroker(view.broker)
  $('client-page').hidden = !view.recovery
  $('primary').textContent = 'connected to the demo'
  $('primary').dataset.state = 'up'
}
fleet.onerror = () => {
  $('primary').textContent = 'the demo is not running'
  $('primary').dataset.state = 'down'
}

$('post').addEventListener('submit', (event) => {
  event.preventDefault()
  const text = $('text').value.trim()
  const target = chosen()
  if (!text || !target) return
  // The Feathers websocket protocol: method, service path, data, params, callback.
  target.socket.emit('create', 'messages', { text }, {}, (error) => error && notice(error.message))
  $('text').value = ''
  $('text').focus()
})

async function run(button, name, describe) {
  const target = chosen()
  if (!target) return notice('no instance is connected')
  button.disabled = true
  notice(`${button.textContent} through instance ${target.instance} …`)
  const reply = await target.ask(name, 1000)
  button.disabled = false
  notice(reply.ok ? describe(reply.result, target.instance) : `${button.textContent}: ${reply.error}`)
}

$('burst').addEventListener('click', (event) =>
  run(
    event.target,
    'burst',
    (result, instance) => `Instance ${instance} created ${result.created} events in ${result.ms} ms`
  )
)
$('junk').addEventListener('click', (event) =>
  run(
    event.target,
    'junk',
    (result, instance) => `Instance ${instance} sent ${result.sent} junk messages onto the channel`
  )
)

async function broker(action) {
  const response = await fetch(`/api/broker/${action}`, { method: 'POST' })
  const body = await response.json()
  notice(response.ok ? `Broker ${body.running ? 'running' : 'stopped'}` : `Broker: ${body.error}`)
}
$('broker-stop').addEventListener('click', () => broker('stop'))
$('broker-start').addEventListener('click', () => broker('start'))

// The plots move with time even when nothing arrives.
setInterval(() => {
  const now = Date.now()
  for (const each of columns.values()) each.draw(now)
}, 500)
