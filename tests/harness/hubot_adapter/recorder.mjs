// A Hubot adapter for the tests: everything the robot says is appended as one JSON line to the file named by
// BUILDPLAT_HUBOT_RECORD, so a test can read what would have appeared in chat. (Hubot's Shell adapter needs a
// terminal: it crashes when stdout is a plain file, as it is under the harness.)
//
// It does not import hubot's Adapter class: this file lives outside deploy/hubot/node_modules, where that import
// would not resolve. Hubot only needs the methods below and an EventEmitter that says 'connected'.

import { EventEmitter } from 'node:events'
import { appendFileSync } from 'node:fs'

// Posting to this room makes send() throw, so tests can see how a script copes with a chat service that fails.
const FAILING_ROOM = '!adapter-error'

class Recorder extends EventEmitter {
  constructor (robot, path) {
    super()
    this.robot = robot
    this.name = 'Recorder'
    this.path = path
  }

  // One synchronous append per line: each record is a single write, so a reader never sees half a message.
  record (kind, envelope, strings) {
    for (const text of strings) {
      const entry = {
        kind,
        room: envelope?.room ?? null,
        user: envelope?.user?.name ?? null,
        text: String(text),
        time: new Date().toISOString()
      }
      appendFileSync(this.path, JSON.stringify(entry) + '\n')
    }
  }

  async send (envelope, ...strings) {
    if (envelope?.room === FAILING_ROOM) throw new Error('the recorder was asked to fail')
    this.record('send', envelope, strings)
  }

  async reply (envelope, ...strings) { this.record('reply', envelope, strings) }
  async emote (envelope, ...strings) { this.record('emote', envelope, strings) }
  async topic (envelope, ...strings) { this.record('topic', envelope, strings) }
  async play (envelope, ...strings) { this.record('play', envelope, strings) }

  async run () {
    this.emit('connected')
  }

  close () {
    this.removeAllListeners()
  }
}

export default {
  use (robot) {
    const path = process.env.BUILDPLAT_HUBOT_RECORD
    if (!path) throw new Error('BUILDPLAT_HUBOT_RECORD must name the file to record messages in')
    return new Recorder(robot, path)
  }
}
