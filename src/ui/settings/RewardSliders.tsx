/**
 * Live reward weights. A change reaches the worker after the slider settles and applies from the
 * next step; the charts mark that step. Before a run starts, the weights go into the settings.
 */
import { useEffect, useId, useRef } from 'react';
import { REWARD_DESCRIPTIONS, REWARD_NAMES, type RewardName, type RewardWeights } from '../../engine/rewards';
import { labClient } from '../lab-client';
import { useLab } from '../store/use-lab';

/** Slider moves within this window count as one change (one chart marker, one message). */
const SETTLE_MS = 300;

function Slider({ name, value, onChange }: { name: RewardName; value: number; onChange(v: number): void }) {
  const id = useId();
  return (
    <div className="slider">
      <label htmlFor={id}>{name}</label>
      <input id={id} type="range" min={0} max={2} step={0.05} value={value} aria-describedby={`${id}-help`}
        onChange={(e) => onChange(Number(e.target.value))} data-testid={`weight-${name}`} />
      <output htmlFor={id} data-testid={`weight-value-${name}`}>{value.toFixed(2)}</output>
      <small id={`${id}-help`} className="field__help">{REWARD_DESCRIPTIONS[name]}</small>
    </div>
  );
}

export function RewardSliders() {
  const weights = useLab((s) => s.rewardWeights);
  // A pipeline's stages carry their own weights; the sliders steer single runs.
  const pipeline = useLab((s) => s.stages.length > 0);
  const changes = useLab((s) => s.weightChanges);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => { if (timer.current) clearTimeout(timer.current); }, []);

  const change = (name: RewardName, value: number) => {
    const next: RewardWeights = { ...useLab.getState().rewardWeights, [name]: value };
    const s = useLab.getState();
    s.set({ rewardWeights: next, settings: { ...s.settings, rewardWeights: next } });
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => {
      const { appliedSettings } = useLab.getState();
      if (appliedSettings) {
        void labClient.setRewardWeights(next);
        // The running config now carries these weights, so they do not count as a settings change.
        useLab.getState().set({ appliedSettings: { ...appliedSettings, rewardWeights: next } });
      }
    }, SETTLE_MS);
  };

  const last = changes[changes.length - 1];
  return (
    <section className="card weights" aria-labelledby="weights-heading" data-testid="reward-weights">
      <h2 id="weights-heading">Reward weights</h2>
      <p className="explain">
        Each completion's reward is the weighted sum of these functions. Move a slider while training: the
        next step uses the new weights, and the charts mark where they changed.
      </p>
      {pipeline && <p className="controls__note" data-testid="weights-pipeline">A pipeline is loaded: each stage uses its own weights. Reset to steer a single run.</p>}
      <fieldset disabled={pipeline} className="weights__sliders">
        {REWARD_NAMES.map((name) => <Slider key={name} name={name} value={weights[name] ?? 0} onChange={(v) => change(name, v)} />)}
      </fieldset>
      {last && <p className="controls__note" data-testid="weights-applied">New weights apply from step {last.step}.</p>}
    </section>
  );
}
