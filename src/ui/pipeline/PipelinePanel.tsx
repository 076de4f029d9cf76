/**
 * The R1 recipe as a chain of stage cards: pick a recipe, run it all or from a chosen stage, and
 * watch each hand-off (which checkpoint a stage reads and writes, what it kept, and what it did
 * to held-out accuracy, length and language consistency).
 */
import { useEffect, useId, useState } from 'react';
import { type PipelineSpec, stageInputs, stageSteps } from '../../engine/pipeline/pipeline';
import type { RecipeView, StageView } from '../../../workers/protocol';
import { addStage, moveStage, removeStage, setStageLength, setStageSettings, stageSettingsText } from './pipeline-edits';
import { labClient } from '../lab-client';
import { useLab } from '../store/use-lab';
import './pipeline.css';

type Scale = 'default' | 'tiny';

/** The before → after scores a card can show, when its stage reports them. */
const SCORE_ROWS: Array<[key: string, label: string, digits: number]> = [
  ['eval/pass@1', 'pass@1', 2],
  ['eval/pass@1_any_format', 'format-blind', 2],
  ['eval/mean_length', 'length', 1],
  ['eval/language', 'language', 2],
  ['eval/reflection', 'reflection', 2],
  ['eval/general_quality', 'general quality', 2],
  ['eval/rm_pairwise_accuracy', 'pairwise acc.', 2],
];

function score(x: number | undefined, digits = 2): string {
  return x === undefined ? '–' : x.toFixed(digits);
}

function BeforeAfter({ label, v, k, digits }: { label: string; v: StageView; k: string; digits?: number }) {
  return (
    <div className="stage-card__row">
      <dt>{label}</dt>
      <dd>{score(v.before?.[k], digits)} → {score(v.after?.[k], digits)}</dd>
    </div>
  );
}

function Counts({ counts }: { counts: NonNullable<StageView['counts']> }) {
  const rejected = Object.entries(counts.rejected).filter(([, n]) => n > 0);
  return (
    <p className="stage-card__counts" data-testid="stage-counts">
      kept <strong>{counts.kept}</strong> of {counts.sampled}
      {rejected.length > 0 && <> · rejected: {rejected.map(([why, n]) => `${why.replace('_', ' ')} ${n}`).join(', ')}</>}
    </p>
  );
}

interface StageEditor {
  steps: number;
  count: number;
  /** Before a run the chain can change; after one only settings can (to re-run from a stage). */
  structural: boolean;
  /** The stage's settings as JSON (everything but id and kind). */
  settings: string;
  onMove(by: -1 | 1): void;
  onRemove(): void;
  onSteps(steps: number): void;
  /** Applies edited settings; throws with the field named when they do not fit. */
  onSettings(text: string): void;
}

/**
 * Every setting of a stage (learning rate, reward weights, algorithm, what SFT trains from, the
 * general-prompt share...) as JSON to edit. Apply checks it and says which field is wrong.
 */
function SettingsEditor({ v, e }: { v: StageView; e: StageEditor }) {
  const [text, setText] = useState(e.settings);
  const [error, setError] = useState<string | null>(null);
  const textId = useId();
  useEffect(() => setText(e.settings), [e.settings]);
  const apply = () => {
    try {
      e.onSettings(text);
      setError(null);
    } catch (x) {
      setError((x as Error).message);
    }
  };
  return (
    <details className="stage-card__settings">
      <summary>settings</summary>
      <textarea id={textId} aria-label={`Settings of ${v.label} (JSON)`} value={text} rows={10} spellCheck={false} onChange={(x) => setText(x.target.value)} data-testid={`stage-settings-${v.id}`} />
      <button type="button" className="button--small" onClick={apply} data-testid={`stage-settings-apply-${v.id}`}>Apply</button>
      {error && <p className="stage-card__error" role="alert" data-testid={`stage-settings-error-${v.id}`}>{error}</p>}
    </details>
  );
}

