/**
 * Helpers shared by the Node entry points: number flags with clear errors, JSONL output, a
 * progress bar, and checkpoint files.
 */
import { mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { dirname } from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { type Checkpoint, parseCheckpoint, serializeCheckpoint } from '../src/engine/checkpoint';

export function intFlag(name: string, min = 0): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: "${value}" is not an integer >= ${min}`);
    return n;
  };
}

export function numberFlag(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new Error(`--${name}: "${value}" is not a number`);
    return n;
  };
}

export function oneOf<T extends string>(name: string, allowed: readonly T[]): (value: string) => T {
  return (value) => {
    if (!allowed.includes(value as T)) throw new Error(`--${name}: "${value}" is not allowed (allowed: ${allowed.join(', ')})`);
    return value as T;
  };
}

/** A comma-separated list of allowed values ("wasm,webgpu"). */
export function listFlag<T extends string>(name: string, allowed: readonly T[]): (value: string) => T[] {
  const one = oneOf(name, allowed);
  return (value) => value.split(',').map((v) => one(v.trim()));
}

/** A comma-separated list of integers >= min ("1,2"). */
export function intListFlag(name: string, min = 0): (value: string) => number[] {
  const one = intFlag(name, min);
  return (value) => value.split(',').map((v) => one(v.trim()));
}

/**
 * Parses the command line of a program built with exitOverride(). Commander has already printed
 * its own errors (and the help); a flag parser's error (intFlag, oneOf) is printed here.
 */
export function parseOrExit<T extends object>(program: Command): T {
  try {
    program.parse();
  } catch (e) {
    const exitCode = (e as { exitCode?: number }).exitCode;
    if (exitCode === undefined) console.error(`error: ${(e as Error).message}`);
    process.exit(exitCode ?? 1);
  }
  return program.opts<T>();
}

export class JsonlWriter {
  constructor(private readonly path: string | undefined) {
    if (path) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, '');
    }
  }

  write(record: object): void {
    if (this.path) appendFileSync(this.path, JSON.stringify(record) + '\n');
  }
}

export function saveCheckpoint(path: string, c: Checkpoint): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, serializeCheckpoint(c));
}

export function loadCheckpoint(path: string, vocab: readonly string[]): Checkpoint {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`--checkpoint: cannot read ${path} (${(e as Error).message})`);
  }
  return parseCheckpoint(text, vocab);
}

/** A progress bar with a free-text status line; silent when stdout is not a terminal. */
export function progressBar(total: number): { update(value: number, status: string): void; stop(): void } {
  const bar = new cliProgress.SingleBar(
    { format: '{bar} {value}/{total} | {status}', hideCursor: true, noTTYOutput: false, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { status: '' });
  return {
    update: (value, status) => bar.update(value, { status }),
    stop: () => bar.stop(),
  };
}

export function fmt(x: number | undefined, digits = 3): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}
