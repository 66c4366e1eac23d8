/**
 * Training progress on stderr. On a terminal: one line redrawn in place with `\r` (step/total, a bar, smoothed
 * loss, learning rate, tokens/s, elapsed<ETA). Otherwise (logs, pipes, CI): plain lines every `every` steps
 * and at least every `maxIntervalSeconds`, e.g.
 * `step 120/500  epoch 0.48  loss 0.4312  lr 1.6e-05  1234 tok/s  elapsed 0:02:41  eta 0:10:31`.
 *
 * Rates (tokens/s, and the steps/s behind the ETA) are measured over a sliding window of recent updates, so
 * slow first steps (shader compilation, warmup) stop distorting them once the window has moved past them.
 */
import type { StepRecord } from "./run_log.ts";

/** What the progress line shows of a step: its record's step, epoch, loss, learning rate and tokens. */
export type ProgressUpdate = Pick<StepRecord, "step" | "epoch" | "loss" | "lr" | "tokens">;

export interface ProgressOptions {
  totalSteps: number;
  /** Redrawn bar (true) or plain lines (false). Default: `Deno.stderr.isTerminal()`. */
  isTerminal?: boolean;
  /** Where text goes. Default: synchronous writes to stderr. */
  write?: (s: string) => void;
  /** Clock in milliseconds. Default: `performance.now`. */
  now?: () => number;
  /** Step already done when the reporter starts (a resumed run); rates and ETA count from here. Default 0. */
  startStep?: number;
  /** Plain mode: print every this many steps. Default: about 30 lines per run. */
  every?: number;
  /** Plain mode: also print when this long has passed since the last line. Default 30. */
  maxIntervalSeconds?: number;
  /** Terminal mode: redraw at most this often (the last step is always drawn). Default 100. */
  minRedrawMs?: number;
  /** Terminal mode: line width; the line is cut to `columns - 1` so it never wraps. Default: the console's. */
  columns?: number;
  /** Bar smoothing factor for the loss EMA (bias-corrected). Default 0.9. */
  smoothing?: number;
  /** How many recent updates the tokens/s and ETA rates span. Default 20. */
  rateWindow?: number;
}

/** A snapshot of the reporter's numbers, exposed for tests and for callers that log them elsewhere. */
export interface ProgressStats {
  step: number;
  totalSteps: number;
  epoch: number;
  /** Bias-corrected EMA of the (finite) losses; NaN before the first finite loss. */
  smoothedLoss: number;
  /** Mean loss since the last plain line (NaN if any loss in the window was NaN or the window is empty). */
  windowLoss: number;
  lr: number;
  tokensPerSecond: number;
  stepsPerSecond: number;
  elapsedSeconds: number;
  /** NaN until a rate is known. */
  etaSeconds: number;
}

const CLEAR_LINE = "\r\x1b[2K";

/** `h:mm:ss`; `-:--:--` when not finite. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "-:--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`;
}

/** Python-style short exponent: 1.6e-05, 2.0e-03, 0 for zero. */
export function formatLr(lr: number): string {
  if (lr === 0) return "0";
  if (!Number.isFinite(lr)) return String(lr);
  const [mant, exp] = lr.toExponential(1).split("e");
  const sign = exp.startsWith("-") ? "-" : "+";
  const digits = exp.replace(/^[-+]/, "").padStart(2, "0");
  return `${mant}e${sign}${digits}`;
}

function formatLoss(loss: number): string {
  return Number.isFinite(loss) ? loss.toFixed(4) : String(loss).toLowerCase();
}

function formatRate(tokensPerSecond: number): string {
  return Number.isFinite(tokensPerSecond) ? `${Math.round(tokensPerSecond)} tok/s` : "- tok/s";
}

function defaultWrite(s: string): void {
  const bytes = new TextEncoder().encode(s);
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}

function defaultColumns(): number {
  try {
    return Deno.consoleSize().columns || 100;
  } catch {
    return 100;
  }
}

interface Sample {
  t: number;
  step: number;
  tokens: number;
}

export class ProgressReporter {
  readonly totalSteps: number;
  readonly isTerminal: boolean;
  readonly every: number;
  private readonly write: (s: string) => void;
  private readonly now: () => number;
  private readonly startStep: number;
  private readonly maxIntervalMs: number;
  private readonly minRedrawMs: number;
  private readonly columns: number;
  private readonly beta: number;
  private readonly rateWindow: number;
  private readonly t0: number;

  private samples: Sample[];
  private totalTokens = 0;
  private last: ProgressUpdate | null = null;
  private ema = 0;
  private emaCount = 0;
  private windowSum = 0;
  private windowCount = 0;
  private lastPrintT: number;
  private lastPrintedStep = -1;
  private lastDrawT = -Infinity;
  private barShown = false;
  private finished = false;

  constructor(opts: ProgressOptions) {
    this.totalSteps = Math.max(0, Math.floor(opts.totalSteps));
    this.isTerminal = opts.isTerminal ?? Deno.stderr.isTerminal();
    this.write = opts.write ?? defaultWrite;
    this.now = opts.now ?? (() => performance.now());
    this.startStep = opts.startStep ?? 0;
    const remaining = Math.max(1, this.totalSteps - this.startStep);
    this.every = Math.max(1, Math.floor(opts.every ?? Math.ceil(remaining / 30)));
    this.maxIntervalMs = (opts.maxIntervalSeconds ?? 30) * 1000;
    this.minRedrawMs = opts.minRedrawMs ?? 100;
    this.columns = opts.columns ?? (this.isTerminal ? defaultColumns() : 200);
    this.beta = opts.smoothing ?? 0.9;
    this.rateWindow = Math.max(2, opts.rateWindow ?? 20);
    this.t0 = this.now();
    this.lastPrintT = this.t0;
    this.samples = [{ t: this.t0, step: this.startStep, tokens: 0 }];
  }

