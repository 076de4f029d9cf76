/**
 * The run settings: a preset to start from and every field of the run config. Values are checked
 * as the user types with the engine's own schema; an invalid field shows its error inline and
 * the run cannot start until it is fixed.
 */
import { useId, useState } from 'react';
import { type GrpoConfig, configIssues } from '../../engine/config';
import { PRESETS } from '../../engine/presets';
import { useLab } from '../store/use-lab';
import { type FieldSpec, SETTING_FIELDS, fieldText, parseField } from './settings-fields';

type Draft = Record<string, string | boolean>;

function draftOf(config: GrpoConfig): Draft {
  const draft: Draft = {};
  for (const f of SETTING_FIELDS) {
    const v = config[f.key];
    draft[f.key] = f.kind === 'checkbox' ? Boolean(v) : fieldText(v);
  }
  return draft;
}

function configOf(base: GrpoConfig, draft: Draft): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const f of SETTING_FIELDS) {
    const v = draft[f.key];
    out[f.key] = typeof v === 'boolean' ? v : parseField(f, v ?? '');
  }
  return out;
}

function Field({ spec, value, error, onChange }: { spec: FieldSpec; value: string | boolean; error?: string; onChange(v: string | boolean): void }) {
  const id = useId();
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  const described = error ? `${helpId} ${errorId}` : helpId;
  let input;
  if (spec.kind === 'checkbox') {
    input = <input id={id} type="checkbox" checked={value === true} aria-describedby={described} onChange={(e) => onChange(e.target.checked)} data-testid={`setting-${spec.key}`} />;
  } else if (spec.kind === 'select') {
    input = (
      <select id={id} value={String(value)} aria-describedby={described} onChange={(e) => onChange(e.target.value)} data-testid={`setting-${spec.key}`}>
        {spec.options?.map((o) => <option key={o} value={o}>{o}</option>)}
      </select>
    );
  } else {
    input = (
      <input id={id} type="text" inputMode={spec.kind === 'int' ? 'numeric' : spec.kind === 'number' ? 'decimal' : 'text'} value={String(value)}
        aria-invalid={error ? true : undefined} aria-describedby={described}
        onChange={(e) => onChange(e.target.value)} data-testid={`setting-${spec.key}`} />
    );
  }
  return (
    <div className={`field${error ? ' field--invalid' : ''}`}>
      <label htmlFor={id}>{spec.label}</label>
      {input}
      <small id={helpId} className="field__help">{spec.help}</small>
      {error && <small id={errorId} className="field__error" role="alert" data-testid={`setting-error-${spec.key}`}>{error}</small>}
    </div>
  );
}

export function SettingsForm() {
  // Remounting on a revision reloads the draft from settings changed outside the form.
  const revision = useLab((s) => s.settingsRevision);
  return <SettingsFormBody key={revision} />;
}

function SettingsFormBody() {
  const presetName = useLab((s) => s.presetName);
  const errors = useLab((s) => s.settingsErrors);
  const [base, setBase] = useState<GrpoConfig>(() => useLab.getState().settings);
  const [draft, setDraft] = useState<Draft>(() => draftOf(useLab.getState().settings));
  const presetId = useId();

  const apply = (nextBase: GrpoConfig, nextDraft: Draft) => {
    setBase(nextBase);
    setDraft(nextDraft);
    const store = useLab.getState();
    // Reward weights belong to the sliders (they can change mid-run).
    const candidate = { ...configOf(nextBase, nextDraft), rewardWeights: store.rewardWeights };
    const issues = configIssues(candidate);
    store.set(Object.keys(issues).length ? { settingsErrors: issues } : { settingsErrors: {}, settings: candidate as GrpoConfig });
  };

  const choosePreset = (name: string) => {
    const preset = PRESETS[name];
    if (!preset) return;
    useLab.getState().set({ presetName: name, rewardWeights: { ...preset.config.rewardWeights } });
    apply(preset.config, draftOf(preset.config));
  };

  return (
    <section className="card settings" aria-labelledby="settings-heading" data-testid="settings">
      <h2 id="settings-heading">Run settings</h2>
      <div className="field">
        <label htmlFor={presetId}>Preset</label>
        <select id={presetId} value={presetName} onChange={(e) => choosePreset(e.target.value)} data-testid="preset">
          {Object.keys(PRESETS).map((name) => <option key={name} value={name}>{name}</option>)}
        </select>
        <small className="field__help">{PRESETS[presetName]?.description}</small>
      </div>
      <div className="settings__grid">
        {SETTING_FIELDS.map((spec) => (
          <Field key={spec.key} spec={spec} value={draft[spec.key] ?? ''} error={errors[spec.key]}
            onChange={(v) => apply(base, { ...draft, [spec.key]: v })} />
        ))}
      </div>
      {Object.entries(errors).filter(([key]) => !SETTING_FIELDS.some((f) => f.key === key)).map(([key, message]) => (
        <p key={key} className="field__error" role="alert">{key}: {message}</p>
      ))}
    </section>
  );
}
