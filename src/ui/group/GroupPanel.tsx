/**
 * The heart of GRPO on one screen: one prompt of the latest step, the G completions the model
 * wrote for it, their rewards, and the advantage each one got relative to its siblings.
 *
 * Reads the store only (latestGroup and the clip settings); the trainer client keeps it fresh.
 * The token views show, per token, the shared advantage or how this step's update moved the
 * token's probability (pi_new / pi_old), so a learner can see that GRPO assigns credit per
 * completion, not per token.
 */
import { useId, useState, type CSSProperties } from 'react';
import { REWARD_DESCRIPTIONS, REWARD_NAMES, type RewardName } from '../../engine/rewards';
import type { CompletionView, GroupView, TokenView } from '../../../workers/protocol';
import { useLab } from '../store/use-lab';
import {
  ADVANTAGE_CAP, TOKEN_MODES, segmentText, segmentTokens, tokenColour,
  type ClipRange, type ColourMode, type Segment, type TokenMode,
} from './segments';
import './group.css';

/**
 * Used for colour scaling only while the settings form holds an invalid epsilon (the user is
 * typing). Clipped flags come from the worker, computed with the run's own epsilons.
 */
const FALLBACK_EPS = 0.2;

const MODE_LABELS: Record<TokenMode, string> = {
  text: 'Highlighted text',
  advantage: 'Tokens by advantage',
  ratio: 'Tokens by ratio π_new / π_old',
  clipped: 'Clipped tokens',
};

const LANGUAGE_LABELS: Record<string, string> = {
  western: 'Western digits',
  eastern: 'Eastern Arabic-Indic digits',
};

const fixed = (digits: number) =>
  new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const reward3 = fixed(3);
const ratio3 = fixed(3);
const eps2 = fixed(2);
const score = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 });
// ASCII minus and an explicit plus: the sign is the point of an advantage.
const signed2 = new Intl.NumberFormat('en-US', {
  minimumFractionDigits: 2, maximumFractionDigits: 2, signDisplay: 'exceptZero',
});

function isTokenMode(v: string): v is TokenMode {
  return (TOKEN_MODES as readonly string[]).includes(v);
}

function validEps(v: number): number {
  return Number.isFinite(v) && v >= 0 ? v : FALLBACK_EPS;
}

type Direction = 'up' | 'down' | 'none';

function direction(advantage: number): Direction {
  // Formatted to two decimals, a tiny advantage reads as 0.00: call it no signal, consistently.
  if (signed2.format(advantage) === '0.00' || Number.isNaN(advantage)) return 'none';
  return advantage > 0 ? 'up' : 'down';
}

const DIRECTION_WORDS: Record<Direction, string> = {
  up: 'reinforced',
  down: 'pushed down',
  none: 'no signal',
};

/** A newline token gets a visible mark in the token views, so its colour has somewhere to show. */
function displayToken(text: string): string {
  if (text === '\n') return '↵\n';
  return text;
}

/** Reward functions present in any completion's scores, in the canonical order. */
function presentRewards(group: GroupView): RewardName[] {
  return REWARD_NAMES.filter((name) => group.completions.some((c) => c.scores[name] !== undefined));
}

export function GroupPanel() {
  const group = useLab((s) => s.latestGroup);
  const epsLow = useLab((s) => s.settings.epsLow);
  const epsHigh = useLab((s) => s.settings.epsHigh);
  const numIterations = useLab((s) => s.settings.numIterations);
  const scaleRewards = useLab((s) => s.settings.scaleRewards);
  const [mode, setMode] = useState<TokenMode>('text');
  const headingId = useId();

  const eps: ClipRange = { epsLow: validEps(epsLow), epsHigh: validEps(epsHigh) };

  return (
    <section className="group" data-testid="group-view" aria-labelledby={headingId}>
      <h2 id={headingId}>One group, up close</h2>
      {group === null ? (
        <p className="group__empty">Start or step the run to see a group.</p>
      ) : (
        <>
          <GroupHeader group={group} />
          <GroupExplainer group={group} scaleRewards={scaleRewards} />
          <div className="group__toolbar">
            <TokenModeSelect mode={mode} onChange={setMode} />
            <Legend mode={mode} eps={eps} />
          </div>
          {mode !== 'text' && <TokenExplainer eps={eps} numIterations={numIterations} />}
          {group.completions.length === 0 ? (
            <p className="group__empty">This group has no completions.</p>
          ) : (
            <ol className="group__grid" aria-label={`${group.completions.length} completions`}>
              {group.completions.map((c, i) => (
                <CompletionCard key={i} completion={c} index={i} mode={mode} eps={eps} />
              ))}
            </ol>
          )}
        </>
      )}
    </section>
  );
}

