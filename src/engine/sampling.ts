/**
 * Batched generation with a KV cache: all prompts advance together, one token per step.
 *
 * The prompts are left-padded and run through the model once (prefill); after that each step
 * feeds only the newest token and attends to the cached keys and values. A row stops at a stop
 * token (included in its completion); a row that reaches maxNewTokens first is truncated. On the
 * host, a stopped row leaves the batch, so later steps compute only the rows still running.
 *
 * Randomness: each call takes one number from the caller's Rng and seeds a private stream of
 * uniform draws from it, one per row per step, in a fixed order whether or not a row has stopped.
 * Tokens can then be chosen on the host (reading the logits back every step) or on the backend
 * (device-generation.ts: the ids read back once per call, plus a stop flag every 8 tokens, which
 * is what a GPU wants), and both give the same tokens. Readbacks go through readback.ts, so a
 * caller can read synchronously (generate) or with await (runAsync(generateSteps(...))).
 */
import * as tf from '@tensorflow/tfjs-core';
import { decodeStep, disposeCache, keepRows, prefill } from './decoding';
import { generateOnDevice } from './device-generation';
import type { ModelConfig } from './model-config';
import { MASKED, type Params } from './model';
import { type Readbacks, runSync } from './readback';
import { Rng } from './rng';
import { type TokenChoice, chooseToken, nextDraws } from './token-choice';

export interface SamplingOptions extends TokenChoice {
  maxNewTokens: number;
  stopIds: readonly number[];
  padId: number;
  /**
   * false runs the whole sequence through the model again for every new token instead of
   * reading keys and values from the cache. Same tokens, far more arithmetic: it exists so the
   * benchmark can measure what the cache saves.
   */
  kvCache?: boolean;
  /**
   * Where tokens are chosen: 'host' reads each step's logits back and picks in JavaScript;
   * 'device' picks with tensor ops and reads back once at the end. 'auto' (the default) picks
   * on the device for webgpu, where every readback waits for the GPU, and on the host elsewhere,
   * where the host loop can stop as soon as every row has stopped.
   */
  tokenChoice?: 'auto' | 'host' | 'device';
}

export interface Generation {
  /** Completion token ids per prompt, stop token included when one was produced. */
  completions: number[][];
  /** True where the row hit maxNewTokens without a stop token. */
  truncated: boolean[];
}

/** The rows' prompts, left-padded to a common width, with a validity mask (1 = real token). */
export interface PaddedPrompts {
  padded: number[][];
  valid: number[][];
  width: number;
}

/** Generates one completion per prompt (repeat a prompt G times in the list for a group). */
export function generate(p: Params, c: ModelConfig, prompts: number[][], o: SamplingOptions, rng: Rng): Generation {
  return runSync(generateSteps(p, c, prompts, o, rng));
}

/** generate() as a computation with readbacks (readback.ts): the same tokens, read either way. */
export function* generateSteps(p: Params, c: ModelConfig, prompts: number[][], o: SamplingOptions, rng: Rng): Readbacks<Generation> {
  checkRoom(c, prompts, o);
  const draws = new Rng(rng.nextUint32());
  const rows = padPrompts(prompts, o.padId);
  const onDevice = o.kvCache !== false && resolveTokenChoice(o.tokenChoice) === 'device';
  return onDevice ? yield* generateOnDevice(p, c, rows, o, draws) : yield* generateOnHost(p, c, rows, o, draws);
}

function resolveTokenChoice(choice: SamplingOptions['tokenChoice'] = 'auto'): 'host' | 'device' {
  if (choice !== 'auto') return choice;
  return tf.getBackend() === 'webgpu' ? 'device' : 'host';
}

function checkRoom(c: ModelConfig, prompts: number[][], o: SamplingOptions): void {
  if (o.maxNewTokens < 1) throw new Error(`generate: maxNewTokens must be at least 1 (got ${o.maxNewTokens})`);
  const promptWidth = Math.max(...prompts.map((q) => q.length));
  if (promptWidth > c.promptAnchor) {
    throw new Error(`generate: a prompt of ${promptWidth} tokens is longer than the model's prompt anchor (${c.promptAnchor})`);
  }
  if (c.promptAnchor + o.maxNewTokens > c.context) {
    throw new Error(`generate: maxNewTokens (${o.maxNewTokens}) exceeds the model's room for completions (${c.context - c.promptAnchor})`);
  }
}

