/**
 * How a stored message's frame is put together and how live frames travel,
 * written once for both sides: the TypeScript here and the Lua scripts (which
 * splice in the `LUA_*` pieces below, so the two cannot drift).
 *
 * A message frame is `<prefix><epoch>","prev":"<prev>","offset":"<offset>"}`:
 * the socket server writes the prefix (frames.ts `messagePrefix`, ending in
 * `"epoch":"`), the store adds the channel's epoch, the offset of the message
 * before this one in the channel (`prev`, "0-0" for the first), the offset it
 * assigns and the end. A stream entry keeps the frame up to the offset; the
 * offset is the entry's id. `prev` chains a channel's messages: whoever holds
 * the one before knows whether anything came between (hub.ts), even where
 * messages are not published in offset order (a direct conversation on Redis
 * Cluster reaches its users' personal channels in a second step, after its
 * append, so two senders' messages can cross on the way). Frames stored before
 * `prev` existed have none.
 *
 * One PUBLISH carries every new frame of a channel from one batch, one frame a
 * line (frames are JSON, so they hold no raw newline). Events (presence, the
 * `joined`/`left` notices) travel the same way, one per publish, and have no
 * offset. What a store hands on is a `LiveFrame`: the frame with its offset and
 * the channel it belongs to, found here once, so nothing downstream parses it.
 */
import type { LiveFrame, StoredFrame } from './types.js'

const OFFSET_FIELD = '","offset":"'
const PREV_FIELD = '","prev":"'
const FRAME_END = '"}'
/** Between the frames of one publish. */
export const LIVE_SEPARATOR = '\n'

/** Lua: a stream entry's field from a prefix, an epoch and the previous offset (Lua expressions). */
export function luaStoredField (p: string, e: string, prev: string): string {
  return `${p} .. ${e} .. '${PREV_FIELD}' .. ${prev} .. '${OFFSET_FIELD}'`
}

/** Lua: the finished frame from a stream entry's field and id (Lua expressions). */
export function luaFinish (field: string, id: string): string {
  return `${field} .. ${id} .. '${FRAME_END}'`
}

/** Lua: the separator between the frames of one publish, as a Lua string literal. */
export const LUA_LIVE_SEPARATOR = "'\\n'"

/** The frame as the script finishes it. */
export function finishFrame (framePrefix: string, epoch: string, prev: string, offset: string): string {
  return `${framePrefix}${epoch}${PREV_FIELD}${prev}${OFFSET_FIELD}${offset}${FRAME_END}`
}

/** The frame from a stream entry's field and id (as `luaFinish`). */
export function finishStored (field: string, id: string): string {
  return `${field}${id}${FRAME_END}`
}

/**
 * A stored frame with its data replaced (an edit, a delete: see amend-script.ts, which does the same in Lua): the
 * data runs from the first `"data":` (the fields before it are validated names) to the last `,"ts":` (after the
 * data come only ts, epoch, prev and offset); an earlier edit's `"edited"` is in that run and goes too. `mark` is
 * spliced in after the new data.
 */
export function rewriteData (frame: string, dataJson: string, mark: string): string {
  const data = frame.indexOf('"data":')
  const ts = frame.lastIndexOf(',"ts":')
  if (data < 0 || ts < data) return frame
  return `${frame.slice(0, data)}"data":${dataJson}${mark}${frame.slice(ts)}`
}

/** An amendment's mid, as its dedup key names it: apart from the messages' (a message and an edit may share a mid). */
export function amendmentMid (mid: string): string {
  return `amend:${mid}`
}

/** How every message frame begins: its channel comes second (frames.ts `messagePrefix` writes it). */
export const MESSAGE_HEAD = '{"type":"message","channel":"'

/** How every message frame of `from` in `channel` begins (frames.ts `messagePrefix` puts the sender third). */
export function senderHead (channel: string, from: string): string {
  return `${MESSAGE_HEAD}${channel}","from":"${from}"`
}

/** The channel named at the head of a message frame (`messagePrefix` puts it second), or undefined for any other frame. */
export function channelOf (frame: string): string | undefined {
  if (!frame.startsWith(MESSAGE_HEAD)) return undefined
  const end = frame.indexOf('"', MESSAGE_HEAD.length)
  return end < 0 ? undefined : frame.slice(MESSAGE_HEAD.length, end)
}

const EPOCH_FIELD = '"epoch":"'

/** One frame heard on `channel`'s live channel. A direct conversation's message, heard on a personal channel, belongs to the conversation. */
export function liveFrame (channel: string, text: string): LiveFrame {
  const at = text.endsWith(FRAME_END) ? text.lastIndexOf(OFFSET_FIELD) : -1
  if (at < 0) return eventFrame(channel, text)
  const offset = text.slice(at + OFFSET_FIELD.length, -FRAME_END.length)
  // Before the offset: `prev` (when the frame has one), and before that the epoch (finishFrame). Searched backwards
  // from the offset, so nothing in the message's data (earlier in the text) can be taken for them.
  const p = text.lastIndexOf(PREV_FIELD, at)
  const hasPrev = p >= 0 && text.indexOf('"', p + PREV_FIELD.length) === at
  const prev = hasPrev ? text.slice(p + PREV_FIELD.length, at) : undefined
  const epochEnd = hasPrev ? p : at
  const from = text.lastIndexOf(EPOCH_FIELD, epochEnd)
  const epoch = from < 0 ? undefined : text.slice(from + EPOCH_FIELD.length, epochEnd)
  return { channel: channel.startsWith('user:') ? channelOf(text) ?? channel : channel, offset, epoch, prev, text }
}

/** An event heard on `channel` (presence, a `joined`/`left` notice): no offset, never stored. */
export function eventFrame (channel: string, text: string): LiveFrame {
  return { channel, offset: undefined, epoch: undefined, text }
}

/** The frames of one publish on `channel`'s live channel, in order. */
export function splitLive (channel: string, payload: string): LiveFrame[] {
  if (!payload.includes(LIVE_SEPARATOR)) return [liveFrame(channel, payload)]
  return payload.split(LIVE_SEPARATOR).map((text) => liveFrame(channel, text))
}

/** A script's flat reply of stored frames, `offset, frame, offset, frame, …`, as pairs. */
export function storedFrames (flat: readonly string[], from = 0): StoredFrame[] {
  const frames: StoredFrame[] = []
  for (let i = from; i + 1 < flat.length; i += 2) frames.push({ offset: flat[i] as string, text: flat[i + 1] as string })
  return frames
}
