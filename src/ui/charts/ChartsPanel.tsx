/**
 * The lab's live charts: a smoothing slider and one panel per question a learner should ask of a
 * GRPO run (is reward rising, is it accuracy or just format, is the policy drifting, collapsing,
 * starved of signal?). Reads the store directly; the chart catalogue below says what each panel
 * shows and why.
 */
import { useDeferredValue, useEffect, useId, useMemo } from 'react';
import type { AxisDomain } from 'recharts';
import { REWARD_NAMES, type RewardName, type RewardWeights } from '../../engine/rewards';
import type { MetricPoint, WeightChange } from '../../../workers/protocol';
import { PREVIOUS_RUN_PREFIX } from '../store/lab-store';
import { useLab } from '../store/use-lab';
import { MetricChart, type ChartBand, type ChartLine, type MetricChartProps, type StageBand } from './MetricChart';
import { useStaggeredValue } from './staggered-refresh';
import { useOnScreen } from './use-on-screen';
import { scheduleChartWarmUp } from './warm-up';
import { hasKey } from './series';
import { overlayHistory, overlayLines, startedComparedStages } from './stage-overlay';
import './charts.css';

/** Palette entries are CSS variables (charts.css) with a light and a dark value each. */
const C = {
  fg: 'var(--chart-fg)',
  blue: 'var(--chart-blue)',
  orange: 'var(--chart-orange)',
  green: 'var(--chart-green)',
  purple: 'var(--chart-purple)',
  teal: 'var(--chart-teal)',
  pink: 'var(--chart-pink)',
  gold: 'var(--chart-gold)',
} as const;

/** Each reward function keeps its colour in every chart it appears in. */
const REWARD_COLORS: Record<RewardName, string> = {
  accuracy: C.green,
  format: C.blue,
  format_soft: C.purple,
  tag_count: C.teal,
  language: C.gold,
  overlong: C.pink,
  preference: C.orange,
};

interface ChartDef {
  id: string;
  title: string;
  explanation: string;
  lines: readonly ChartLine[];
  band?: ChartBand;
  yDomain?: AxisDomain;
  emptyText?: string;
}

/**
 * From 0 to the data's maximum, for metrics that are often exactly 0 (KL with beta = 0, clipping
 * with mu = 1): a floor keeps an all-zero line on a small axis (0 to 0.04) instead of 0 to 1.
 */
const FROM_ZERO: AxisDomain = [0, (max: number) => (max > 0 ? max : 0.04)];

const REWARD_EXPLANATION =
  'Mean reward per sampled completion. The thick line is the weighted total that advantages are ' +
  'computed from; thin lines are each reward function\'s own unweighted mean score (dashed: weight 0 ' +
  'now, scored but not rewarded). A total that rises only through format means the model learned the ' +
  'tags, not the task.';

