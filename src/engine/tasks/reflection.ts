/**
 * Reflection: a solution that re-checks its own work. The corpus seeds one self-check pattern
 * (a step, "wait", and the step written again), so the base model knows it from step 0 and a
 * chart can show whether RL grows it (R1-Zero's "aha moment") or whether length grows without it.
 */
export const REFLECTION_MARKER = 'wait';

/** True when a reasoning text contains the self-check marker as a word. */
export function hasReflection(think: string): boolean {
  return think.split(/\s+/).includes(REFLECTION_MARKER);
}

/** The steps with every retracted step (the one before a "wait") and the marker itself removed. */
export function withoutRetractedSteps(steps: string[]): string[] {
  const out: string[] = [];
  for (const step of steps) {
    if (step === REFLECTION_MARKER) out.pop();
    else out.push(step);
  }
  return out;
}
