/**
 * The app's one store instance, starting from the default preset. Components read it with
 * selectors (`useLab((s) => s.status)`); the trainer client writes to it from worker events.
 */
import { getPreset } from '../../engine/presets';
import { createLabStore } from './lab-store';

export const DEFAULT_PRESET = 'r1-zero';

export const useLab = createLabStore(getPreset(DEFAULT_PRESET).config, DEFAULT_PRESET);