  /** Records a finished optimizer step and prints or redraws as due. */
  update(u: ProgressUpdate): void {
    const t = this.now();
    this.last = u;
    this.totalTokens += Number.isFinite(u.tokens) ? u.tokens : 0;
    this.samples.push({ t, step: u.step, tokens: this.totalTokens });
    if (this.samples.length > this.rateWindow) this.samples.shift();
    if (Number.isFinite(u.loss)) {
      this.ema = this.beta * this.ema + (1 - this.beta) * u.loss;
      this.emaCount++;
    }
    this.windowSum += u.loss;
    this.windowCount++;

    const isLast = u.step >= this.totalSteps;
    if (this.isTerminal) {
      if (isLast || t - this.lastDrawT >= this.minRedrawMs) this.draw(t);
    } else {
      const due = u.step % this.every === 0 || isLast || u.step === this.startStep + 1 ||
        t - this.lastPrintT >= this.maxIntervalMs;
      if (due) this.printLine(t);
    }
  }

  /** Prints `text` on its own line; on a terminal the bar is cleared first and redrawn below it. */
  message(text: string): void {
    const clean = text.replace(/\n+$/, "");
    if (this.isTerminal && this.barShown) {
      this.write(`${CLEAR_LINE}${clean}\n`);
      this.barShown = false;
      if (!this.finished) this.draw(this.now());
    } else {
      this.write(`${clean}\n`);
    }
  }

  /** Draws the final state and ends the bar's line (terminal) or prints the last step if not yet printed. */
  finish(): void {
    if (this.finished) return;
    const t = this.now();
    if (this.isTerminal) {
      if (this.last) this.draw(t);
      if (this.barShown) this.write("\n");
      this.barShown = false;
    } else if (this.last && this.lastPrintedStep !== this.last.step) {
      this.printLine(t);
    }
    this.finished = true;
  }

  /** The current numbers (at the injected clock's current time). */
  stats(t = this.now()): ProgressStats {
    const first = this.samples[0], lastS = this.samples[this.samples.length - 1];
    const dt = (lastS.t - first.t) / 1000;
    const stepsPerSecond = dt > 0 ? (lastS.step - first.step) / dt : NaN;
    const tokensPerSecond = dt > 0 ? (lastS.tokens - first.tokens) / dt : NaN;
    const step = this.last?.step ?? this.startStep;
    const left = Math.max(0, this.totalSteps - step);
    const etaSeconds = left === 0 ? 0 : stepsPerSecond > 0 ? left / stepsPerSecond : NaN;
    return {
      step,
      totalSteps: this.totalSteps,
      epoch: this.last?.epoch ?? 0,
      smoothedLoss: this.emaCount > 0 ? this.ema / (1 - this.beta ** this.emaCount) : NaN,
      windowLoss: this.windowCount > 0 ? this.windowSum / this.windowCount : NaN,
      lr: this.last?.lr ?? NaN,
      tokensPerSecond,
      stepsPerSecond,
      elapsedSeconds: (t - this.t0) / 1000,
      etaSeconds,
    };
  }

  /** The plain-mode line for the current state. */
  plainLine(t = this.now()): string {
    const s = this.stats(t);
    const width = String(s.totalSteps).length;
    return [
      `step ${String(s.step).padStart(width)}/${s.totalSteps}`,
      `epoch ${s.epoch.toFixed(2)}`,
      `loss ${formatLoss(s.windowLoss)}`,
      `lr ${formatLr(s.lr)}`,
      formatRate(s.tokensPerSecond),
      `elapsed ${formatDuration(s.elapsedSeconds)}`,
      `eta ${formatDuration(s.etaSeconds)}`,
    ].join("  ");
  }

  /** The terminal bar for the current state, cut to the line width. */
  barLine(t = this.now()): string {
    const s = this.stats(t);
    const frac = s.totalSteps > 0 ? Math.min(1, s.step / s.totalSteps) : 1;
    const barWidth = 24;
    const eighths = Math.round(frac * barWidth * 8);
    const full = Math.floor(eighths / 8), part = eighths % 8;
    const partial = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"][part];
    const bar = ("█".repeat(full) + partial).padEnd(barWidth, " ");
    const lastLoss = this.last?.loss ?? NaN;
    const loss = Number.isNaN(lastLoss) && this.last ? "nan" : formatLoss(s.smoothedLoss);
    const width = String(s.totalSteps).length;
    const line = [
      `${String(s.step).padStart(width)}/${s.totalSteps} |${bar}| ${
        String(Math.floor(frac * 100)).padStart(3)
      }%`,
      `ep ${s.epoch.toFixed(2)}`,
      `loss ${loss}`,
      `lr ${formatLr(s.lr)}`,
      formatRate(s.tokensPerSecond),
      `${formatDuration(s.elapsedSeconds)}<${formatDuration(s.etaSeconds)}`,
    ].join("  ");
    const max = Math.max(10, this.columns - 1);
    return [...line].length > max ? [...line].slice(0, max).join("") : line;
  }

  private draw(t: number): void {
    this.write(`${CLEAR_LINE}${this.barLine(t)}`);
    this.barShown = true;
    this.lastDrawT = t;
  }

  private printLine(t: number): void {
    this.write(`${this.plainLine(t)}\n`);
    this.lastPrintT = t;
    this.lastPrintedStep = this.last?.step ?? -1;
    this.windowSum = 0;
    this.windowCount = 0;
  }
}