function GroupHeader({ group }: { group: GroupView }) {
  const rewards = group.completions.map((c) => c.reward);
  const first = rewards[0];
  // Exact equality, as grpo.ts decides a zero-std group: then every advantage is exactly 0.
  const allEqual = first !== undefined && rewards.every((r) => r === first);
  const above = group.completions.filter((c) => direction(c.advantage) === 'up').length;
  const below = group.completions.filter((c) => direction(c.advantage) === 'down').length;
  return (
    <div className="group__header">
      <dl className="group__facts" data-testid="group-prompt">
        <div>
          <dt>Step</dt>
          <dd>{group.step}</dd>
        </div>
        <div>
          <dt>Prompt</dt>
          <dd>
            <code className="group__ltr group__pre">{group.prompt}</code>
          </dd>
        </div>
        <div>
          <dt>Right answer</dt>
          <dd>
            <code className="group__ltr">{group.answer}</code>
          </dd>
        </div>
        <div>
          <dt>Problem</dt>
          <dd>
            {LANGUAGE_LABELS[group.language] ?? group.language}, difficulty {group.difficulty}
          </dd>
        </div>
      </dl>
      <dl className="group__facts" data-testid="group-stats">
        <div>
          <dt>Completions (G)</dt>
          <dd>{group.completions.length}</dd>
        </div>
        <div>
          <dt>Reward mean</dt>
          <dd>{reward3.format(group.rewardMean)}</dd>
        </div>
        <div>
          <dt>Reward std</dt>
          <dd>{reward3.format(group.rewardStd)}</dd>
        </div>
        <div>
          <dt>Above / below mean</dt>
          <dd>
            {above} reinforced, {below} pushed down
          </dd>
        </div>
      </dl>
      {allEqual && (
        <p className="group__note group__note--warn">
          All {rewards.length} rewards are equal ({reward3.format(first)}), so every advantage is 0: this group
          teaches the model nothing. Harder or easier prompts, a larger group, or DAPO&apos;s dynamic sampling
          give groups with a spread.
        </p>
      )}
    </div>
  );
}

const SCALE_FORMULAS: Record<string, string> = {
  group: 'A = (reward − group mean) / group std',
  batch: 'A = (reward − group mean) / batch std',
  none: 'A = reward − group mean',
};

function GroupExplainer({ group, scaleRewards }: { group: GroupView; scaleRewards: string }) {
  const present = presentRewards(group);
  return (
    <details className="group__explain">
      <summary>How GRPO learns from this group</summary>
      <p>
        The model answered the same prompt {group.completions.length} times. GRPO needs no value network to
        judge them: its baseline is the group&apos;s own mean reward. Each completion&apos;s advantage is{' '}
        <code>{SCALE_FORMULAS[scaleRewards] ?? SCALE_FORMULAS.group}</code>
        {scaleRewards === 'none' ? ' (Dr. GRPO: no division by the std)' : ''}. Completions above the
        group&apos;s mean get a positive advantage and are reinforced: every token in them becomes more likely.
        Completions below the mean get a negative advantage and are pushed down. When all{' '}
        {group.completions.length} rewards are equal, every advantage is 0 and the group teaches nothing.
      </p>
      <p>
        A completion&apos;s reward is the weighted sum of its reward functions&apos; scores. Highlighted text marks
        the <span className="seg seg--think">reasoning</span> inside <code>&lt;think&gt;</code> and the{' '}
        <span className="seg seg--answer">answer</span> inside <code>&lt;answer&gt;</code>, even when the format is
        broken; <span className="seg seg--stray">stray tags</span> (repeated, or closing nothing) are struck
        through.
      </p>
      {present.length > 0 && (
        <dl className="group__rewards">
          {present.map((name) => (
            <div key={name}>
              <dt>
                <code>{name}</code>
              </dt>
              <dd>{REWARD_DESCRIPTIONS[name]}</dd>
            </div>
          ))}
        </dl>
      )}
    </details>
  );
}

