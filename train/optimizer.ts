/**
 * AdamW with PyTorch semantics (betas, eps, bias correction, decoupled weight decay) and global-norm
 * gradient clipping, all on the GPU: the norm is reduced on the device and read by the update kernel.
 * With a loss scale (mixed precision) it is also PyTorch's GradScaler: gradients arrive multiplied by the
 * scale, are unscaled before clipping, a step whose gradients overflowed is skipped, and the scale adapts.
 *
 * It updates the model's parameter store (model/params.ts) in place: the parameters and their gradients
 * already live in a few flat buffers, with flat exp_avg and exp_avg_sq buffers beside them here, so a step
 * is one norm and one update dispatch per flat buffer (3 to 8 for the whole model). A parameter without a
 * gradient is left alone, as PyTorch skips it: the buffer's update then runs over the runs of parameters
 * that have one.
 */
import { type Binding, gpu, keep, type Tensor, tidy } from "../autograd/mod.ts";
import { sum, zeros } from "../autograd/ops.ts";
import { fill, Tensor as T } from "../autograd/tensor.ts";
import type { ParameterStore } from "../model/params.ts";
import { adamwKernel, lossScaleUpdateKernel, SQ_CHUNK, sumSquaresKernel } from "../kernels/optimizer.ts";

/** AdamW hyperparameters; the training defaults are in TrainConfig (train/config.ts): PyTorch's and HF Trainer's. */
export interface AdamWConfig {
  lr: number;
  /** Default 0.9 / 0.999 (PyTorch). */
  betas: [number, number];
  /** Default 1e-8 (PyTorch, HF Trainer). */
  eps: number;
  /** Decoupled weight decay, not applied to biases and LayerNorm weights. Default 0.01 (HF guide). */
  weightDecay: number;
  /** Global gradient-norm clip; 0 disables. Default 1.0 (HF Trainer). */
  maxGradNorm: number;
}

/** Dynamic loss scaling; the training defaults (PyTorch GradScaler's) are in TrainConfig.lossScale. */
export interface LossScaleConfig {
  /** Default 65536 (2^16). */
  initScale: number;
  /** Default 2. */
  growthFactor: number;
  /** Default 0.5. */
  backoffFactor: number;
  /** Clean steps in a row before the scale grows. Default 2000. */
  growthInterval: number;
}

/** The loss scaler's state, as a checkpoint keeps it (PyTorch's scaler.state_dict()). */
export interface LossScaleState {
  scale: number;
  growthTracker: number;
}

/** The optimizer's moments for one flat buffer of the store, and the parameters' ranges in it. */
interface MomentGroup {
  names: string[];
  offsets: number[];
  decayEnd: number;
  param: Tensor;
  grad: Tensor;
  m: Tensor;
  v: Tensor;
}

/** `n` elements of `t` from element `start` (a multiple of SLICE_ALIGN), as a kernel binding. */
const range = (t: Tensor, start: number, n: number): Binding => ({
  buffer: t.buffer,
  offset: t.byteOffset + start * 4,
  bytes: n * 4,
});

export class AdamW {
  /**
   * Updates submitted. Without a loss scale, every one is applied: this is PyTorch's `step`. With one,
   * skipped updates count here too; the steps applied are on the GPU (`savedState()`).
   */
  step = 0;
  /** exp_avg and exp_avg_sq per parameter name: slices of the flat moment buffers. */
  readonly m = new Map<string, Tensor>();
  readonly v = new Map<string, Tensor>();
  /** Mixed precision: the current loss scale, [1] on the GPU (multiply the loss by it before backward). */
  readonly lossScale: Tensor | null = null;
  /** [growth tracker, steps applied], on the GPU. */
  private scaleState: Tensor | null = null;
  private readonly groups: MomentGroup[];

  constructor(
    readonly store: ParameterStore,
    readonly config: AdamWConfig,
    readonly lossScaling: LossScaleConfig | null = null,
  ) {
    store.allocateGradients();
    this.groups = store.groups.map((g) => {
      const group = { ...g, grad: g.grad!, m: keep(zeros([g.param.size])), v: keep(zeros([g.param.size])) };
      g.names.forEach((name, i) => {
        const shape = store.tensors.get(name)!.shape;
        this.m.set(name, keep(group.m.slice(g.offsets[i], shape)));
        this.v.set(name, keep(group.v.slice(g.offsets[i], shape)));
      });
      return group;
    });
    if (lossScaling) {
      this.lossScale = keep(T.fromArray([lossScaling.initScale], [1]));
      this.scaleState = keep(T.fromArray([0, 0], [2]));
    }
  }

  /** Dispatches per update (norm partial sums and AdamW; the final sum and the scale update come on top). */
  get updateDispatches(): number {
    return 2 * this.groups.length;
  }

  /**
   * What a checkpoint keeps besides the moments: the steps applied (PyTorch's `step`) and the loss scaler's
   * state (null without one). With a loss scale both live on the GPU and come back in one read.
   */
  async savedState(): Promise<{ step: number; lossScale: LossScaleState | null }> {
    if (!this.lossScale || !this.scaleState) return { step: this.step, lossScale: null };
    const [scaleBytes, stateBytes] = await gpu().readMany([this.lossScale.binding, this.scaleState.binding]);
    const [scale] = new Float32Array(scaleBytes), [growthTracker, step] = new Float32Array(stateBytes);
    return { step, lossScale: { scale, growthTracker } };
  }

