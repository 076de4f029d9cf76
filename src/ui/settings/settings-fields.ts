/**
 * The run settings the form shows: each field's label, input kind and a one-line explanation
 * for learners. Validation itself is the engine's (config.ts), so the form, the worker and the
 * CLI agree on what is allowed.
 */
import type { GrpoConfig } from '../../engine/config';
import { MODEL_SIZES } from '../../engine/model-config';

export type SettingKey = keyof GrpoConfig & string;

export interface FieldSpec {
  key: SettingKey;
  label: string;
  /** 'int-or-auto': a whole number, or the word auto for the engine's per-backend choice. */
  kind: 'int' | 'int-or-auto' | 'number' | 'select' | 'checkbox';
  options?: readonly string[];
  help: string;
}

export const SETTING_FIELDS: readonly FieldSpec[] = [
  { key: 'task', label: 'Task', kind: 'select', options: ['addition', 'countdown', 'multiplication'], help: 'The verifiable problems the model practises on.' },
  { key: 'model', label: 'Model size', kind: 'select', options: Object.keys(MODEL_SIZES), help: 'The base checkpoint is the default size; other sizes start from random weights.' },
  { key: 'steps', label: 'Steps', kind: 'int', help: 'GRPO updates in this run.' },
  { key: 'promptsPerStep', label: 'Prompts per step', kind: 'int', help: 'Problems sampled per step (B).' },
  { key: 'groupSize', label: 'Group size G', kind: 'int', help: 'Completions per problem; the group mean is the baseline each completion is judged against.' },
  { key: 'lr', label: 'Learning rate', kind: 'number', help: 'AdamW step size. Too high breaks what pretraining taught (try 3e-4 to see it).' },
  { key: 'temperature', label: 'Temperature', kind: 'number', help: 'Sampling temperature; 1 samples the policy as it is.' },
  { key: 'topP', label: 'Top-p', kind: 'number', help: 'Sample only from the most likely tokens covering this probability.' },
  { key: 'maxCompletionLength', label: 'Max completion length', kind: 'int', help: 'Tokens a completion may use before it is cut off.' },
  { key: 'beta', label: 'KL weight β', kind: 'number', help: 'How strongly the policy is held near the starting model.' },
  { key: 'epsLow', label: 'Clip ε low', kind: 'number', help: 'The ratio may fall to 1 - ε before the surrogate is clipped.' },
  { key: 'epsHigh', label: 'Clip ε high', kind: 'number', help: 'The ratio may rise to 1 + ε (DAPO clip-higher: 0.28).' },
  { key: 'lossType', label: 'Loss aggregation', kind: 'select', options: ['grpo', 'bnpo', 'dr_grpo', 'dapo'], help: 'How token losses are averaged: per sequence (grpo), per token (bnpo, dapo), or by a constant (dr_grpo).' },
  { key: 'scaleRewards', label: 'Scale rewards', kind: 'select', options: ['group', 'batch', 'none'], help: 'Divide advantages by the group std, the batch std, or not at all (Dr. GRPO).' },
  { key: 'numIterations', label: 'Updates per batch μ', kind: 'int', help: 'Above 1 the ratio moves away from 1 and clipping starts to matter.' },
  { key: 'microBatchRows', label: 'Micro-batch rows', kind: 'int-or-auto', help: 'Completions per backward pass (0: all at once; auto: all at once on WebGPU, about 4,096 tokens per pass elsewhere). The same update either way; smaller needs less memory, fewer passes are faster.' },
  { key: 'dynamicSampling', label: 'Dynamic sampling', kind: 'checkbox', help: 'DAPO: replace groups whose rewards are all equal (they teach nothing).' },
  { key: 'seed', label: 'Seed', kind: 'int', help: 'Same settings and seed, same run.' },
  { key: 'evalEvery', label: 'Evaluate every', kind: 'int', help: 'Steps between held-out evaluations (0: start and end only).' },
  { key: 'evalSize', label: 'Eval problems', kind: 'int', help: 'Held-out problems per evaluation.' },
];

/** The form's text for a setting's value. */
export function fieldText(value: unknown): string {
  return typeof value === 'number' || typeof value === 'string' ? String(value) : '';
}

/** The typed value for a field's text; NaN for a number that does not parse (validation names it). */
export function parseField(spec: FieldSpec, text: string): unknown {
  if (spec.kind === 'int-or-auto' && text.trim() === 'auto') return 'auto';
  if (spec.kind === 'int' || spec.kind === 'int-or-auto' || spec.kind === 'number') return text.trim() === '' ? Number.NaN : Number(text);
  return text;
}
