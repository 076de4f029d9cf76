import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '../../node/tfjs-node';
import type { GrpoConfig } from '../config';
import { GPT } from '../model';
import { modelSize } from '../model-config';
import { collectPreferredSamples } from '../pipeline/verified-samples';
import { PRESETS } from '../presets';
import { type GeneralMix, rollout } from '../rollout';
import { Rng } from '../rng';
import { additionTask } from '../tasks/addition';
import { Tokenizer } from '../tokenizer';
import { generalTask } from './general-task';

const tok = new Tokenizer();
const tiny: GrpoConfig = { ...PRESETS.tiny!.config, promptsPerStep: 8, groupSize: 3 };
/** A stand-in judge: longer completions score higher. */
const byLength = (_prompts: number[][], completions: number[][]) => completions.map((c) => c.length / 10);

beforeAll(async () => {
  await useBackend('cpu');
});

describe('final RL mix of reasoning and general prompts', () => {
  test('general completions earn the judge\'s score alone; reasoning ones the rule rewards alone', () => {
    const model = GPT.create(modelSize('test', tok.size), 1);
    const mix: GeneralMix = { share: 0.5, task: generalTask, score: byLength };
    const r = rollout(model.params, model.config, tok, additionTask, tiny, { accuracy: 1, overlong: 1, preference: 2 }, new Rng(3), mix);
    const general = r.groups.filter((g) => g.problem.task === 'general');
    const reasoning = r.groups.filter((g) => g.problem.task === 'addition');
    expect(general.length).toBeGreaterThan(0);
    expect(reasoning.length).toBeGreaterThan(0);
    for (const g of general) {
      for (const c of g.completions) {
        expect(c.scores.preference).toBeCloseTo(c.ids.length / 10, 6);
        expect(c.reward).toBeCloseTo(2 * c.scores.preference, 6);
      }
    }
    for (const g of reasoning) {
      for (const c of g.completions) {
        expect(c.scores.preference).toBe(0);
        expect(c.reward).toBeCloseTo(c.scores.accuracy + c.scores.overlong, 6);
      }
    }
    // Without a mix, no general prompt appears and the stream of problems is the usual one.
    const plain = rollout(model.params, model.config, tok, additionTask, tiny, { accuracy: 1 }, new Rng(3));
    expect(plain.groups.every((g) => g.problem.task === 'addition')).toBe(true);
    model.dispose();
  });

  test('rejection sampling for general prompts keeps the judge\'s favourite well-formed answer of each prompt', () => {
    const model = GPT.create(modelSize('test', tok.size), 2);
    const o = { prompts: 6, samplesPerPrompt: 4, maxPerPrompt: 1, temperature: 1, maxCompletionLength: 12, promptsPerBatch: 6 };
    const { samples, counts } = collectPreferredSamples(model.params, model.config, tok, generalTask, o, new Rng(4), byLength);
    expect(counts.sampled).toBe(24);
    expect(counts.kept).toBe(samples.length);
    expect(counts.kept + counts.rejected.bad_format + counts.rejected.not_preferred).toBe(24);
    for (const s of samples) expect(s.text.trim().endsWith('</answer>')).toBe(true);
    model.dispose();
  });
});
