/**
 * Landing page. The full lab (controls, charts, samples, the trainer worker) comes later; for now
 * the page says what the lab is and whether a shipped base model is present.
 */
import { useEffect, useState } from 'react';
import { z } from 'zod';

/** Where the pretrained base checkpoint is served from (public/checkpoints/base.json). */
export const BASE_CHECKPOINT_URL = `${import.meta.env.BASE_URL}checkpoints/base.json`;

/**
 * Only the fields the landing page shows. The checkpoint format itself is owned by
 * src/engine/checkpoint.ts; this reads it loosely so that new fields never break the page.
 */
const CheckpointSummarySchema = z.looseObject({
  formatVersion: z.union([z.number(), z.string()]),
  model: z.looseObject({
    name: z.string().optional(),
    layers: z.number().optional(),
    dModel: z.number().optional(),
    heads: z.number().optional(),
    context: z.number().optional(),
    vocabSize: z.number().optional(),
  }),
  meta: z
    .looseObject({
      parameters: z.number().optional(),
      step: z.number().optional(),
      eval: z.record(z.string(), z.number()).optional(),
    })
    .optional(),
});

type CheckpointSummary = z.infer<typeof CheckpointSummarySchema>;

type BaseModelState =
  | { kind: 'loading' }
  | { kind: 'missing' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'loaded'; checkpoint: CheckpointSummary };

async function loadBaseModel(signal: AbortSignal): Promise<BaseModelState> {
  const response = await fetch(BASE_CHECKPOINT_URL, { signal });
  // Vite's dev and preview servers answer unknown paths with index.html (status 200), so a
  // response that is not JSON means the checkpoint is not there.
  const type = response.headers.get('content-type') ?? '';
  if (!response.ok || !type.includes('json')) return { kind: 'missing' };
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    return { kind: 'invalid', reason: 'the file is not valid JSON' };
  }
  const parsed = CheckpointSummarySchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || 'file';
    return { kind: 'invalid', reason: `${where}: ${issue?.message ?? 'unexpected shape'}` };
  }
  return { kind: 'loaded', checkpoint: parsed.data };
}

function useBaseModel(): BaseModelState {
  const [state, setState] = useState<BaseModelState>({ kind: 'loading' });
  useEffect(() => {
    const controller = new AbortController();
    loadBaseModel(controller.signal)
      .then(setState)
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        console.warn('base model: fetch failed', error);
        setState({ kind: 'missing' });
      });
    return () => controller.abort();
  }, []);
  return state;
}

const numberFormat = new Intl.NumberFormat('en-US');

function percent(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function BaseModelDetails({ checkpoint }: { checkpoint: CheckpointSummary }) {
  const model = checkpoint.model;
  const scores = checkpoint.meta?.eval;
  const rows: [label: string, value: string, testId: string][] = [];
  rows.push(['Model', model?.name ?? 'unnamed', 'base-model-name']);
  if (checkpoint.meta?.parameters !== undefined) {
    rows.push(['Parameters', numberFormat.format(checkpoint.meta.parameters), 'base-model-parameters']);
  }
  if (model?.layers !== undefined && model.dModel !== undefined && model.heads !== undefined) {
    rows.push([
      'Shape',
      `${model.layers} layers, width ${model.dModel}, ${model.heads} heads`,
      'base-model-shape',
    ]);
  }
  if (model?.context !== undefined) rows.push(['Context', `${model.context} tokens`, 'base-model-context']);
  if (model?.vocabSize !== undefined) rows.push(['Vocabulary', `${model.vocabSize} tokens`, 'base-model-vocab']);
  if (checkpoint.meta?.step !== undefined) rows.push(['Pretraining steps', String(checkpoint.meta.step), 'base-model-steps']);
  if (scores?.['eval/pass@1'] !== undefined && scores['eval/pass@1_any_format'] !== undefined) {
    rows.push([
      'Held-out addition, pass@1',
      `${percent(scores['eval/pass@1'])} in the answer format, ${percent(scores['eval/pass@1_any_format'])} format-blind`,
      'base-model-pass1',
    ]);
  }
  rows.push(['Checkpoint format', String(checkpoint.formatVersion), 'base-model-format']);

  return (
    <dl className="facts" data-testid="base-model-details">
      {rows.map(([label, value, testId]) => (
        <div key={testId} className="facts__row">
          <dt>{label}</dt>
          <dd data-testid={testId}>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function BaseModelSection() {
  const state = useBaseModel();
  return (
    <section className="card" aria-labelledby="base-model-heading" data-testid="base-model">
      <h2 id="base-model-heading">Base model</h2>
      <div aria-live="polite" aria-busy={state.kind === 'loading'} data-testid="base-model-status" data-state={state.kind}>
        {state.kind === 'loading' && <p>Looking for the base model…</p>}
        {state.kind === 'missing' && (
          <p>
            Base model not found. Create it with <code>npm run pretrain</code>; it is served from{' '}
            <code>{BASE_CHECKPOINT_URL}</code>.
          </p>
        )}
        {state.kind === 'invalid' && (
          <p role="alert">
            The base model at <code>{BASE_CHECKPOINT_URL}</code> could not be read: {state.reason}.
          </p>
        )}
        {state.kind === 'loaded' && <BaseModelDetails checkpoint={state.checkpoint} />}
      </div>
    </section>
  );
}

export function App() {
  return (
    <main className="page">
      <header>
        <h1 data-testid="app-title">GRPO Lab</h1>
        <p className="lede" data-testid="app-intro">
          A tiny language model learns to reason with GRPO (group relative policy optimization): the
          DeepSeek-R1 recipe in miniature. It samples several answers to each problem, a verifier scores
          them, and the model is pushed toward the answers that beat their group. The engine is
          TensorFlow.js: today it trains headless from the command line (see the README); the training
          lab in this page is being built.
        </p>
      </header>
      <BaseModelSection />
    </main>
  );
}
