/**
 * The step axis's labels: round steps from 0 (1, 2, 2.5 or 5 times a power of ten, whole steps
 * only) up to the last step drawn, at most `count` of them. recharts' own ticks for a
 * [0, dataMax] axis end at dataMax itself, and with every label drawn (interval 0, which spares
 * the measuring) the last step's label lands on the last round one's: 60 and 62 read "6062".
 */
const MULTIPLES = [1, 2, 2.5, 5, 10];

export function stepTicks(lastStep: number, count = 5): number[] {
  if (!(lastStep > 0) || count < 2) return [0];
  const wanted = lastStep / (count - 1);
  const magnitude = 10 ** Math.floor(Math.log10(wanted));
  const spacing = MULTIPLES.map((m) => Math.round(m * magnitude * 1e6) / 1e6).find((s) => s >= wanted && Number.isInteger(s)) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let t = 0; t <= lastStep; t += spacing) ticks.push(t);
  return ticks;
}