function EditControls({ v, index, e }: { v: StageView; index: number; e: StageEditor }) {
  const stepsId = useId();
  return (
    <div className="stage-card__edit" data-testid={`stage-edit-${v.id}`}>
      <label htmlFor={stepsId}>steps</label>
      <input id={stepsId} type="number" min={1} value={e.steps} onChange={(x) => e.onSteps(Math.max(1, Math.round(Number(x.target.value) || 1)))}
        data-testid={`stage-steps-${v.id}`} />
      {e.structural && (
        <>
          <button type="button" className="button--small" onClick={() => e.onMove(-1)} disabled={index === 0} aria-label={`Move ${v.label} earlier`}>↑</button>
          <button type="button" className="button--small" onClick={() => e.onMove(1)} disabled={index === e.count - 1} aria-label={`Move ${v.label} later`}>↓</button>
          <button type="button" className="button--small" onClick={e.onRemove} disabled={e.count === 1} aria-label={`Remove ${v.label}`} data-testid={`stage-remove-${v.id}`}>✕</button>
        </>
      )}
      <SettingsEditor v={v} e={e} />
    </div>
  );
}

function StageCard({ v, index, canRun, showRunFrom, onRunFrom, editor }: {
  v: StageView; index: number; canRun: boolean; showRunFrom: boolean; onRunFrom(i: number): void; editor?: StageEditor;
}) {
  return (
    <li className={`stage-card stage-card--${v.state}`} data-testid={`stage-card-${v.id}`} data-state={v.state}>
      <h3>{index + 1}. {v.label}</h3>
      <p className="stage-card__handoff">
        {v.from.length > 0 ? v.from.join(' + ') : 'random weights'} → <code>{v.out}</code> <span className="stage-card__kind">{v.kind}</span>
      </p>
      {v.counts && <Counts counts={v.counts} />}
      {v.valueParameters !== undefined && (
        <p className="stage-card__counts" data-testid="stage-value-params">
          value model: <strong>+{v.valueParameters.toLocaleString('en-US')}</strong> parameters beside the policy (PPO&apos;s extra memory; GRPO has none)
        </p>
      )}
      {v.after && (
        <dl className="stage-card__scores">
          {SCORE_ROWS.filter(([k]) => v.after?.[k] !== undefined).map(([k, label, digits]) => (
            <BeforeAfter key={k} label={label} v={v} k={k} digits={digits} />
          ))}
        </dl>
      )}
      <p className="stage-card__state">{v.state}{v.firstStep !== undefined ? ` · steps ${v.firstStep}–${v.lastStep ?? '…'}` : ''}</p>
      {editor && <EditControls v={v} index={index} e={editor} />}
      {showRunFrom && index > 0 && (
        <button type="button" disabled={!canRun} onClick={() => onRunFrom(index)} data-testid={`run-from-${v.id}`}
          title="Re-run from this stage on the checkpoints the earlier stages left">
          Run from here
        </button>
      )}
    </li>
  );
}

