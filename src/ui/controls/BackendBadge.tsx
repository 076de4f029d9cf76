/**
 * Which tfjs backend trains, on which adapter, and a choice to force another (which restarts
 * the worker). Notes say why a faster backend was not used.
 */
import { useId } from 'react';
import { BACKEND_CHOICES, type BackendChoice } from '../../../workers/protocol';
import { labClient } from '../lab-client';
import { useLab } from '../store/use-lab';

export function BackendBadge() {
  const backend = useLab((s) => s.backend);
  const choice = useLab((s) => s.backendChoice);
  const fatal = useLab((s) => s.fatalError);
  const id = useId();
  return (
    <div className="backend" data-testid="backend">
      <span className={`badge badge--${backend?.name ?? 'none'}`} data-testid="backend-badge" data-backend={backend?.name ?? ''}
        title={backend?.adapter}>
        {backend ? `${backend.name}${backend.fallbackAdapter ? ' (software)' : ''}` : fatal ? 'no backend' : 'starting…'}
      </span>
      {backend && <span className="backend__adapter" data-testid="backend-adapter">{backend.adapter}</span>}
      <label htmlFor={id} className="backend__label">Backend</label>
      <select id={id} value={choice} onChange={(e) => void labClient.boot(e.target.value as BackendChoice)} data-testid="backend-choice">
        {BACKEND_CHOICES.map((b) => <option key={b} value={b}>{b}</option>)}
      </select>
      {backend?.notes.map((n) => <small key={n} className="backend__note" data-testid="backend-note">{n}</small>)}
      {fatal && <p className="field__error" role="alert" data-testid="fatal-error">{fatal}</p>}
    </div>
  );
}
