/** Epochs name one lifetime of a channel's history (see store/types.ts Position). */
import { randomBytes } from 'node:crypto'

/**
 * A fresh epoch: unique per process start and call. Appends pass one to the
 * store on every call in case history must be restarted, so it must be
 * cheap: random bytes per call cost ~9% of a socket server's CPU.
 */
const EPOCH_PREFIX = randomBytes(6).toString('base64url')
let epochCounter = 0
export function newEpoch (): string {
  return `${EPOCH_PREFIX}${(epochCounter++).toString(36)}`
}
