/**
 * Saved benchmark results: `--save` writes a scenario's report, with the date
 * it was measured, to bench/results/<scenario>.json (the latest run per
 * scenario, committed); `report` reads them back to draw the chart.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ScenarioReport } from '../index.js'
import { packageRoot } from './proc.js'

/** The chart's order; a scenario without a saved result is left out. */
export const SCENARIOS = ['relay', 'latency', 'fanout', 'connect', 'churn', 'memory', 'allocate', 'scale'] as const

export interface SavedReport extends ScenarioReport {
  /** when it was measured, ISO 8601 */
  readonly date: string
}

export function resultsDir (): string {
  return join(packageRoot(), 'bench', 'results')
}

/** Writes `report` with today's date as `<dir>/<scenario>.json`; returns the file. */
export async function saveReport (report: ScenarioReport, dir = resultsDir(), now = new Date()): Promise<string> {
  const file = join(dir, `${report.scenario}.json`)
  await mkdir(dir, { recursive: true })
  await writeFile(file, `${JSON.stringify({ ...report, date: now.toISOString() }, null, 2)}\n`)
  return file
}

/** The saved reports of `scenarios` found in `dir`, in that order; missing files are skipped. */
export async function loadReports (dir = resultsDir(), scenarios: readonly string[] = SCENARIOS): Promise<SavedReport[]> {
  const reports: SavedReport[] = []
  for (const scenario of scenarios) {
    let text: string
    try {
      text = await readFile(join(dir, `${scenario}.json`), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw err
    }
    reports.push(JSON.parse(text) as SavedReport)
  }
  return reports
}