/** The charts after the reward chart, whose lines depend on the run. */
const FIXED_CHARTS: readonly ChartDef[] = [
  {
    id: 'accuracy',
    title: 'Accuracy: train vs held-out',
    explanation:
      'Train is the accuracy reward on this step\'s sampled completions; held-out is greedy pass@1 on ' +
      'problems never trained on, counting an answer only inside the answer tags (solid) or anywhere at ' +
      'the end of the text (dashed). A gap between the two held-out lines is format not yet learned.',
    lines: [
      { key: 'rewards/accuracy/mean', label: 'train', color: C.green, emphasis: true },
      { key: 'eval/pass@1', label: 'held-out pass@1', color: C.blue },
      { key: 'eval/pass@1_any_format', label: 'held-out, any format', color: C.orange, dashed: true },
    ],
    yDomain: [0, 1],
  },
  {
    id: 'length',
    title: 'Completion length (tokens)',
    explanation:
      'Tokens per sampled completion: the line is the batch mean, the band spans the shortest to the ' +
      'longest. DeepSeek-R1-Zero\'s answers grew longer as it learned to reason; watch whether length ' +
      'moves with accuracy, and whether the band\'s top sits at the length cap, where completions are cut off.',
    lines: [{ key: 'completions/mean_length', label: 'mean', color: C.blue, emphasis: true }],
    band: { lowKey: 'completions/min_length', highKey: 'completions/max_length', label: 'min–max', color: C.blue },
    yDomain: [0, 'auto'],
  },
  {
    id: 'kl',
    title: 'KL to the reference model',
    explanation:
      'How far the policy has drifted from the frozen reference (the model the run started from), ' +
      'estimated per completion token with the k3 estimator and averaged. The loss adds beta × KL, so a ' +
      'larger beta holds the policy closer; with beta = 0 there is no reference and this stays at 0.',
    lines: [{ key: 'kl', label: 'KL (k3)', color: C.purple, emphasis: true }],
    yDomain: FROM_ZERO,
  },
  {
    id: 'entropy',
    title: 'Policy entropy',
    explanation:
      'Mean entropy (nats) of the policy\'s next-token distribution over completion tokens: how unsure ' +
      'it is of what to write. It usually falls as RL sharpens the policy; a collapse towards 0 means a ' +
      'group\'s samples become identical, their rewards stop differing, and learning stalls.',
    lines: [{ key: 'entropy', label: 'entropy', color: C.teal, emphasis: true }],
    yDomain: [0, 'auto'],
  },
  {
    id: 'clip',
    title: 'Clipped tokens',
    explanation:
      'Share of completion tokens whose probability ratio π_new / π_old has left [1 − eps_low, 1 + eps_high] ' +
      'on the side the clip cuts: low (ratio below, negative advantage), high (above, positive advantage); ' +
      'region is their sum. With one update per batch (mu = 1) the ratio is exactly 1, so all three stay 0.',
    lines: [
      { key: 'clip_ratio/region_mean', label: 'region', color: C.fg, dashed: true },
      { key: 'clip_ratio/low_mean', label: 'low', color: C.blue },
      { key: 'clip_ratio/high_mean', label: 'high', color: C.orange },
    ],
    yDomain: FROM_ZERO,
  },
  {
    id: 'zero-std',
    title: 'Groups with no learning signal',
    explanation:
      'Share of sampled prompt groups in which every completion got the same reward: their advantages ' +
      'are all 0, so they teach nothing. Near 1 means the prompts are too hard (all wrong) or too easy ' +
      '(all right); DAPO\'s dynamic sampling replaces such groups. Dashed: the mean reward spread within a group.',
    lines: [
      { key: 'frac_reward_zero_std', label: 'zero-std groups', color: C.pink, emphasis: true },
      { key: 'reward_std', label: 'within-group reward std', color: C.fg, dashed: true },
    ],
    yDomain: [0, 1],
  },
  {
    id: 'loss',
    title: 'Loss',
    explanation:
      'What the optimiser minimises: the policy loss (the negated clipped surrogate, dashed) plus beta × KL. ' +
      'Unlike a supervised loss it is no progress measure: advantages are centred within each group, so it ' +
      'hovers near 0 while the policy improves. Read reward and accuracy for progress.',
    lines: [
      { key: 'loss', label: 'loss', color: C.fg, emphasis: true },
      { key: 'policy_loss', label: 'policy loss', color: C.orange, dashed: true },
    ],
  },
  {
    id: 'reflection',
    title: 'Reflection: re-checking its own work',
    explanation:
      'Share of completions whose reasoning catches a slip with "wait" and writes the step again, the self-check ' +
      'the corpus seeds. R1-Zero\'s "aha moment" is this share growing under RL; compare it with length: ' +
      'longer answers without more re-checks are just longer. Zero throughout means the base model never learned the pattern.',
    lines: [
      { key: 'completions/reflection', label: 'train samples', color: C.purple },
      { key: 'eval/reflection', label: 'held-out (greedy)', color: C.fg, emphasis: true },
    ],
    yDomain: [0, 'auto'],
  },
  {
    id: 'stage-losses',
    title: 'Supervised and reward-model stages',
    explanation:
      'Pipeline stages that are not RL: the next-token loss of SFT stages (cold start, rejection sampling, ' +
      'distillation, pretraining a student) should fall; the reward model\'s Bradley-Terry loss should fall while its ' +
      'pairwise accuracy on held-out preference pairs rises above 0.5 (chance). PPO stages add their value loss.',
    lines: [
      { key: 'sft/loss', label: 'SFT loss', color: C.fg, emphasis: true },
      { key: 'rm/loss', label: 'reward-model loss', color: C.purple },
      { key: 'eval/rm_pairwise_accuracy', label: 'RM held-out pairwise acc.', color: C.green },
      { key: 'value_loss', label: 'PPO value loss', color: C.orange, dashed: true },
    ],
    emptyText: 'Appears when a pipeline runs an SFT, reward-model or PPO stage.',
  },
  {
    id: 'grad-norm',
    title: 'Gradient norm',
    explanation:
      'Global norm of the gradient before it is clipped to max_grad_norm. Spikes mark steps where a few ' +
      'completions pushed hard; a norm that stays above max_grad_norm means every update is being scaled down.',
    lines: [{ key: 'grad_norm', label: 'grad norm', color: C.gold, emphasis: true }],
    yDomain: [0, 'auto'],
  },
];

