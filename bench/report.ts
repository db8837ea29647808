/**
 * `npm run bench -- report`: reads the saved results (bench/results/*.json,
 * written by `--save`) and writes the chart, docs/benchmarks.svg.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { chart } from './lib/chart.js'
import { packageRoot } from './lib/proc.js'
import { loadReports, resultsDir } from './lib/results.js'

/** Writes the chart of the reports saved in `dir` to `out`; returns the scenarios it drew. */
export async function writeReport (dir = resultsDir(), out = join(packageRoot(), 'docs', 'benchmarks.svg')): Promise<string[]> {
  const reports = await loadReports(dir)
  await writeFile(out, chart(reports))
  return reports.map((r) => r.scenario)
}
