/**
 * The model being trained (size and where its weights came from), with the actions that read it:
 * sample a fresh group without training, evaluate on the held-out set, save a checkpoint.
 */
import { labClient } from './lab-client';
import { useLab } from './store/use-lab';

const numberFormat = new Intl.NumberFormat('en-US');

async function download(): Promise<void> {
  const blob = await labClient.saveCheckpoint();
  if (!blob) return;
  const s = useLab.getState();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `grpo-lab-${s.status.stage}-step${s.status.step}.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

export function ModelCard() {
  const model = useLab((s) => s.model);
  const phase = useLab((s) => s.status.phase);
  const busy = phase === 'running' || phase === 'pausing' || phase === 'loading' || phase === 'error';
  return (
    <section className="card" aria-labelledby="model-heading" data-testid="model">
      <h2 id="model-heading">Model</h2>
      {model ? (
        <dl className="facts" data-testid="model-details">
          <div className="facts__row"><dt>Size</dt><dd data-testid="model-name">{model.name}</dd></div>
          <div className="facts__row"><dt>Parameters</dt><dd data-testid="model-parameters">{numberFormat.format(model.parameters)}</dd></div>
          <div className="facts__row"><dt>Shape</dt><dd>{model.layers} layers, width {model.dModel}, {model.heads} heads, context {model.context}</dd></div>
          <div className="facts__row"><dt>Weights</dt><dd data-testid="model-origin">{model.origin}</dd></div>
        </dl>
      ) : (
        <p aria-busy="true" data-testid="model-loading">Loading the base model…</p>
      )}
      <div className="controls__buttons">
        <button type="button" onClick={() => void labClient.sample()} disabled={busy || !model} data-testid="sample">Sample a group</button>
        <button type="button" onClick={() => void labClient.evaluate()} disabled={busy || !model} data-testid="evaluate">Evaluate now</button>
        <button type="button" onClick={() => void download()} disabled={busy || !model} data-testid="save">Save checkpoint</button>
      </div>
      <label className="field">
        <span>Start from a checkpoint file</span>
        <input type="file" accept=".json,application/json" disabled={busy} data-testid="load-checkpoint"
          onChange={(e) => { const f = e.target.files?.[0]; if (f) void labClient.loadCheckpointFile(f); e.target.value = ''; }} />
        <small className="field__help">A file saved here or by <code>npm run train -- --out</code>; the run restarts from it.</small>
      </label>
    </section>
  );
}
