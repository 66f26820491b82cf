// Unit tests of the base64 WebSocket wrapper against a fake native WebSocket (node --test).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import {
  Base64WebSocket,
  decodeBase64,
  encodeBase64,
  parseErrorFrame,
  redirectUrl,
  shouldReconnect,
  tokenWebSocket
} from '../src/index.js'

class FakeSocket {
  static instances = []
  constructor (url, protocols) {
    this.url = String(url)
    this.protocols = protocols
    this.readyState = 0
    this.protocol = ''
    this.sent = []
    this.closedWith = null
    FakeSocket.instances.push(this)
  }

  send (data) {
    if (this.readyState !== 1) throw new Error('InvalidStateError')
    this.sent.push(data)
  }

  close (code, reason) {
    this.closedWith = [code, reason]
  }

  // driven by the tests
  open (protocol = 'access_token') {
    this.readyState = 1
    this.protocol = protocol
    this.onopen(new Event('open'))
  }

  receive (data) {
    this.onmessage({ data, origin: 'ws://test' })
  }

  serverClose (code, reason = '') {
    this.readyState = 3
    this.onclose({ code, reason, wasClean: true })
  }
}

class TestSocket extends Base64WebSocket {
  static NativeWebSocket = FakeSocket
}

function last () {
  return FakeSocket.instances[FakeSocket.instances.length - 1]
}

test('a string or a Blob-like object is refused by send (the server only reads base64 binary)', () => {
  const ws = new TestSocket('ws://test/doc')
  last().open()
  assert.throws(() => ws.send('hello'), TypeError)
  assert.throws(() => ws.send({ length: 1 }), TypeError)
  assert.deepEqual(last().sent, [])
})

test('frames that are neither base64 nor an error frame are dropped and counted', () => {
  const ws = new TestSocket('ws://test/doc')
  const messages = []
  ws.onmessage = (e) => messages.push(e)
  last().open()
  for (const bad of ['not base64!', 'AAE', 'AA E=', '{"type":"other"}', '{broken', new ArrayBuffer(2)]) {
    last().receive(bad)
  }
  assert.equal(messages.length, 0)
  assert.equal(ws.droppedFrames, 6)
  assert.equal(ws.lastError, null)
})

test('binary messages go out as one standard base64 text frame each', () => {
  const ws = new TestSocket('ws://test/doc')
  last().open()
  const bytes = new Uint8Array([0, 0, 1, 255, 250])
  ws.send(bytes)
  ws.send(bytes.buffer)
  ws.send(new Uint8Array([9, 0, 0, 1, 255, 250, 9]).subarray(1, 6))
  assert.deepEqual(last().sent, ['AAAB//o=', 'AAAB//o=', 'AAAB//o='])
})

test('base64 text frames arrive as ArrayBuffer message events (onmessage and listeners)', () => {
  const ws = new TestSocket('ws://test/doc')
  ws.binaryType = 'arraybuffer'
  const seen = []
  ws.onmessage = (e) => seen.push(['on', e.data])
  ws.addEventListener('message', (e) => seen.push(['listener', e.data]))
  last().open()
  last().receive('AAAB//o=')
  assert.equal(seen.length, 2)
  for (const [, data] of seen) {
    assert.ok(data instanceof ArrayBuffer)
    assert.deepEqual([...new Uint8Array(data)], [0, 0, 1, 255, 250])
  }
})

test('an error frame is kept, dispatched, and its code and reason carried by the following close', () => {
  const ws = new TestSocket('ws://test/doc')
  const events = []
  ws.onservererror = (e) => events.push(['servererror', e.code, e.reason])
  ws.onclose = (e) => events.push(['close', e.code, e.reason, e.transportCode])
  last().open()
  last().receive('{"type":"error","code":4006,"reason":"Rate limit exceeded: 60 ops/min"}')
  last().serverClose(1000)
  assert.deepEqual(ws.lastError, { code: 4006, reason: 'Rate limit exceeded: 60 ops/min' })
  assert.deepEqual(events, [
    ['servererror', 4006, 'Rate limit exceeded: 60 ops/min'],
    ['close', 4006, 'Rate limit exceeded: 60 ops/min', 1000]
  ])
  assert.equal(shouldReconnect({ code: 4006 }), false)
})