function TokenExplainer({ eps, numIterations }: { eps: ClipRange; numIterations: number }) {
  const range = `[${eps2.format(1 - eps.epsLow)}, ${eps2.format(1 + eps.epsHigh)}]`;
  return (
    <p className="group__note">
      {numIterations > 1 ? (
        <>
          This run updates {numIterations} times per batch (μ = {numIterations}). Every token in a completion still
          shares its advantage; the ratio π_new / π_old, measured after the step&apos;s updates, shows how far each
          token&apos;s probability moved. Tokens outside {range} = [1 − ε_low, 1 + ε_high] reached the clip: once a
          token has moved that far in its advantage&apos;s direction, further updates stop pulling on it.
        </>
      ) : (
        <>
          With one update per batch (μ = 1), every token in a completion shares its advantage: GRPO gives credit to
          whole completions, not to single tokens. The ratio π_new / π_old, measured after this step&apos;s update,
          shows how the step moved each token&apos;s probability (above 1: more likely). Tokens outside {range} =
          [1 − ε_low, 1 + ε_high] would be clipped on a further update (μ &gt; 1).
        </>
      )}{' '}
      Hover a token to see its ratio.
    </p>
  );
}

function TokenModeSelect({ mode, onChange }: { mode: TokenMode; onChange: (m: TokenMode) => void }) {
  const id = useId();
  return (
    <div className="group__mode">
      <label htmlFor={id}>Show</label>
      <select
        id={id}
        data-testid="token-mode"
        value={mode}
        onChange={(e) => {
          if (isTokenMode(e.target.value)) onChange(e.target.value);
        }}
      >
        {TOKEN_MODES.map((m) => (
          <option key={m} value={m}>
            {MODE_LABELS[m]}
          </option>
        ))}
      </select>
    </div>
  );
}

interface LegendItem {
  label: string;
  className?: string;
  style?: CSSProperties;
}

function legendItems(mode: TokenMode, eps: ClipRange): LegendItem[] {
  const bg = (m: ColourMode, ratio: number, advantage: number, clipped = false): CSSProperties => ({
    background: tokenColour(m, { ratio, clipped }, advantage, eps).background,
  });
  const lo = 1 - eps.epsLow;
  const hi = 1 + eps.epsHigh;
  switch (mode) {
    case 'text':
      return [
        { label: 'reasoning', className: 'seg seg--think' },
        { label: 'answer', className: 'seg seg--answer' },
        { label: 'tag', className: 'seg seg--tag' },
        { label: 'outside any block', className: 'seg seg--other' },
        { label: 'stray tag', className: 'seg seg--tag seg--stray' },
      ];
    case 'advantage':
      return [
        { label: `≤ −${ADVANTAGE_CAP} pushed down`, style: bg('advantage', 1, -ADVANTAGE_CAP) },
        { label: '−1', style: bg('advantage', 1, -1) },
        { label: '0 no signal', style: bg('advantage', 1, 0) },
        { label: '+1', style: bg('advantage', 1, 1) },
        { label: `≥ +${ADVANTAGE_CAP} reinforced`, style: bg('advantage', 1, ADVANTAGE_CAP) },
      ];
    case 'ratio':
      return [
        { label: `≤ ${eps2.format(lo)} (1 − ε_low) less likely`, style: bg('ratio', lo, 0) },
        { label: eps2.format(1 - eps.epsLow / 2), style: bg('ratio', 1 - eps.epsLow / 2, 0) },
        { label: '1 unchanged', style: bg('ratio', 1, 0) },
        { label: eps2.format(1 + eps.epsHigh / 2), style: bg('ratio', 1 + eps.epsHigh / 2, 0) },
        { label: `≥ ${eps2.format(hi)} (1 + ε_high) more likely`, style: bg('ratio', hi, 0) },
        { label: 'underlined: outside the clip range', className: 'tok tok--clipped' },
      ];
    case 'clipped':
      return [
        { label: `outside [${eps2.format(lo)}, ${eps2.format(hi)}]: clipped`, style: bg('clipped', hi, 0, true) },
        { label: 'inside the clip range', style: bg('clipped', 1, 0, false) },
      ];
  }
}

function Legend({ mode, eps }: { mode: TokenMode; eps: ClipRange }) {
  return (
    <ul className="group__legend" aria-label="Legend">
      {legendItems(mode, eps).map((item) => (
        <li key={item.label}>
          <span className={`group__swatch ${item.className ?? ''}`} style={item.style} aria-hidden="true">
            {item.className !== undefined ? 'ab' : null}
          </span>
          {item.label}
        </li>
      ))}
    </ul>
  );
}

function segmentClass(seg: Segment): string {
  return `seg seg--${seg.kind.endsWith('-tag') ? 'tag' : seg.kind}${seg.stray ? ' seg--stray' : ''}`;
}

