/**
 * AdamW with PyTorch semantics (betas, eps, bias correction, decoupled weight decay) and global-norm
 * gradient clipping, all on the GPU: the norm is reduced on the device and read by the update kernel.
 * With a loss scale (mixed precision) it is also PyTorch's GradScaler: gradients arrive multiplied by the
 * scale, are unscaled before clipping, a step whose gradients overflowed is skipped, and the scale adapts.
 *
 * Flat (the default): the parameters move into a few flat buffers (as large as one storage binding may
 * be), each parameter a 256-byte-aligned slice, with flat gradient, exp_avg and exp_avg_sq buffers beside
 * them; a step copies each gradient into its slice (a copy command, not a dispatch) and then runs one norm
 * and one update dispatch per flat buffer: 3 to 8 dispatches for the whole model instead of two per
 * parameter. `flat: false` keeps one dispatch per parameter (the reference the flat path is tested against;
 * also taken for a step where some parameter has no gradient, which PyTorch skips).
 */
import { type Binding, f32, gpu, grid, keep, type Tensor, tidy, type Uniform } from "../autograd/mod.ts";
import { sum, zeros } from "../autograd/ops.ts";
import { fill, SLICE_ALIGN, Tensor as T } from "../autograd/tensor.ts";
import { WG } from "../kernels/common.ts";
import { adamwKernel, lossScaleUpdateKernel, SQ_CHUNK, sumSquaresKernel } from "../kernels/optimizer.ts";

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

/** One flat buffer's worth of parameters: where each lives, and the flat tensors. */
interface FlatGroup {
  params: OptimizerParam[];
  /** Element offset of each parameter in the flat buffers (multiples of SLICE_ALIGN). */
  offsets: number[];
  /** Elements before this one are weight-decayed (decayed parameters come first). */
  decayEnd: number;
  param: Tensor;
  grad: Tensor;
  m: Tensor;
  v: Tensor;
}

const alignUp = (n: number) => Math.ceil(n / SLICE_ALIGN) * SLICE_ALIGN;

export class AdamW {
  /**
   * Updates submitted. Without a loss scale, every one is applied: this is PyTorch's `step`. With one,
   * skipped updates count here too; the steps applied are on the GPU (`savedState()`).
   */
  step = 0;
  /** exp_avg and exp_avg_sq per parameter name (slices of the flat buffers in flat mode). */
  readonly m = new Map<string, Tensor>();
  readonly v = new Map<string, Tensor>();
  /** Mixed precision: the current loss scale, [1] on the GPU (multiply the loss by it before backward). */
  readonly lossScale: Tensor | null = null;
  /** [growth tracker, steps applied], on the GPU. */
  private scaleState: Tensor | null = null;
  /** The flat buffers, or null for one dispatch per parameter. */
  private readonly groups: FlatGroup[] | null = null;

  constructor(
    readonly params: OptimizerParam[],
    readonly config: AdamWConfig,
    readonly lossScaling: LossScaleConfig | null = null,
    opts: { flat?: boolean; flatCapacity?: number } = {},
  ) {
    if (opts.flat ?? true) this.groups = this.flatten(opts.flatCapacity);
    if (!this.groups) {
      for (const p of params) {
        this.m.set(p.name, keep(zeros(p.tensor.shape)));
        this.v.set(p.name, keep(zeros(p.tensor.shape)));
      }
    }
    if (lossScaling) {
      this.lossScale = keep(T.fromArray([lossScaling.initScale], [1]));
      this.scaleState = keep(T.fromArray([0, 0], [2]));
    }
  }

  /** Dispatches per update (norm partial sums and AdamW; the final sum and the scale update come on top). */
  get updateDispatches(): number {
    return 2 * (this.groups?.length ?? this.params.length);
  }

