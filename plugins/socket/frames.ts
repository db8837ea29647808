/**
 * Server → client frames, serialized by hand where it is the hot path. Every
 * name spliced in raw (users, channels, offsets) has already been validated
 * against a pattern that needs no JSON escaping.
 */
import type { FrameErrorCode } from '../errors.js'
import type { RequestId } from './protocol.js'

export function welcomeFrame (user: string, server: string, channel: string): string {
  return JSON.stringify({ type: 'welcome', user, server, channel })
}

export function ackFrame (id: RequestId, channel: string, offset: string): string {
  return `{"type":"ack","id":${JSON.stringify(id)},"channel":"${channel}","offset":"${offset}"}`
}

export function errorFrame (code: FrameErrorCode, message: string, id?: RequestId): string {
  return JSON.stringify(id === undefined ? { type: 'error', code, message } : { type: 'error', id, code, message })
}

/**
 * A message frame up to (not including) its offset. The store appends the
 * offset and `"}` when it assigns one, so the frame is serialized exactly once.
 */
export function messagePrefix (channel: string, from: string, to: string | null, dataJson: string, ts: number): string {
  const toField = to === null ? '' : `"to":"${to}",`
  return `{"type":"message","channel":"${channel}","from":"${from}",${toField}"data":${dataJson},"ts":${ts},"offset":"`
}