export function PipelinePanel() {
  const liveStages = useLab((s) => s.stages);
  const phase = useLab((s) => s.status.phase);
  const [scale, setScale] = useState<Scale>('default');
  const [recipes, setRecipes] = useState<RecipeView[]>([]);
  const [name, setName] = useState('r1');
  const recipeId = useId();
  const scaleId = useId();
  const ready = phase !== 'loading' && phase !== 'error';

  useEffect(() => {
    if (!ready) return;
    let live = true;
    void labClient.recipes(scale).then((r) => { if (live) setRecipes(r); });
    return () => { live = false; };
  }, [scale, ready]);

  const recipe = recipes.find((r) => r.name === name);
  // The recipe as the learner edited it; null until they change something.
  const [draft, setDraft] = useState<PipelineSpec | null>(null);
  useEffect(() => setDraft(null), [name, scale]);
  const spec = draft ?? recipe?.spec;
  const busy = phase === 'running' || phase === 'pausing';
  const previousRunDone = liveStages.length > 0 && liveStages.every((s) => s.state === 'done');
  const editing = liveStages.length === 0 && spec !== undefined;
  // After a run, a stage's settings can change before re-running from it (a fork); the cards
  // must still be this spec's stages (the recipe was not switched since).
  const forking = previousRunDone && !busy && spec !== undefined &&
    spec.stages.map((st) => st.id).join() === liveStages.map((st) => st.id).join();
  const cards: StageView[] = liveStages.length > 0 ? liveStages : (spec?.stages.map((st) => ({
    id: st.id, label: st.label, kind: st.kind, out: st.out, state: 'waiting' as const,
    from: stageInputs(st).map(([, checkpoint]) => checkpoint),
  })) ?? []);
  const run = (startAt: number) => void labClient.startPipeline(draft ? { spec: draft } : { recipe: name, scale }, startAt, spec?.compare ?? []);
  const editorFor = (i: number): StageEditor | undefined => {
    if (!(editing || forking) || !spec) return undefined;
    const st = spec.stages[i];
    if (!st) return undefined;
    return {
      steps: stageSteps(st), count: spec.stages.length, settings: stageSettingsText(st), structural: editing,
      onMove: (by) => setDraft(moveStage(spec, i, by)),
      onRemove: () => setDraft(removeStage(spec, i)),
      onSteps: (n) => setDraft(setStageLength(spec, i, n)),
      onSettings: (text) => setDraft(setStageSettings(spec, i, text)),
    };
  };
  const addable = recipes.flatMap((r) => r.spec.stages.map((st) => ({ key: `${r.name}/${st.id}`, label: `${st.label} (${r.name})`, stage: st })));
  const addId = useId();

  return (
    <section className="card pipeline" aria-labelledby="pipeline-heading" data-testid="pipeline">
      <h2 id="pipeline-heading">The R1 pipeline</h2>
      <p className="explain">
        DeepSeek-R1 is trained in stages, each starting from a checkpoint an earlier stage wrote. Run the whole recipe, or
        re-run from one stage with the checkpoints the earlier ones left. The charts band each stage.
      </p>
      <div className="pipeline__controls">
        <label htmlFor={recipeId}>Recipe</label>
        <select id={recipeId} value={name} onChange={(e) => setName(e.target.value)} disabled={busy} data-testid="recipe">
          {recipes.map((r) => <option key={r.name} value={r.name}>{r.name}</option>)}
        </select>
        <label htmlFor={scaleId}>Scale</label>
        <select id={scaleId} value={scale} onChange={(e) => setScale(e.target.value as Scale)} disabled={busy} data-testid="recipe-scale">
          <option value="default">default (hours on a laptop CPU)</option>
          <option value="tiny">tiny (seconds, for a first look)</option>
        </select>
        <button type="button" onClick={() => run(0)} disabled={busy || !ready || !recipe} data-testid="run-pipeline">Run pipeline</button>
      </div>
      {recipe && <p className="explain" data-testid="recipe-description">{recipe.description}</p>}
      <ol className="pipeline__stages">
        {cards.map((v, i) => (
          <StageCard key={v.id} v={v} index={i} canRun={!busy && previousRunDone} showRunFrom={liveStages.length > 0} onRunFrom={run} editor={editorFor(i)} />
        ))}
      </ol>
      {editing && spec && (
        <div className="pipeline__add">
          <label htmlFor={addId}>Add a stage</label>
          <select id={addId} value="" onChange={(e) => {
            const pick = addable.find((a) => a.key === e.target.value);
            if (pick) setDraft(addStage(spec, pick.stage));
          }} data-testid="add-stage">
            <option value="">choose…</option>
            {addable.map((a) => <option key={a.key} value={a.key}>{a.label}</option>)}
          </select>
          {draft && <button type="button" onClick={() => setDraft(null)} data-testid="reset-recipe">Undo edits</button>}
          <small className="field__help">A stage reads the checkpoints named on its card; an edit that breaks a hand-off is refused with the reason when you run it.</small>
        </div>
      )}
    </section>
  );
}
