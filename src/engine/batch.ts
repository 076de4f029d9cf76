/**
 * Packing prompt + completion pairs into rectangular batches.
 *
 * Prompts are left-padded and completions right-padded, so every completion starts at the same
 * column (promptWidth). Row b of the packed sequence is  [pad.. prompt | completion ..pad].
 * The model reads inputs = seq[:-1] and predicts targets = seq[1:]; lossMask is 1 where the
 * target is a completion token, which is where SFT and GRPO put their loss.
 */

export interface PackedBatch {
  /** [B, T] token ids fed to the model. */
  inputs: number[][];
  /** [B, T] the next token at each input position. */
  targets: number[][];
  /** [B, T] 1 for real input tokens, 0 for padding (drives positions and the attention bias). */
  valid: number[][];
  /** [B, T] 1 where targets[b][t] is a completion token. */
  lossMask: number[][];
  /** Column of the first completion token in the full sequence (inputs are one shorter). */
  promptWidth: number;
  /** Completion tokens per row. */
  completionLengths: number[];
}

export function packBatch(prompts: number[][], completions: number[][], padId: number, width?: number): PackedBatch {
  if (prompts.length !== completions.length) {
    throw new Error(`packBatch: ${prompts.length} prompts but ${completions.length} completions`);
  }
  const promptWidth = Math.max(...prompts.map((p) => p.length));
  const completionWidth = Math.max(1, ...completions.map((c) => c.length));
  const total = width ?? promptWidth + completionWidth;
  if (total < promptWidth + completionWidth) {
    throw new Error(`packBatch: width ${total} is shorter than the longest prompt + completion (${promptWidth + completionWidth})`);
  }
  const inputs: number[][] = [];
  const targets: number[][] = [];
  const valid: number[][] = [];
  const lossMask: number[][] = [];
  prompts.forEach((prompt, b) => {
    const completion = completions[b] as number[];
    const leftPad = promptWidth - prompt.length;
    const seq: number[] = new Array(total).fill(padId);
    const real: number[] = new Array(total).fill(0);
    for (let i = 0; i < prompt.length; i++) {
      seq[leftPad + i] = prompt[i] as number;
      real[leftPad + i] = 1;
    }
    for (let i = 0; i < completion.length; i++) {
      seq[promptWidth + i] = completion[i] as number;
      real[promptWidth + i] = 1;
    }
    inputs.push(seq.slice(0, total - 1));
    targets.push(seq.slice(1));
    valid.push(real.slice(0, total - 1));
    lossMask.push(real.slice(1).map((r, t) => (r === 1 && t + 1 >= promptWidth ? 1 : 0)));
  });
  return { inputs, targets, valid, lossMask, promptWidth, completionLengths: completions.map((c) => c.length) };
}
