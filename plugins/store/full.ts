/**
 * Redis at `maxmemory` (policy noeviction) refuses every command that may grow memory with an
 * error starting `OOM command not allowed`, from a script too. Sends fail with it until memory
 * frees; the fleet's own scripts are exempt (scripts.ts `allowOom`).
 */
export function isStoreFull (err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('OOM ')
}
