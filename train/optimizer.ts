/**
 * AdamW with PyTorch semantics (betas, eps, bias correction, decoupled weight decay) and global-norm
 * gradient clipping, all on the GPU: the norm is reduced on the device and read by the update kernel.
 * With a loss scale (mixed precision) it is also PyTorch's GradScaler: gradients arrive multiplied by the
 * scale, are unscaled before clipping, a step whose gradients overflowed is skipped, and the scale adapts.
 */
import { f32, gpu, grid, keep, type Tensor, tidy } from "../autograd/mod.ts";
import { fill, sum, zeros } from "../autograd/ops.ts";
import { Tensor as T } from "../autograd/tensor.ts";
import { WG } from "../kernels/common.ts";
import {
  adamwKernel,
  adamwScaledKernel,
  lossScaleUpdateKernel,
  SQ_CHUNK,
  sumSquaresKernel,
} from "../kernels/optimizer.ts";

/** AdamW hyperparameters; defaults are PyTorch's and HF Trainer's. */
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

export const ADAMW_DEFAULTS: AdamWConfig = {
  lr: 2e-5,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0.01,
  maxGradNorm: 1,
};

/** Dynamic loss scaling; defaults are PyTorch's GradScaler's. */
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

export const LOSS_SCALE_DEFAULTS: LossScaleConfig = {
  initScale: 2 ** 16,
  growthFactor: 2,
  backoffFactor: 0.5,
  growthInterval: 2000,
};

/** The loss scaler's state, as a checkpoint keeps it (PyTorch's scaler.state_dict()). */
export interface LossScaleState {
  scale: number;
  growthTracker: number;
}

export interface OptimizerParam {
  name: string;
  tensor: Tensor;
  noDecay: boolean;
}

export class AdamW {
  /**
   * Updates submitted. Without a loss scale, every one is applied: this is PyTorch's `step`. With one,
   * skipped updates count here too; the steps applied are on the GPU (`appliedSteps()`).
   */
  step = 0;
  readonly m = new Map<string, Tensor>();
  readonly v = new Map<string, Tensor>();
  /** Mixed precision: the current loss scale, [1] on the GPU (multiply the loss by it before backward). */
  readonly lossScale: Tensor | null = null;
  /** [growth tracker, steps applied], on the GPU. */
  private scaleState: Tensor | null = null;

  constructor(
    readonly params: OptimizerParam[],
    readonly config: AdamWConfig,
    readonly lossScaling: LossScaleConfig | null = null,
  ) {
    for (const p of params) {
      this.m.set(p.name, keep(zeros(p.tensor.shape)));
      this.v.set(p.name, keep(zeros(p.tensor.shape)));
    }
    if (lossScaling) {
      this.lossScale = keep(T.fromArray([lossScaling.initScale], [1]));
      this.scaleState = keep(T.fromArray([0, 0], [2]));
    }
  }

  /** Steps applied (PyTorch's `step`): with a loss scale, read from the GPU. */
  async appliedSteps(): Promise<number> {
    return this.scaleState ? (await this.scaleState.toArray())[1] : this.step;
  }

  /** The loss scaler's state, or null without one. */
  async lossScaleState(): Promise<LossScaleState | null> {
    if (!this.lossScale || !this.scaleState) return null;
    const [scale] = await this.lossScale.toArray(), [growthTracker] = await this.scaleState.toArray();
    return { scale, growthTracker };
  }

  /** Restores the step count (and the loss scaler's state) from a checkpoint. */
  restore(step: number, lossScale: LossScaleState | null): void {
    this.step = step;
    if (this.lossScale && this.scaleState) {
      const s = lossScale ?? { scale: this.lossScaling!.initScale, growthTracker: 0 };
      gpu().upload(this.lossScale.buffer, new Float32Array([s.scale]));
      gpu().upload(this.scaleState.buffer, new Float32Array([s.growthTracker, step]));
    }
  }

  /**
   * The global L2 norm² of every gradient, as a [1] GPU tensor (the caller disposes it): one dispatch per
   * gradient writes its partial sums into a shared buffer, then one sum over all of them.
   */
  gradNormSquared(): Tensor {
    return tidy(() => {
      const grads = this.params.map((p) => p.tensor.grad).filter((g): g is Tensor => g !== null);
      if (grads.length === 0) return fill([1], 0);
      const chunks = grads.map((g) => Math.ceil(g.size / SQ_CHUNK));
      const partial = new T([chunks.reduce((a, b) => a + b, 0)]);
      let offset = 0;
      grads.forEach((g, i) => {
        gpu().dispatch({
          wgsl: sumSquaresKernel(),
          buffers: [g.binding, partial.binding],
          uniforms: [g.size, chunks[i], offset],
          workgroups: grid(Math.ceil(chunks[i] / WG)),
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
    if (this.lossScaling) return this.scaledUpdate(lr, this.lossScaling);
    const c = this.config;
    this.step++;
    const normSq = this.gradNormSquared();
    const bc1 = 1 - c.betas[0] ** this.step;
    const bc2Sqrt = Math.sqrt(1 - c.betas[1] ** this.step);
    for (const p of this.params) {
      const g = p.tensor.grad;
      if (!g) continue;
      gpu().dispatch({
        wgsl: adamwKernel(),
        buffers: [
          p.tensor.binding,
          g.binding,
          this.m.get(p.name)!.binding,
          this.v.get(p.name)!.binding,
          normSq.binding,
        ],
        uniforms: [
          g.size,
          f32(lr),
          f32(p.noDecay ? 0 : c.weightDecay),
          f32(c.betas[0]),
          f32(c.betas[1]),
          f32(c.eps),
          f32(bc1),
          f32(bc2Sqrt),
          f32(c.maxGradNorm),
        ],
        workgroups: grid(Math.ceil(g.size / WG)),
        label: "adamw",
      });
    }
    return normSq;
  }

  /** `update` with a loss scale: the bias corrections and the skip happen on the GPU. */
  private scaledUpdate(lr: number, ls: LossScaleConfig): Tensor {
    const c = this.config;
    this.step++;
    const normSq = this.gradNormSquared();
    for (const p of this.params) {
      const g = p.tensor.grad;
      if (!g) continue;
      gpu().dispatch({
        wgsl: adamwScaledKernel(),
        buffers: [
          p.tensor.binding,
          g.binding,
          this.m.get(p.name)!.binding,
          this.v.get(p.name)!.binding,
          normSq.binding,
          this.lossScale!.binding,
          this.scaleState!.binding,
        ],
        uniforms: [
          g.size,
          f32(lr),
          f32(p.noDecay ? 0 : c.weightDecay),
          f32(c.betas[0]),
          f32(c.betas[1]),
          f32(c.eps),
          f32(c.maxGradNorm),
        ],
        workgroups: grid(Math.ceil(g.size / WG)),
        label: "adamw_scaled",
      });
    }
    const unscaled = new T([1]);
    gpu().dispatch({
      wgsl: lossScaleUpdateKernel(),
      buffers: [normSq.binding, this.lossScale!.binding, this.scaleState!.binding, unscaled.binding],
      uniforms: [f32(ls.growthFactor), f32(ls.backoffFactor), f32(ls.growthInterval)],
      workgroups: [1],
      label: "loss_scale_update",
    });
    normSq.dispose();
    return unscaled;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.lossScale?.dispose();
    this.scaleState?.dispose();
  }
}
