/**
 * Where the run is in the DeepSeek-R1 recipe. Stages marked "later" are not built yet; they are
 * shown so a learner sees the whole pipeline the others belong to.
 */
import { useLab } from './store/use-lab';

const STAGES = [
  { id: 'base', label: 'Base model', live: true, help: 'Pretrained on a synthetic web-like corpus: some worked solutions, many bare or wrong answers.' },
  { id: 'r1-zero', label: 'R1-Zero RL', live: true, help: 'GRPO straight from the base with accuracy and format rewards.' },
  { id: 'cold-start', label: 'Cold-start SFT', live: true, help: 'Fine-tune on a few thousand clean, readable reasoning samples.' },
  { id: 'reasoning-rl', label: 'Reasoning RL', live: true, help: 'GRPO again, adding a language-consistency reward.' },
  { id: 'rejection-sampling', label: 'Rejection sampling SFT', live: true, help: 'Keep the verified best samples and fine-tune on them.' },
  { id: 'final-rl', label: 'Final RL', live: true, help: 'Rule rewards mixed with a learned preference reward model.' },
  { id: 'distill', label: 'Distillation', live: true, help: 'Teach a smaller model from the big one\'s correct answers.' },
] as const;

export function StageBar() {
  const stage = useLab((s) => s.status.stage);
  return (
    <nav className="stages" aria-label="R1 pipeline stages" data-testid="stage-bar">
      <ol>
        {STAGES.map((s) => {
          const current = s.id === stage;
          return (
            <li key={s.id} className={`stage${current ? ' stage--current' : ''}${s.live ? '' : ' stage--later'}`}
              aria-current={current ? 'step' : undefined} title={s.help} data-testid={`stage-${s.id}`}>
              {s.label}{s.live ? '' : ' (later)'}
            </li>
          );
        })}
      </ol>
    </nav>
  );
}
