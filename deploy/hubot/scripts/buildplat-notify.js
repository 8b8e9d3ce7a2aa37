// Description:
//   Announces buildplat pipeline results, invalid default.json files and base-image rollouts in chat.
//
// Configuration:
//   BUILDPLAT_HUBOT_TOKEN - when set, POST /buildplat/notify requires "Authorization: Bearer <token>"
//   BUILDPLAT_HUBOT_ROOM - the team's room, used when a notification names none (otherwise "room" is required)
//
// Commands:
//   None
//
// URLS:
//   POST /buildplat/notify - JSON body {"room", "event": "pipeline" | "config" | "base-image", ...}; see README.md
//   GET /buildplat/health - 200 {"ok": true} once this script is loaded (a readiness probe; no token needed)
//
// Notes:
//   The body is validated strictly (400 with {"error": "..."} naming the field) and rendered as one line of plain
//   text (a base-image notification for several apps: a heading and one line per app, all from checked fields).
//   Everything that came from the request is treated as untrusted: control and bidi characters are removed,
//   mentions and chat link markup are defused, and lengths are capped, because a failure reason or a
//   default.json error may quote whatever an application's developer wrote.

'use strict'

const crypto = require('node:crypto')

const ROUTE = '/buildplat/notify'
const RESULTS = ['success', 'failure', 'fixed', 'started']

// Caps, in characters (code points), for text that is shown. Free text is shortened with an ellipsis rather than
// rejected: a truncated failure reason is still worth announcing.
const MAX_REASON = 300
const MAX_ERROR = 200
const MAX_ERRORS_SHOWN = 5
const MAX_MESSAGE = 1500
const MAX_LINK = 2000
const MAX_ROOM = 200
// A base-image rollout tells a team about all of its apps in one message (`apps`); the message shows the first
// MAX_APPS_SHOWN and counts the rest.
const MAX_APPS = 500
const MAX_APPS_SHOWN = 20

// Identifiers that reach chat verbatim are checked against patterns, so they cannot carry markup at all.
const DNS_LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?'
const APP = new RegExp(`^${DNS_LABEL}/${DNS_LABEL}$`)
const VERSION = /^[A-Za-z0-9][A-Za-z0-9.+~_-]{0,127}$/ // a Debian version that is also an image tag
const STAGE = /^[a-z][a-z0-9-]{0,39}$/
const BUILDFACT = /^[a-z][a-z0-9-]{0,39}$/
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/ // an OCI tag
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/ // an OCI digest, e.g. sha256:<64 hex>
// C0/C1 controls and DEL, plus the invisible characters used to reorder or hide text (bidi overrides and
// isolates, zero-width characters, the BOM), which could make a message read differently from what it says.
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/gu

const FIELDS = {
  pipeline: ['room', 'event', 'app', 'version', 'stage', 'result', 'link', 'reason'],
  config: ['room', 'event', 'app', 'repo', 'errors'],
  'base-image': ['room', 'event', 'app', 'apps', 'buildfact', 'old', 'new', 'tag']
}
// The fields of one entry of a base-image notification's `apps` list.
const BASE_IMAGE_APP_FIELDS = ['app', 'old', 'tag']

// A request the script refuses; `field` is named in the error so the sender knows what to fix.
class Invalid extends Error {
  constructor (field, problem) {
    super(field ? `${field}: ${problem}` : problem)
    this.name = 'Invalid'
  }
}

// --- validation --------------------------------------------------------------------------------------------

function typeName (value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

// `label` names the field in errors when it is nested (e.g. "old.digest").
function requireString (body, field, { optional = false, pattern = null, max = 10000, what = null, label = field } = {}) {
  const value = body[field]
  if (value === undefined) {
    if (optional) return undefined
    throw new Invalid(label, 'is required')
  }
  if (typeof value !== 'string') throw new Invalid(label, `must be a string, not ${typeName(value)}`)
  if (value.trim() === '') throw new Invalid(label, 'must not be empty')
  if (value.length > max) throw new Invalid(label, `is longer than ${max} characters`)
  if (pattern && !pattern.test(value)) throw new Invalid(label, `must be ${what}`)
  return value
}

function requireLink (body) {
  const link = requireString(body, 'link', { optional: true, max: MAX_LINK })
  if (link === undefined) return undefined
  let url
  try {
    url = new URL(link)
  } catch (error) {
    throw new Invalid('link', 'must be an absolute http(s) URL')
  }
  // Only web links: javascript:, data: or chat-specific schemes have no business in a build announcement.
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Invalid('link', 'must be an absolute http(s) URL')
  }
  if (url.username || url.password) throw new Invalid('link', 'must not contain credentials')
  // The URL class percent-encodes spaces, angle brackets and quotes, so the result cannot break out of the line;
  // "@" is still allowed in a path or query, where "%40" means the same and cannot be taken for a mention.
  return url.href.replace(/@/g, '%40')
}

