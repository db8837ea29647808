/**
 * The package root (the folder holding package.json, client/ and infra/),
 * whether this code runs from the sources (tests) or from dist/ (npm start).
 */
import { basename, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

export function packageRoot (): string {
  const root = dirname(dirname(fileURLToPath(import.meta.url)))
  return basename(root) === 'dist' ? dirname(root) : root
}
