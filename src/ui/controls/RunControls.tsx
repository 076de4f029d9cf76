/**
 * Start, Pause/Resume, Step and Reset, the stage's progress, and the speed of the last step.
 * Start applies the settings first when they changed since the run was configured.
 */
import { useLab } from '../store/use-lab';
import { labClient } from '../lab-client';
import { latestValue } from './latest-value';

function sameSettings(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Changed settings start a fresh run; returns false when the worker rejected them. */
async function applyIfChanged(): Promise<boolean> {
  const s = useLab.getState();
  if (sameSettings(s.settings, s.appliedSettings)) return true;
  return labClient.configure(s.settings);
}

async function startOrApply(): Promise<void> {
  if (await applyIfChanged()) await labClient.start();
}

async function stepOrApply(): Promise<void> {
  if (await applyIfChanged()) await labClient.stepOnce();
}

export function RunControls() {
  const status = useLab((s) => s.status);
  const invalid = useLab((s) => Object.keys(s.settingsErrors).length > 0);
  const dirty = useLab((s) => !sameSettings(s.settings, s.appliedSettings));
  const actionError = useLab((s) => s.actionError);
  useLab((s) => s.historyVersion);
  const history = useLab.getState().history;
  const stepTime = latestValue(history, 'step_time');
  const tokensPerSecond = latestValue(history, 'tokens_per_second');
  const { phase, step, totalSteps } = status;
  const busy = phase === 'running' || phase === 'pausing';
  const fresh = step === 0 && (phase === 'ready' || phase === 'paused');
  const canStart = (fresh || (dirty && !busy && phase !== 'loading')) && !invalid;
  const progress = totalSteps > 0 ? step / totalSteps : 0;

  return (
    <section className="card controls" aria-labelledby="controls-heading" data-testid="controls">
      <h2 id="controls-heading">Run</h2>
      <div className="controls__buttons">
        <button type="button" onClick={() => void startOrApply()} disabled={!canStart} data-testid="start">
          {dirty && step > 0 ? 'Apply settings & start' : 'Start'}
        </button>
        {busy ? (
          <button type="button" onClick={() => void labClient.pause()} disabled={phase === 'pausing'} data-testid="pause">Pause</button>
        ) : (
          <button type="button" onClick={() => void labClient.resume()} disabled={!(phase === 'paused' && step > 0) || dirty} data-testid="resume">Resume</button>
        )}
        <button type="button" onClick={() => void stepOrApply()} disabled={busy || phase === 'loading' || phase === 'done' || (dirty && !fresh) || invalid} data-testid="step">Step</button>
        <button type="button" onClick={() => void labClient.reset()} disabled={phase === 'loading' || (step === 0 && !busy)} data-testid="reset">Reset</button>
      </div>
      <div className="progress" data-testid="progress">
        <progress max={1} value={progress} aria-label="Stage progress" />
        <span data-testid="step-counter" data-step={step}>step {step} / {totalSteps}</span>
        <span data-testid="phase" data-phase={phase}>{phase}</span>
      </div>
      <p className="controls__speed" data-testid="speed">
        {stepTime !== undefined ? `${stepTime.toFixed(2)} s/step` : '– s/step'} ·{' '}
        {tokensPerSecond !== undefined ? `${Math.round(tokensPerSecond)} tokens/s generated` : '– tokens/s'}
      </p>
      {dirty && step > 0 && !invalid && <p className="controls__note">Settings changed: applying them starts a fresh run.</p>}
      {invalid && <p className="field__error" role="alert" data-testid="settings-invalid">Fix the settings marked in red to start a run.</p>}
      {status.message && <p className={phase === 'error' ? 'field__error' : 'controls__note'} role="status" data-testid="status-message">{status.message}</p>}
      {actionError && <p className="field__error" role="alert" data-testid="action-error">{actionError}</p>}
    </section>
  );
}