/**
 * The reward chart's lines: the total, then each reward function that has a score in the history.
 * Functions with weight 0 now are dashed: still scored, not rewarded.
 */
function rewardLines(present: readonly RewardName[], weights: RewardWeights): ChartLine[] {
  return [
    { key: 'reward', label: 'total (weighted)', color: C.fg, emphasis: true },
    ...present.map((name) => {
      const off = (weights[name] ?? 0) === 0;
      return {
        key: `rewards/${name}/mean`,
        label: off ? `${name} (weight 0)` : name,
        color: REWARD_COLORS[name],
        dashed: off,
      };
    }),
  ];
}

function presentRewards(history: readonly MetricPoint[]): RewardName[] {
  return REWARD_NAMES.filter((name) => hasKey(history, `rewards/${name}/mean`));
}

const NO_WEIGHT_CHANGES: WeightChange[] = [];
const NO_STAGE_BANDS: StageBand[] = [];

/** A chart that redraws on its turn (see staggered-refresh.ts), not on every metrics batch. */
function StaggeredChart(props: MetricChartProps) {
  const [sectionRef, onScreen] = useOnScreen<HTMLElement>();
  const version = useStaggeredValue(props.historyVersion, props.history.length === 0, onScreen);
  return <MetricChart {...props} historyVersion={version} sectionRef={sectionRef} />;
}

/**
 * After a re-run from a later stage, the replaced run's main training line and main held-out
 * line stay on the chart, dashed, so the two runs can be compared.
 */
function withPreviousRun(c: ChartDef): ChartDef {
  const main = [c.lines.find((l) => !l.key.startsWith('eval/')), c.lines.find((l) => l.key.startsWith('eval/'))];
  const ghosts = main.flatMap((l) => (l ? [{ key: `${PREVIOUS_RUN_PREFIX}${l.key}`, label: `${l.label} (previous run)`, color: l.color, dashed: true }] : []));
  return { ...c, lines: [...c.lines, ...ghosts] };
}