function padPrompts(prompts: number[][], padId: number): PaddedPrompts {
  const width = Math.max(...prompts.map((q) => q.length));
  return {
    padded: prompts.map((q) => [...new Array(width - q.length).fill(padId), ...q]),
    valid: prompts.map((q) => [...new Array(width - q.length).fill(0), ...q.map(() => 1)]),
    width,
  };
}

function* generateOnHost(p: Params, c: ModelConfig, rows: PaddedPrompts, o: SamplingOptions, draws: Rng): Readbacks<Generation> {
  const { padded, valid, width } = rows;
  const B = padded.length;
  const completions: number[][] = padded.map(() => []);
  const done = new Array(B).fill(false);
  const recompute = o.kvCache === false;
  // The rows in the batch, as indices into the prompts: row i of the logits and the cache is batch[i].
  // A row leaves the batch when it stops (its cache rows are dropped, a block copy per layer), so
  // later steps compute only the rows still running: completions end at very different lengths
  // (an answer of 10 tokens beside a 64-token ramble), and without this every row would be
  // computed to the longest one's end.
  let batch = Array.from({ length: B }, (_, b) => b);
  let { logits, cache } = prefill(p, c, padded, valid, !recompute);
  for (let step = 0; step < o.maxNewTokens; step++) {
    const rowLogits = splitRows((yield logits) as Float32Array, logits.shape[0], logits.shape[2]);
    logits.dispose();
    // Every prompt's draw, in the batch or not: the stream stays the same whatever has left it.
    const u = nextDraws(draws, B);
    // Every row in the batch is still running (a stopped row leaves it below), so each takes a
    // token, visible to later queries, a stop token included.
    batch.forEach((b, i) => {
      const id = chooseToken(rowLogits[i] as Float32Array, o, u[b] as number);
      (completions[b] as number[]).push(id);
      (padded[b] as number[]).push(id);
      (valid[b] as number[]).push(1);
      if (o.stopIds.includes(id)) done[b] = true;
    });
    const running = batch.flatMap((b, i) => (done[b] ? [] : [i]));
    if (running.length === 0 || step === o.maxNewTokens - 1) break;
    if (running.length < batch.length) {
      if (cache) cache = keepRows(cache, running);
      batch = running.map((i) => batch[i] as number);
    }
    const out = recompute
      ? prefill(p, c, batch.map((b) => padded[b] as number[]), batch.map((b) => valid[b] as number[]), false, width)
      : hostDecode(p, c, batch.map((b) => padded[b]!.at(-1) as number), c.promptAnchor + step, batch.map((b) => valid[b] as number[]), cache);
    if (cache) disposeCache(cache);
    logits = out.logits;
    cache = out.cache;
  }
  if (cache) disposeCache(cache);
  return { completions, truncated: completions.map((_, b) => !done[b]) };
}

function hostDecode(p: Params, c: ModelConfig, next: number[], position: number, valid: number[][], cache: ReturnType<typeof prefill>['cache']) {
  const B = next.length;
  const Tk = (valid[0] as number[]).length;
  const bias = new Float32Array(B * Tk);
  // The newest token (last column) is always visible to itself; earlier pads are hidden.
  valid.forEach((row, b) => row.forEach((v, j) => { bias[b * Tk + j] = v === 1 || j === Tk - 1 ? 0 : MASKED; }));
  const tokens = tf.tensor2d(next, [B, 1], 'int32');
  const biasTensor = tf.tensor4d(bias, [B, 1, 1, Tk]);
  const out = decodeStep(p, c, tokens, position, biasTensor, cache as NonNullable<typeof cache>);
  tokens.dispose();
  biasTensor.dispose();
  return out;
}

/** A [rows x width] block of values as one view per row. */
function splitRows(data: Float32Array, rows: number, width: number): Float32Array[] {
  return Array.from({ length: rows }, (_, b) => data.subarray(b * width, (b + 1) * width));
}
