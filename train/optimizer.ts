/**
 * AdamW with PyTorch semantics (betas, eps, bias correction, decoupled weight decay) and global-norm
 * gradient clipping, all on the GPU: the norm is reduced on the device and read by the update kernel.
 */
import { f32, gpu, grid, keep, type Tensor, tidy } from "../autograd/mod.ts";
import { fill, sum, zeros } from "../autograd/ops.ts";
import { Tensor as T } from "../autograd/tensor.ts";
import { WG } from "../kernels/common.ts";
import { adamwKernel, SQ_CHUNK, sumSquaresKernel } from "../kernels/optimizer.ts";

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

export interface OptimizerParam {
  name: string;
  tensor: Tensor;
  noDecay: boolean;
}

export class AdamW {
  /** Optimizer steps taken (PyTorch's `step` in the state). */
  step = 0;
  readonly m = new Map<string, Tensor>();
  readonly v = new Map<string, Tensor>();

  constructor(readonly params: OptimizerParam[], readonly config: AdamWConfig) {
    for (const p of params) {
      this.m.set(p.name, keep(zeros(p.tensor.shape)));
      this.v.set(p.name, keep(zeros(p.tensor.shape)));
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
   * One update at learning rate `lr`. Returns the gradient norm² tensor (before clipping) so the caller
   * can read it asynchronously; parameters without a gradient are skipped.
   */
  update(lr: number): Tensor {
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

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}