  /** Restores the step count (and the loss scaler's state) from a checkpoint. */
  restore(step: number, lossScale: LossScaleState | null): void {
    this.step = step;
    if (this.lossScale && this.scaleState) {
      const s = lossScale ?? { scale: this.lossScaling!.initScale, growthTracker: 0 };
      gpu().upload(this.lossScale.buffer, new Float32Array([s.scale]), this.lossScale.byteOffset);
      gpu().upload(
        this.scaleState.buffer,
        new Float32Array([s.growthTracker, step]),
        this.scaleState.byteOffset,
      );
    }
  }

  /**
   * The element ranges to update in each flat buffer: the whole buffer when every parameter in it has a
   * gradient (the usual step), else the runs of consecutive parameters that have one.
   */
  private updateRanges(): { group: MomentGroup; start: number; n: number; decayEnd: number }[] {
    const out: { group: MomentGroup; start: number; n: number; decayEnd: number }[] = [];
    for (const group of this.groups) {
      const has = group.names.map((name) => this.store.tensors.get(name)!.grad !== null);
      const total = group.param.size;
      for (let i = 0; i < has.length; i++) {
        if (!has[i]) continue;
        let j = i;
        while (j + 1 < has.length && has[j + 1]) j++;
        const start = group.offsets[i], end = j + 1 < has.length ? group.offsets[j + 1] : total;
        out.push({
          group,
          start,
          n: end - start,
          decayEnd: Math.max(0, Math.min(end, group.decayEnd) - start),
        });
        i = j;
      }
    }
    return out;
  }

  /**
   * The global L2 norm² of the gradients in `ranges`, as a [1] GPU tensor (the caller disposes it): one
   * dispatch per range writes its partial sums into a shared buffer, then one sum over all.
   */
  private gradNormSquared(ranges: ReturnType<AdamW["updateRanges"]>): Tensor {
    return tidy(() => {
      if (ranges.length === 0) return fill([1], 0);
      const chunks = ranges.map((r) => Math.ceil(r.n / SQ_CHUNK));
      const partial = new T([chunks.reduce((a, b) => a + b, 0)]);
      let offset = 0;
      ranges.forEach((r, i) => {
        gpu().launch(sumSquaresKernel(), {
          buffers: { X: range(r.group.grad, r.start, r.n), OUT: partial.binding },
          uniforms: { n: r.n, chunks: chunks[i], offset },
          count: { threads: chunks[i] },
          label: "sum_squares",
        });
        offset += chunks[i];
      });
      return sum(partial).view([1]);
    });
  }

  /**
   * One update at learning rate `lr`. Returns the gradient norm² tensor (before clipping; unscaled, and
   * non-finite when a loss-scaled step overflowed and was skipped) so the caller can read it
   * asynchronously; parameters without a gradient are skipped.
   */
  update(lr: number): Tensor {
    const c = this.config;
    this.step++;
    const ranges = this.updateRanges();
    const normSq = this.gradNormSquared(ranges);
    const scaled = this.lossScaling !== null;
    // Plain AdamW gets its bias corrections from the host; with a loss scale the GPU keeps the step count.
    const corrections: Record<string, number> = scaled
      ? {}
      : { bc1: 1 - c.betas[0] ** this.step, bc2_sqrt: Math.sqrt(1 - c.betas[1] ** this.step) };
    for (const { group: g, start, n, decayEnd } of ranges) {
      const uniforms = {
        n,
        lr,
        wd: c.weightDecay,
        decay_end: decayEnd,
        beta1: c.betas[0],
        beta2: c.betas[1],
        eps: c.eps,
        max_norm: c.maxGradNorm,
        ...corrections,
      };
      gpu().launch(adamwKernel(scaled), {
        buffers: {
          PARAM: range(g.param, start, n),
          G: range(g.grad, start, n),
          M: range(g.m, start, n),
          V: range(g.v, start, n),
          NORMSQ: normSq.binding,
          ...(scaled ? { SCALE: this.lossScale!.binding, STATE: this.scaleState!.binding } : {}),
        },
        uniforms,
        count: { threads: n },
        label: scaled ? "adamw_scaled" : "adamw",
      });
    }
    if (!scaled) return normSq;
    const unscaled = new T([1]);
    const ls = this.lossScaling!;
    gpu().launch(lossScaleUpdateKernel(), {
      buffers: {
        NORMSQ: normSq.binding,
        SCALE: this.lossScale!.binding,
        STATE: this.scaleState!.binding,
        OUT: unscaled.binding,
      },
      uniforms: { growth: ls.growthFactor, backoff: ls.backoffFactor, interval: ls.growthInterval },
      count: { workgroups: [1] },
      label: "loss_scale_update",
    });
    normSq.dispose();
    return unscaled;
  }

  /** Frees the moments and the loss scaler's state (the parameters and gradients are the store's). */
  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    for (const g of this.groups) for (const t of [g.m, g.v]) t.dispose();
    this.lossScale?.dispose();
    this.scaleState?.dispose();
  }
}