function requireImage (body, field, label = field) {
  const value = body[field]
  if (value === undefined) throw new Invalid(label, 'is required')
  if (typeName(value) !== 'object') throw new Invalid(label, `must be an object {version, digest}, not ${typeName(value)}`)
  for (const key of Object.keys(value)) {
    if (key !== 'version' && key !== 'digest') throw new Invalid(`${label}.${key}`, 'is not a known field')
  }
  return {
    version: requireString(value, 'version', { pattern: VERSION, what: 'a version such as 17.0.2', label: `${label}.version` }),
    digest: requireString(value, 'digest', { pattern: DIGEST, what: 'an image digest such as sha256:<hex>', label: `${label}.digest` })
  }
}

// The `apps` list of a base-image notification: [{app, old, tag?}, ...], each app once.
function requireApps (body) {
  const apps = body.apps
  if (!Array.isArray(apps)) throw new Invalid('apps', `must be a list of {app, old, tag}, not ${typeName(apps)}`)
  if (apps.length === 0) throw new Invalid('apps', 'must list at least one app')
  if (apps.length > MAX_APPS) throw new Invalid('apps', `must list at most ${MAX_APPS} apps`)
  const seen = new Set()
  return apps.map((entry, index) => {
    const label = `apps[${index}]`
    if (typeName(entry) !== 'object') throw new Invalid(label, `must be an object {app, old, tag}, not ${typeName(entry)}`)
    for (const key of Object.keys(entry)) {
      if (!BASE_IMAGE_APP_FIELDS.includes(key)) throw new Invalid(`${label}.${key}`, 'is not a known field')
    }
    const app = requireString(entry, 'app', { pattern: APP, what: 'namespace/name (DNS-1123 labels)', label: `${label}.app` })
    if (seen.has(app)) throw new Invalid(`${label}.app`, `lists ${app} a second time`)
    seen.add(app)
    return {
      app,
      old: requireImage(entry, 'old', `${label}.old`),
      tag: requireString(entry, 'tag', { optional: true, pattern: TAG, what: 'an image tag', label: `${label}.tag` })
    }
  })
}

function rejectUnknownFields (body, event) {
  const known = FIELDS[event]
  for (const key of Object.keys(body)) {
    if (!known.includes(key)) throw new Invalid(key, `is not a field of a ${event} notification`)
  }
}

// Checks the whole body and returns a clean notification; throws Invalid naming the first bad field.
// `defaultRoom` (may be empty) is used when the body names no room.
function validate (body, defaultRoom = '') {
  if (typeName(body) !== 'object') throw new Invalid(null, `body must be a JSON object, not ${typeName(body)}`)
  const given = requireString(body, 'room', { max: MAX_ROOM, optional: defaultRoom !== '' })
  const room = given ?? defaultRoom
  // The room picks where the message goes, so it is refused rather than cleaned when it has hidden characters.
  if (room.match(UNSAFE_CHARS)) throw new Invalid('room', 'must not contain control or invisible characters')
  const event = requireString(body, 'event')
  if (!Object.hasOwn(FIELDS, event)) {
    throw new Invalid('event', `must be one of ${Object.keys(FIELDS).join(', ')}`)
  }
  rejectUnknownFields(body, event)
  const app = (optional) => requireString(body, 'app', { optional, pattern: APP, what: 'namespace/name (DNS-1123 labels)' })

  if (event === 'pipeline') {
    const result = requireString(body, 'result')
    if (!RESULTS.includes(result)) throw new Invalid('result', `must be one of ${RESULTS.join(', ')}`)
    return {
      room,
      event,
      app: app(false),
      version: requireString(body, 'version', { pattern: VERSION, what: 'a version such as 3.57.0' }),
      stage: requireString(body, 'stage', { pattern: STAGE, what: 'a stage name such as deploy' }),
      result,
      link: requireLink(body),
      reason: requireString(body, 'reason', { optional: true })
    }
  }

  if (event === 'config') {
    const notification = { room, event, app: app(true), repo: requireString(body, 'repo', { optional: true }) }
    if (notification.app === undefined && notification.repo === undefined) {
      throw new Invalid('app', 'is required (or repo)')
    }
    const errors = body.errors
    if (errors === undefined) throw new Invalid('errors', 'is required')
    if (!Array.isArray(errors)) throw new Invalid('errors', `must be a list of strings, not ${typeName(errors)}`)
    if (errors.length === 0) throw new Invalid('errors', 'must list at least one error')
    errors.forEach((error, index) => {
      if (typeof error !== 'string') throw new Invalid(`errors[${index}]`, `must be a string, not ${typeName(error)}`)
    })
    notification.errors = errors
    return notification
  }

  // base-image: one app (`app`, `old`, `tag`), or several (`apps`: a list of them), moved to one new base
  const buildfact = requireString(body, 'buildfact', { pattern: BUILDFACT, what: 'a buildfact name such as java' })
  if (body.apps !== undefined) {
    for (const key of ['app', 'old', 'tag']) {
      if (body[key] !== undefined) throw new Invalid(key, 'goes inside each entry of apps, not beside it')
    }
    return { room, event, buildfact, new: requireImage(body, 'new'), apps: requireApps(body) }
  }
  if (body.app === undefined) throw new Invalid('app', 'is required (or apps)')
  const single = {
    app: app(false),
    old: requireImage(body, 'old'),
    tag: requireString(body, 'tag', { optional: true, pattern: TAG, what: 'an image tag' })
  }
  return { room, event, buildfact, new: requireImage(body, 'new'), apps: [single] }
}

