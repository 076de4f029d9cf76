/**
 * Edits a learner can make to a pipeline before running it: reorder, remove, add (a copy of a
 * stage from any recipe) and change a stage's length. Pure functions on the spec; the worker
 * validates the result (hand-offs, settings) and names the field when something does not fit.
 */
import { type PipelineSpec, type StageSpec, validateStageSettings } from '../../engine/pipeline/pipeline';

export function moveStage(spec: PipelineSpec, index: number, by: -1 | 1): PipelineSpec {
  const to = index + by;
  if (to < 0 || to >= spec.stages.length) return spec;
  const stages = [...spec.stages];
  const [moved] = stages.splice(index, 1);
  stages.splice(to, 0, moved as StageSpec);
  return { ...spec, stages };
}

/** Removes a stage; it leaves the compared stages too (the rest stay compared if two remain). */
export function removeStage(spec: PipelineSpec, index: number): PipelineSpec {
  const removed = spec.stages[index]?.id;
  const { compare, ...rest } = spec;
  const left = compare?.filter((id) => id !== removed) ?? [];
  return { ...rest, stages: spec.stages.filter((_, i) => i !== index), ...(left.length >= 2 ? { compare: left } : {}) };
}

/** A copy of a stage at the end, with an id (and output checkpoint) not yet used. */
export function addStage(spec: PipelineSpec, stage: StageSpec): PipelineSpec {
  const used = new Set(spec.stages.flatMap((s) => [s.id, s.out]));
  let id = stage.id;
  for (let n = 2; used.has(id); n++) id = `${stage.id}-${n}`;
  return { ...spec, stages: [...spec.stages, { ...stage, id, out: id }] };
}

export function setStageLength(spec: PipelineSpec, index: number, steps: number): PipelineSpec {
  const stages = spec.stages.map((s, i): StageSpec => {
    if (i !== index) return s;
    switch (s.kind) {
      case 'grpo': return { ...s, config: { ...s.config, steps } };
      case 'sample-sft': return { ...s, sft: { ...s.sft, steps } };
      case 'pretrain': return { ...s, config: { ...s.config, steps } };
      case 'reward-model': return { ...s, steps };
    }
  });
  return { ...spec, stages };
}

/** A stage's settings as the learner edits them: everything but its id and kind, as JSON. */
export function stageSettingsText(stage: StageSpec): string {
  const { id: _id, kind: _kind, ...settings } = stage;
  return JSON.stringify(settings, null, 2);
}

/**
 * The stage at `index` with the settings in `text` (id and kind stay). Throws, naming the stage
 * and the field, when the text is not JSON or a setting is out of range; the spec is untouched.
 */
export function setStageSettings(spec: PipelineSpec, index: number, text: string): PipelineSpec {
  const stage = spec.stages[index];
  if (!stage) throw new Error(`pipeline.stages[${index}]: no such stage`);
  let settings: unknown;
  try {
    settings = JSON.parse(text);
  } catch (e) {
    throw new Error(`stage "${stage.id}" settings: not valid JSON (${(e as Error).message})`);
  }
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    throw new Error(`stage "${stage.id}" settings: must be a JSON object of the stage's fields`);
  }
  const edited = { ...settings, id: stage.id, kind: stage.kind } as StageSpec;
  validateStageSettings(edited, `stage "${stage.id}"`);
  return { ...spec, stages: spec.stages.map((s, i) => (i === index ? edited : s)) };
}