function HighlightedText({ text }: { text: string }) {
  const segments = segmentText(text);
  if (segments.length === 0) return <span className="group__muted">(empty)</span>;
  return (
    <>
      {segments.map((seg, i) => (
        <span key={i} className={segmentClass(seg)}>
          {seg.text}
        </span>
      ))}
    </>
  );
}

function tokenTitle(t: TokenView): string {
  const clipped = t.clipped ? ', outside the clip range' : '';
  return `${JSON.stringify(t.text)}: ratio ${ratio3.format(t.ratio)}${clipped}`;
}

function TokenText({ tokens, advantage, mode, eps }: {
  tokens: TokenView[]; advantage: number; mode: ColourMode; eps: ClipRange;
}) {
  if (tokens.length === 0) return <span className="group__muted">(no tokens)</span>;
  const kinds = segmentTokens(tokens);
  return (
    <>
      {tokens.map((t, i) => {
        const seg = kinds[i];
        const kind = seg === undefined ? '' : ` tok--${seg.kind.endsWith('-tag') ? 'tag' : seg.kind}`;
        return (
          <span
            key={i}
            // The underline gives clipping a cue besides colour; in the advantage view it would distract.
            className={`tok${kind}${t.clipped && mode !== 'advantage' ? ' tok--clipped' : ''}`}
            style={{ background: tokenColour(mode, t, advantage, eps).background }}
            title={tokenTitle(t)}
          >
            {displayToken(t.text)}
          </span>
        );
      })}
    </>
  );
}

/** For keyboard and screen-reader users, who cannot hover: the range of ratios and the clipped count. */
function RatioSummary({ tokens }: { tokens: TokenView[] }) {
  if (tokens.length === 0) return null;
  let min = Infinity;
  let max = -Infinity;
  let clipped = 0;
  for (const t of tokens) {
    min = Math.min(min, t.ratio);
    max = Math.max(max, t.ratio);
    if (t.clipped) clipped++;
  }
  return (
    <p className="group__muted group__small">
      ratio {ratio3.format(min)} to {ratio3.format(max)}; {clipped} of {tokens.length} tokens outside the clip range
    </p>
  );
}

function CompletionCard({ completion: c, index, mode, eps }: {
  completion: CompletionView; index: number; mode: TokenMode; eps: ClipRange;
}) {
  const headingId = useId();
  const dir = direction(c.advantage);
  const accuracy = c.scores.accuracy;
  const scores = REWARD_NAMES.filter((name) => c.scores[name] !== undefined);
  // From the advantage's sign, not reward vs mean: a float mean of equal rewards can differ in the last bit.
  const vsMean = dir === 'up' ? 'above' : dir === 'down' ? 'below' : 'at';
  return (
    <li
      className={`group__card group__card--${dir}`}
      data-testid="group-completion"
      data-advantage={String(c.advantage)}
      data-reward={String(c.reward)}
      aria-labelledby={headingId}
    >
      <div className="group__card-head">
        <h3 id={headingId}>Completion {index + 1}</h3>
        <span className="group__badges">
          {accuracy !== undefined && (
            <span className={`badge ${accuracy >= 1 ? 'badge--ok' : 'badge--bad'}`}>
              {accuracy >= 1 ? 'correct' : 'not correct'}
            </span>
          )}
          {c.truncated && (
            <span className="badge badge--warn" title="Generation hit the length cap before <eos>">
              truncated
            </span>
          )}
        </span>
      </div>
      <div className={`group__text group__ltr${mode === 'text' ? '' : ' group__text--tokens'}`}>
        {mode === 'text' ? (
          <HighlightedText text={c.text} />
        ) : (
          <TokenText tokens={c.tokens} advantage={c.advantage} mode={mode} eps={eps} />
        )}
      </div>
      {mode !== 'text' && <RatioSummary tokens={c.tokens} />}
      <dl className="group__numbers">
        <div>
          <dt>Reward</dt>
          <dd data-testid="completion-reward">
            {reward3.format(c.reward)} <span className="group__muted">({vsMean} mean)</span>
          </dd>
        </div>
        <div>
          <dt>Advantage</dt>
          <dd data-testid="completion-advantage" className={`adv adv--${dir}`}>
            {signed2.format(c.advantage)} <span className="adv__word">{DIRECTION_WORDS[dir]}</span>
          </dd>
        </div>
      </dl>
      <dl className="group__scores" data-testid="completion-scores">
        {scores.map((name) => (
          <div key={name}>
            <dt>
              <code>{name}</code>
            </dt>
            <dd>{score.format(c.scores[name] ?? 0)}</dd>
          </div>
        ))}
      </dl>
    </li>
  );
}
