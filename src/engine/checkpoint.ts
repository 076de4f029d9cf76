/**
 * Checkpoints: weights + model config + tokenizer vocabulary + free-form metadata, as one JSON
 * document with base64 float32 weights, so the same file loads in Node and in the browser.
 *
 * Loading validates everything before touching a model: a corrupt file, a wrong format version,
 * a vocabulary or shape that does not match gives an error naming the field.
 */
import { z } from 'zod';
import { type ModelConfig, ModelConfigSchema } from './model-config';
import { weightShapes } from './model';

export const CHECKPOINT_FORMAT = 'grpo-lab-checkpoint';
export const CHECKPOINT_FORMAT_VERSION = 1;

const WeightSchema = z.object({ shape: z.array(z.number().int().nonnegative()), data: z.string() });

const CheckpointSchema = z.object({
  format: z.literal(CHECKPOINT_FORMAT),
  formatVersion: z.literal(CHECKPOINT_FORMAT_VERSION),
  model: ModelConfigSchema,
  tokenizer: z.object({ vocab: z.array(z.string()).min(8) }),
  meta: z.record(z.string(), z.unknown()),
  weights: z.record(z.string(), WeightSchema),
});

export interface Checkpoint {
  model: ModelConfig;
  vocab: string[];
  meta: Record<string, unknown>;
  weights: Record<string, Float32Array>;
}

export function serializeCheckpoint(c: Checkpoint): string {
  const weights: Record<string, { shape: number[]; data: string }> = {};
  for (const [name, shape] of weightShapes(c.model)) {
    const values = c.weights[name];
    if (!values) throw new Error(`checkpoint: weight "${name}" is missing`);
    weights[name] = { shape, data: bytesToBase64(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)) };
  }
  return JSON.stringify({
    format: CHECKPOINT_FORMAT,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    model: c.model,
    tokenizer: { vocab: c.vocab },
    meta: c.meta,
    weights,
  });
}

/** Parses and checks a checkpoint; expectVocab, when given, must equal the file's vocabulary. */
export function parseCheckpoint(text: string, expectVocab?: readonly string[]): Checkpoint {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`checkpoint: not valid JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error('checkpoint: expected a JSON object with format, formatVersion, model, tokenizer, meta and weights');
  }
  const version = (raw as { formatVersion?: unknown } | null)?.formatVersion;
  if (raw && typeof raw === 'object' && version !== undefined && version !== CHECKPOINT_FORMAT_VERSION) {
    throw new Error(`checkpoint.formatVersion: ${String(version)} is not supported (allowed: ${CHECKPOINT_FORMAT_VERSION})`);
  }
  const parsed = CheckpointSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`checkpoint.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  const c = parsed.data;
  if (c.model.vocabSize !== c.tokenizer.vocab.length) {
    throw new Error(`checkpoint.model.vocabSize: ${c.model.vocabSize} does not match the vocabulary (${c.tokenizer.vocab.length} tokens)`);
  }
  if (expectVocab && (expectVocab.length !== c.tokenizer.vocab.length || expectVocab.some((t, i) => c.tokenizer.vocab[i] !== t))) {
    throw new Error('checkpoint.tokenizer.vocab: the vocabulary differs from this build\'s tokenizer');
  }
  const weights: Record<string, Float32Array> = {};
  for (const [name, shape] of weightShapes(c.model)) {
    const w = c.weights[name];
    if (!w) throw new Error(`checkpoint.weights.${name}: missing`);
    if (w.shape.join(',') !== shape.join(',')) {
      throw new Error(`checkpoint.weights.${name}.shape: [${w.shape}] does not match the model ([${shape}])`);
    }
    const bytes = base64ToBytes(w.data, `checkpoint.weights.${name}.data`);
    const expected = shape.reduce((a, b) => a * b, 1);
    if (bytes.byteLength !== expected * 4) {
      throw new Error(`checkpoint.weights.${name}.data: ${bytes.byteLength} bytes, expected ${expected * 4}`);
    }
    const values = new Float32Array(bytes.buffer, bytes.byteOffset, expected);
    if (values.some((v) => !Number.isFinite(v))) throw new Error(`checkpoint.weights.${name}: contains NaN or infinite values`);
    weights[name] = values;
  }
  return { model: c.model, vocab: c.tokenizer.vocab, meta: c.meta, weights };
}

// btoa/atob exist in Node 20, browsers and workers; chunks keep String.fromCharCode's arguments small.
function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(binary);
}

function base64ToBytes(text: string, field: string): Uint8Array {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw new Error(`${field}: not valid base64`);
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
