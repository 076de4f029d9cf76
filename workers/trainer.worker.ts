/**
 * The trainer worker: a thin comlink shell around TrainingSession (all logic lives there, where
 * Vitest can reach it). Checkpoint bytes arrive and leave as transferred ArrayBuffers.
 */
import * as Comlink from 'comlink';
import { initBackend } from './backend';
import { checkGpuErrors } from './gpu-errors';
import { pipelineRefusal } from './sync-readback';
import type { BackendInfo, TrainerApi } from './protocol';
import { TrainingSession } from './training-session';

const session = new TrainingSession(undefined, undefined, checkGpuErrors);
let backend: BackendInfo | null = null;

async function fetchText(url: string): Promise<string> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`checkpoint: ${url} answered ${response.status} ${response.statusText}`);
  return response.text();
}

const api: TrainerApi = {
  init: async (choice, timeoutMs) => (backend = await initBackend(choice, timeoutMs)),
  subscribe: (events) => session.subscribe(events),
  loadCheckpoint: async (source) => 'url' in source
    ? session.loadCheckpoint(await fetchText(source.url), source.url.split('/').pop() ?? source.url)
    : session.loadCheckpoint(new TextDecoder().decode(source.bytes), source.name),
  configure: async (config) => session.configure(config),
  // Training runs on after the call returns; progress and errors arrive as status events.
  start: async () => { void session.start(); },
  pause: () => session.pause(),
  resume: async () => { void session.resume(); },
  stepOnce: () => session.stepOnce(),
  reset: () => session.reset(),
  setRewardWeights: async (weights) => session.setRewardWeights(weights),
  sample: async () => session.sample(),
  evaluate: async () => session.evaluate(),
  recipes: async (scale) => session.recipes(scale),
  startPipeline: async (source, startAt) => {
    const refusal = pipelineRefusal(backend);
    if (refusal) throw new Error(refusal);
    session.startPipeline(source, startAt);
  },
  saveCheckpoint: async () => {
    const bytes = new TextEncoder().encode(await session.saveCheckpoint()).buffer as ArrayBuffer;
    return Comlink.transfer(bytes, [bytes]);
  },
};

Comlink.expose(api);
