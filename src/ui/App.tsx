/**
 * The lab: controls and settings on the left, live charts and the latest GRPO group on the
 * right. Training runs in a worker; this thread only draws.
 */
import { useEffect } from 'react';
import { ChartsPanel } from './charts/ChartsPanel';
import { BackendBadge } from './controls/BackendBadge';
import { RunControls } from './controls/RunControls';
import { GroupPanel } from './group/GroupPanel';
import { labClient } from './lab-client';
import { ModelCard } from './ModelCard';
import { PipelinePanel } from './pipeline/PipelinePanel';
import { RewardSliders } from './settings/RewardSliders';
import { SettingsForm } from './settings/SettingsForm';
import { StageBar } from './StageBar';
import { useLab } from './store/use-lab';

export function App() {
  useEffect(() => {
    void labClient.boot(useLab.getState().backendChoice);
    return () => labClient.shutdown();
  }, []);

  return (
    <div className="lab">
      <header className="lab__header">
        <div>
          <h1 data-testid="app-title">GRPO Lab</h1>
          <p className="lede" data-testid="app-intro">
            A tiny language model learns to add long numbers with GRPO, the reinforcement learning behind
            DeepSeek-R1, right here in your browser. For every problem it writes a group of answers; a verifier
            scores them, and the model is pushed toward the answers that beat their group's average.
          </p>
        </div>
        <BackendBadge />
      </header>
      <StageBar />
      <div className="lab__body">
        <aside className="lab__side">
          <RunControls />
          <RewardSliders />
          <ModelCard />
          <SettingsForm />
        </aside>
        <main className="lab__main">
          <PipelinePanel />
          <ChartsPanel />
          <GroupPanel />
        </main>
      </div>
    </div>
  );
}