export function ChartsPanel() {
  const history = useLab((s) => s.history);
  const historyVersion = useLab((s) => s.historyVersion);
  const smoothing = useLab((s) => s.smoothing);
  const weightChanges = useLab((s) => s.weightChanges);
  const rewardWeights = useLab((s) => s.rewardWeights);
  const stages = useLab((s) => s.stages);
  // Pipeline stages that have started, as bands; the running one reaches the end of the axis.
  const stageBands = useMemo<StageBand[]>(() => stages.flatMap((st) => (st.firstStep === undefined ? [] : [{
    id: st.id, label: st.label, firstStep: st.firstStep, ...(st.lastStep === undefined ? {} : { lastStep: st.lastStep }),
  }])), [stages]);
  const sliderId = useId();
  // recharts' first draw is slow (code not yet compiled): pay for it while the page is idle.
  useEffect(scheduleChartWarmUp, []);

  // The smoothing slider redraws every chart: at low priority, so the slider itself stays responsive.
  const smooth = useDeferredValue(smoothing);
  // New data reaches each chart in turn (StaggeredChart), never all charts in one task.
  const version = historyVersion;

  // A joined string, so the reward chart's lines keep their identity until the set really changes.
  const presentKey = useMemo(() => {
    void version; // history is appended in place; the version says when to look again
    return presentRewards(history).join(',');
  }, [history, version]);
  const rewardChart = useMemo<ChartDef>(() => ({
    id: 'reward',
    title: 'Reward',
    explanation: REWARD_EXPLANATION,
    lines: rewardLines(presentKey ? (presentKey.split(',') as RewardName[]) : [], rewardWeights),
  }), [presentKey, rewardWeights]);

  // Compared stages (GRPO vs PPO) drawn over each other from a shared step 0, when asked.
  const compareStages = useLab((s) => s.compareStages);
  const overlay = useLab((s) => s.overlay);
  const compared = useMemo(() => startedComparedStages(stages, compareStages), [stages, compareStages]);
  const overlaid = overlay && compared.length >= 2;
  const shownHistory = useMemo(() => {
    void version; // history is appended in place; the version says when to look again
    return overlaid ? overlayHistory(history, compared) : history;
  }, [overlaid, history, version, compared]);

  const forkGhost = useLab((s) => s.forkGhost);
  const charts = useMemo(() => {
    const all = [rewardChart, ...FIXED_CHARTS];
    // The min-max band belongs to one run: overlaid stages draw their lines only.
    if (overlaid) return all.map((c) => ({ ...c, band: undefined, lines: overlayLines(c.lines, compared) }));
    return forkGhost ? all.map(withPreviousRun) : all;
  }, [rewardChart, forkGhost, overlaid, compared]);
  const overlayId = useId();

  return (
    <div className="charts">
      <div className="charts__toolbar">
        <label className="charts__smoothing" htmlFor={sliderId}>
          <span>Smoothing</span>
          <input
            id={sliderId}
            type="range"
            min={0}
            max={0.99}
            step={0.01}
            value={smoothing}
            data-testid="smoothing"
            aria-describedby={`${sliderId}-hint`}
            onChange={(e) => useLab.getState().set({ smoothing: Number(e.currentTarget.value) })}
          />
          <output className="charts__smoothing-value" htmlFor={sliderId}>{smoothing.toFixed(2)}</output>
        </label>
        <span className="charts__hint" id={`${sliderId}-hint`}>
          Exponential moving average of training metrics; held-out evaluations (dots) are never smoothed.
        </span>
        {compareStages.length >= 2 && (
          <label className="charts__overlay" htmlFor={overlayId}>
            <input
              id={overlayId}
              type="checkbox"
              checked={overlay}
              data-testid="overlay-stages"
              onChange={(e) => useLab.getState().set({ overlay: e.currentTarget.checked })}
            />
            <span>
              Overlay the compared stages ({compareStages.map((id) => stages.find((st) => st.id === id)?.label ?? id).join(' vs ')}),
              each from its own step 0; off: one after the other on the pipeline&apos;s steps.
            </span>
          </label>
        )}
      </div>
      <div className="charts__grid">
        {charts.map((c) => (
          <StaggeredChart
            key={c.id}
            id={c.id}
            title={c.title}
            explanation={c.explanation}
            lines={c.lines}
            band={c.band}
            yDomain={c.yDomain}
            emptyText={c.emptyText}
            history={shownHistory}
            historyVersion={version}
            smoothing={smooth}
            weightChanges={overlaid ? NO_WEIGHT_CHANGES : weightChanges}
            stageBands={overlaid ? NO_STAGE_BANDS : stageBands}
          />
        ))}
      </div>
    </div>
  );
}