// --- rendering -----------------------------------------------------------------------------------------------

// Cuts `text` to `max` code points (never half a surrogate pair), ending with an ellipsis when it was longer.
function truncate (text, max) {
  const chars = Array.from(text)
  return chars.length <= max ? text : chars.slice(0, max - 1).join('') + '…'
}

// Makes untrusted free text safe to show as one line in any chat: whitespace runs (newlines included) become
// one space, hidden characters go, and the markup chat systems act on is defused without changing how the text
// reads: "@here"/"@channel"/"@user" would notify people, "<!channel>"/"<@U123>"/"<url|label>" is Slack's link and
// mention syntax, and "[label](url)" disguises a link in Markdown chats.
function clean (text, max) {
  const flat = text.replace(/\s+/gu, ' ').replace(UNSAFE_CHARS, '').trim()
  const defused = flat
    .replace(/@/g, '\uff20') // FULLWIDTH COMMERCIAL AT: reads as "@", mentions nobody
    .replace(/</g, '\u2039') // SINGLE LEFT-POINTING ANGLE QUOTATION MARK
    .replace(/>/g, '\u203a')
    .replace(/\]\(/g, '] (')
  return truncate(defused, max)
}

function shortDigest (digest) {
  const [algorithm, hex] = digest.split(':')
  return `${algorithm}:${hex.slice(0, 12)}`
}

const PIPELINE_WORDS = {
  started: ['⏳', 'started'],
  success: ['✅', 'succeeded'],
  fixed: ['🔧', 'is fixed'],
  failure: ['❌', 'failed']
}

function render (n) {
  if (n.event === 'pipeline') {
    const [icon, verb] = PIPELINE_WORDS[n.result]
    let text = `${icon} ${n.app} ${n.version}: ${n.stage} ${verb}`
    if (n.reason !== undefined) text += ` — ${clean(n.reason, MAX_REASON)}`
    if (n.link !== undefined) text += ` ${n.link}`
    return text
  }
  if (n.event === 'config') {
    const subject = n.app ?? clean(n.repo, 200)
    const count = n.errors.length
    const shown = n.errors.slice(0, MAX_ERRORS_SHOWN).map((error) => clean(error, MAX_ERROR))
    const more = count > shown.length ? ` (and ${count - shown.length} more)` : ''
    return truncate(`⚠️ ${subject}: default.json is invalid, ${count} ${count === 1 ? 'error' : 'errors'}: ${shown.join(' | ')}${more}`, MAX_MESSAGE)
  }
  const image = (i) => `${i.version} (${shortDigest(i.digest)})`
  const tagged = (a) => (a.tag !== undefined ? `, tagged ${a.tag}` : '')
  if (n.apps.length === 1) {
    const [a] = n.apps
    return `🧱 ${a.app}: ${n.buildfact} base image ${image(a.old)} → ${image(n.new)}${tagged(a)}`
  }
  // Several apps: a heading, then one line per app (every part was checked against a strict pattern).
  const shown = n.apps.slice(0, MAX_APPS_SHOWN).map((a) => `• ${a.app}: from ${image(a.old)}${tagged(a)}`)
  const more = n.apps.length > shown.length ? [`… and ${n.apps.length - shown.length} more`] : []
  const heading = `🧱 ${n.buildfact} base image → ${image(n.new)} for ${n.apps.length} apps:`
  return [heading, ...shown, ...more].join('\n')
}