test('a close without an error frame keeps the transport code', () => {
  const ws = new TestSocket('ws://test/doc')
  const codes = []
  ws.addEventListener('close', (e) => codes.push(e.code))
  last().serverClose(1006)
  assert.deepEqual(codes, [1006])
  assert.equal(shouldReconnect({ code: 1006 }), true)
})

test('constants, readyState and protocol mirror the native socket', () => {
  const ws = new TestSocket('ws://test/doc')
  assert.equal(TestSocket.CONNECTING, 0)
  assert.equal(TestSocket.CLOSED, 3)
  assert.equal(ws.OPEN, 1)
  assert.equal(ws.readyState, ws.CONNECTING)
  last().open('access_token')
  assert.equal(ws.readyState, ws.OPEN)
  assert.equal(ws.protocol, 'access_token')
  ws.close(1000, 'bye')
  assert.deepEqual(last().closedWith, [1000, 'bye'])
})

test('tokenWebSocket offers the current token first as subprotocol, on every construction', () => {
  let token = 'a.b.c'
  const Socket = tokenWebSocket(() => token, TestSocket)
  new Socket('ws://test/doc') // eslint-disable-line no-new
  assert.deepEqual(last().protocols, ['access_token', 'a.b.c'])
  token = 'd.e.f'
  new Socket('ws://test/doc', ['y-websocket']) // eslint-disable-line no-new
  assert.deepEqual(last().protocols, ['access_token', 'd.e.f', 'y-websocket'])
  assert.throws(() => new (tokenWebSocket('', TestSocket))('ws://test/doc'), TypeError)
})

test('helpers: base64 round trip, error frames, redirects', () => {
  const bytes = new Uint8Array(70000).map((_, i) => i % 256)
  assert.deepEqual(decodeBase64(encodeBase64(bytes)), bytes)
  assert.equal(parseErrorFrame('{"type":"error","code":"4001"}'), null)
  assert.deepEqual(parseErrorFrame('{"type":"error","code":4001}'), { code: 4001, reason: '' })
  assert.equal(redirectUrl({ code: 4009, reason: 'REDIRECT:wss://x/doc' }), 'wss://x/doc')
  assert.equal(redirectUrl({ code: 4009, reason: 'Document active in region: eu' }), null)
})

test('the stock y-websocket provider runs over the wrapper: sync step 1 goes out as base64, updates come in', () => {
  const ydoc = new Y.Doc()
  const provider = new WebsocketProvider('ws://test', 'doc', ydoc, {
    WebSocketPolyfill: tokenWebSocket('a.b.c', TestSocket),
    disableBc: true
  })
  try {
    const socket = last()
    assert.equal(socket.url, 'ws://test/doc')
    assert.deepEqual(socket.protocols, ['access_token', 'a.b.c'])
    socket.open()
    const first = decodeBase64(socket.sent[0])
    assert.deepEqual([...first.subarray(0, 2)], [0, 0]) // messageSync, sync step 1
    // a remote update arrives as a base64 sync-update frame
    const remote = new Y.Doc()
    remote.getText('text').insert(0, 'hello')
    const update = Y.encodeStateAsUpdate(remote)
    const frame = new Uint8Array([0, 2, ...varUint(update.length), ...update])
    socket.receive(encodeBase64(frame))
    assert.equal(ydoc.getText('text').toString(), 'hello')
  } finally {
    provider.destroy()
    provider.awareness.destroy()
  }
})

function varUint (n) {
  const out = []
  while (n > 127) {
    out.push((n & 127) | 128)
    n >>>= 7
  }
  out.push(n)
  return out
}
