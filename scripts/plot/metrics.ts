/**
 * Reading metrics files: JSONL, one object per step; numeric fields only.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';


/** One metrics line: its numeric fields only (strings, nulls and nested objects are ignored). */
export type MetricsRow = Record<string, number>;

export interface MetricsRun {
  /** Shown in legends: the file name without .jsonl. */
  label: string;
  rows: MetricsRow[];
}

/** Parses JSONL text; errors name the file and the 1-based line number. */
export function parseMetrics(text: string, source: string): MetricsRow[] {
  const rows: MetricsRow[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new Error(`${source}:${i + 1}: not valid JSON (${why})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new Error(`${source}:${i + 1}: expected a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
    }
    const row: MetricsRow = {};
    for (const [key, v] of Object.entries(value)) {
      if (typeof v === 'number' && Number.isFinite(v)) row[key] = v;
    }
    rows.push(row);
  });
  if (rows.length === 0) throw new Error(`${source}: no metrics lines (the file is empty)`);
  if (!rows.some((r) => r.step !== undefined)) {
    throw new Error(`${source}: no line has a numeric "step" field`);
  }
  return rows;
}

export function readMetricsFile(file: string): MetricsRun {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String(error);
    throw new Error(`${file}: cannot read metrics (${why})`);
  }
  return { label: path.basename(file).replace(/\.jsonl?$/i, ''), rows: parseMetrics(text, file) };
}