// --- HTTP ----------------------------------------------------------------------------------------------------

// Compares SHA-256 digests rather than the strings, so the comparison takes the same time whatever the length
// or content of the presented token.
function tokenMatches (header, token) {
  const match = /^Bearer +(\S+)$/i.exec(header ?? '')
  if (!match) return false
  const presented = crypto.createHash('sha256').update(match[1], 'utf8').digest()
  const expected = crypto.createHash('sha256').update(token, 'utf8').digest()
  return crypto.timingSafeEqual(presented, expected)
}

function answer (res, status, body) {
  res.status(status).type('application/json').send(JSON.stringify(body))
}

module.exports = (robot) => {
  const token = process.env.BUILDPLAT_HUBOT_TOKEN || ''
  const defaultRoom = (process.env.BUILDPLAT_HUBOT_ROOM || '').trim()
  if (token === '') {
    robot.logger.warn(`buildplat-notify: BUILDPLAT_HUBOT_TOKEN is not set; ${ROUTE} accepts unauthenticated posts`)
  }

  // Returns true when the request may go on; otherwise has answered 401. Runs before anything looks at the body.
  const authorised = (req, res) => {
    if (token === '' || tokenMatches(req.get('authorization'), token)) return true
    res.set('WWW-Authenticate', 'Bearer realm="buildplat"')
    answer(res, 401, { error: 'missing or wrong bearer token' })
    robot.logger.warn(`buildplat-notify: refused a post from ${req.ip}: missing or wrong bearer token`)
    return false
  }

  // The last line of defence for the token: it is never put into a message, even if a sender quoted it.
  const redact = (text) => (token === '' ? text : text.split(token).join('[redacted]'))

  robot.router.post(ROUTE, async (req, res) => {
    if (!authorised(req, res)) return
    if (!req.is('application/json')) {
      answer(res, 415, { error: 'Content-Type: must be application/json' })
      return
    }
    let notification
    try {
      notification = validate(req.body, defaultRoom)
    } catch (error) {
      if (!(error instanceof Invalid)) throw error
      answer(res, 400, { error: error.message })
      return
    }
    const text = redact(render(notification))
    try {
      await robot.messageRoom(notification.room, text)
    } catch (error) {
      robot.logger.error(`buildplat-notify: the chat adapter failed to post to ${notification.room}: ${error}`)
      answer(res, 502, { error: 'the chat adapter failed to post the message' })
      return
    }
    const about = notification.apps ? `${notification.apps.length} app(s)` : (notification.app ?? 'a repo')
    robot.logger.info(`buildplat-notify: ${notification.event} notification for ${about} posted to ${notification.room}`)
    answer(res, 202, { ok: true })
  })

  // Answers only once this script is loaded, unlike the port, which opens before scripts load.
  robot.router.get('/buildplat/health', (req, res) => answer(res, 200, { ok: true }))

  // Hubot parses JSON bodies before any route runs; its parse errors would otherwise reach Express' default HTML
  // error page. Errors on this route answer in JSON, after the same token check.
  robot.router.use(ROUTE, (error, req, res, next) => {
    if (res.headersSent) return next(error)
    if (!authorised(req, res)) return
    if (error.type === 'entity.parse.failed') return answer(res, 400, { error: 'body: is not a valid JSON object' })
    if (error.type === 'entity.too.large') return answer(res, 413, { error: 'body: is too large' })
    const status = Number.isInteger(error.status) && error.status >= 400 && error.status < 500 ? error.status : 500
    robot.logger.error(`buildplat-notify: ${status} on ${ROUTE}: ${error.message}`)
    answer(res, status, { error: status === 500 ? 'internal error' : `body: ${error.message}` })
  })
}

// Exposed for unit tests and for anyone who wants to render a notification without a robot.
module.exports.validate = validate
module.exports.render = render
module.exports.Invalid = Invalid
