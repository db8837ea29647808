/** Orders two offsets of one channel (negative: `a` is older). Offsets compare as numbers, never as strings. */
export function compareOffsets (a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am - bm || as - bs
}
