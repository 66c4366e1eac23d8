/** Series math for the charts: the point type, smoothing and downsampling, and the step log's cleanup. */

/** Most points one polyline may have. */
export const MAX_POLYLINE_POINTS = 2000;

export interface Point {
  x: number;
  /** Non-finite y marks a gap: the line breaks there. */
  y: number;
}

/**
 * At most `max` finite points that keep the line's shape: each bucket of consecutive points keeps its lowest
 * and highest point (so spikes survive), plus the first and last points; a bucket with a gap keeps one gap.
 */
export function downsample(points: Point[], max = MAX_POLYLINE_POINTS): Point[] {
  const finite = points.reduce((n, p) => n + (Number.isFinite(p.y) ? 1 : 0), 0);
  if (finite <= max) return points;
  const buckets = Math.max(1, Math.floor((max - 2) / 2));
  const out: Point[] = [points[0]];
  const size = points.length / buckets;
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor(b * size), hi = Math.min(points.length, Math.floor((b + 1) * size));
    let iMin = -1, iMax = -1, iGap = -1;
    for (let i = lo; i < hi; i++) {
      if (i === 0 || i === points.length - 1) continue;
      const y = points[i].y;
      if (!Number.isFinite(y)) {
        if (iGap < 0) iGap = i;
        continue;
      }
      if (iMin < 0 || y < points[iMin].y) iMin = i;
      if (iMax < 0 || y > points[iMax].y) iMax = i;
    }
    const keep = [...new Set([iMin, iMax, iGap].filter((i) => i >= 0))].sort((a, b) => a - b);
    for (const i of keep) out.push(points[i]);
  }
  if (points.length > 1) out.push(points[points.length - 1]);
  return out;
}

/** Bias-corrected exponential moving average of the finite values; non-finite values pass through as gaps. */
export function emaSmooth(points: Point[], beta: number): Point[] {
  let ema = 0, n = 0;
  return points.map((p) => {
    if (!Number.isFinite(p.y)) return { x: p.x, y: NaN };
    ema = beta * ema + (1 - beta) * p.y;
    n++;
    return { x: p.x, y: ema / (1 - beta ** n) };
  });
}

/** The EMA span for `n` points: about 1/30 of the run, between 1 (none) and 100 steps. */
export function smoothingSpan(n: number): number {
  return Math.max(1, Math.min(100, Math.round(n / 30)));
}

/** Steps sorted by step; when a resumed run logged a step twice, the later line wins. */
export function cleanSteps<Step extends { step: number }>(steps: Step[]): Step[] {
  const byStep = new Map<number, Step>();
  for (const s of steps) if (s && Number.isFinite(s.step)) byStep.set(s.step, s);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}