  /**
   * Moves the parameters into flat buffers: decayed ones first, greedily filling buffers up to the largest
   * storage binding. Null (per-parameter mode) when a parameter alone is larger than that.
   */
  private flatten(maxElements?: number): FlatGroup[] | null {
    const limits = gpu().summary.limits;
    const maxBinding = Math.min(
      limits.maxStorageBufferBindingSize ?? 2 ** 27,
      limits.maxBufferSize ?? 2 ** 28,
      2 ** 30,
    );
    const capacity = Math.floor((maxElements ?? maxBinding / 4) / SLICE_ALIGN) * SLICE_ALIGN;
    const ordered = [...this.params.filter((p) => !p.noDecay), ...this.params.filter((p) => p.noDecay)];
    if (ordered.some((p) => alignUp(p.tensor.size) > capacity)) return null;
    const layouts: { params: OptimizerParam[]; offsets: number[]; total: number }[] = [];
    for (const p of ordered) {
      let g = layouts.at(-1);
      if (!g || g.total + alignUp(p.tensor.size) > capacity) {
        layouts.push(g = { params: [], offsets: [], total: 0 });
      }
      g.params.push(p);
      g.offsets.push(g.total);
      g.total += alignUp(p.tensor.size);
    }
    return layouts.map(({ params, offsets, total }) => {
      const decayed = params.filter((p) => !p.noDecay).length;
      const group: FlatGroup = {
        params,
        offsets,
        decayEnd: decayed === params.length ? total : offsets[decayed],
        param: keep(zeros([total])),
        grad: keep(zeros([total])),
        m: keep(zeros([total])),
        v: keep(zeros([total])),
      };
      params.forEach((p, i) => {
        const home = group.param.slice(offsets[i], p.tensor.shape);
        p.tensor.relocate(home);
        home.dispose();
        this.m.set(p.name, keep(group.m.slice(offsets[i], p.tensor.shape)));
        this.v.set(p.name, keep(group.v.slice(offsets[i], p.tensor.shape)));
      });
      return group;
    });
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

  /** Whether this step can take the flat path: every parameter has a gradient to copy into its slice. */
  private get flatStep(): boolean {
    return this.groups !== null && this.params.every((p) => p.tensor.grad !== null);
  }

  /**
   * The global L2 norm² of every gradient, as a [1] GPU tensor (the caller disposes it): one dispatch per
   * gradient (or per flat buffer) writes its partial sums into a shared buffer, then one sum over all.
   */
  gradNormSquared(): Tensor {
    return tidy(() => {
      const grads = this.flatStep
        ? this.groups!.map((g) => g.grad)
        : this.params.map((p) => p.tensor.grad).filter((g): g is Tensor => g !== null);
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
    const c = this.config;
    this.step++;
    const flat = this.flatStep;
    if (flat) {
      for (const g of this.groups!) {
        g.params.forEach((p, i) => {
          const grad = p.tensor.grad!;
          gpu().copy(
            grad.buffer,
            g.grad.buffer,
            grad.size * 4,
            grad.byteOffset,
            g.grad.byteOffset + g.offsets[i] * 4,
          );
        });
      }
    }
    const normSq = this.gradNormSquared();
    const scaled = this.lossScaling !== null;
    // Plain AdamW gets its bias corrections from the host; with a loss scale the GPU keeps the step count.
    const corrections = scaled
      ? []
      : [f32(1 - c.betas[0] ** this.step), f32(Math.sqrt(1 - c.betas[1] ** this.step))];
    const run = (param: Binding, grad: Binding, m: Binding, v: Binding, n: number, decayEnd: number) => {
      const uniforms: Uniform[] = [
        n,
        f32(lr),
        f32(c.weightDecay),
        decayEnd,
        f32(c.betas[0]),
        f32(c.betas[1]),
        f32(c.eps),
        f32(c.maxGradNorm),
        ...corrections,
      ];
      gpu().dispatch({
        wgsl: adamwKernel(scaled),
        buffers: [
          param,
          grad,
          m,
          v,
          normSq.binding,
          ...(scaled ? [this.lossScale!.binding, this.scaleState!.binding] : []),
        ],
        uniforms,
        workgroups: grid(Math.ceil(n / WG)),
        label: scaled ? "adamw_scaled" : "adamw",
      });
    };
    if (flat) {
      for (const g of this.groups!) {
        run(g.param.binding, g.grad.binding, g.m.binding, g.v.binding, g.param.size, g.decayEnd);
      }
    } else {
      for (const p of this.params) {
        const g = p.tensor.grad;
        if (!g) continue;
        run(
          p.tensor.binding,
          g.binding,
          this.m.get(p.name)!.binding,
          this.v.get(p.name)!.binding,
          g.size,
          p.noDecay ? 0 : g.size,
        );
      }
    }
    if (!scaled) return normSq;
    const unscaled = new T([1]);
    const ls = this.lossScaling!;
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
    for (const g of this.groups ?? []) for (const t of [g.grad, g.m, g.v, g.param]) t.dispose();
    this.lossScale?.dispose();
    this.scaleState?.dispose();
  }
}
