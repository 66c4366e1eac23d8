/**
 * The parameters of DistilBertForSequenceClassification: names, shapes and order exactly as in Hugging
 * Face's state dict, how HF initialises each, and which ones AdamW leaves out of weight decay.
 */
import { gpu } from "../autograd/runtime.ts";
import { fill, SLICE_ALIGN, Tensor } from "../autograd/tensor.ts";
import { keep } from "../autograd/tape.ts";
import { DeviceError } from "../util/errors.ts";
import type { DistilBertConfig } from "./config.ts";
import type { HostTensor } from "./safetensors_format.ts";

export interface ParamSpec {
  name: string;
  shape: number[];
  /** HF _init_weights: normal(0, initializer_range) for Linear and Embedding weights; LayerNorm 1 and 0; biases 0. */
  init: "normal" | "zeros" | "ones";
  /**
   * True for biases and LayerNorm weights: transformers 5.18's Trainer.get_decay_parameter_names decays every
   * parameter except those of nn.LayerNorm modules (found by type, so DistilBERT's sa_layer_norm and
   * output_layer_norm count) and those whose name has "bias", "layernorm", "rmsnorm" or a "norm" component
   * (tests/hf_trainer_test.ts compares the two sets).
   */
  noDecay: boolean;
}

/** The classification head, absent from pre-trained (masked-LM) checkpoints. */
export const HEAD_PARAM_NAMES: readonly string[] = [
  "pre_classifier.weight",
  "pre_classifier.bias",
  "classifier.weight",
  "classifier.bias",
];

/** Every parameter, in HF state-dict order. PyTorch Linear weights are [out_features, in_features]. */
export function parameterSpecs(config: DistilBertConfig): ParamSpec[] {
  const { dim, hidden_dim: hidden } = config;
  const specs: ParamSpec[] = [];
  const linear = (prefix: string, out: number, inp: number) => {
    specs.push({ name: `${prefix}.weight`, shape: [out, inp], init: "normal", noDecay: false });
    specs.push({ name: `${prefix}.bias`, shape: [out], init: "zeros", noDecay: true });
  };
  const layerNorm = (prefix: string) => {
    specs.push({ name: `${prefix}.weight`, shape: [dim], init: "ones", noDecay: true });
    specs.push({ name: `${prefix}.bias`, shape: [dim], init: "zeros", noDecay: true });
  };
  const embedding = (name: string, rows: number) => {
    specs.push({ name, shape: [rows, dim], init: "normal", noDecay: false });
  };

  embedding("distilbert.embeddings.word_embeddings.weight", config.vocab_size);
  embedding("distilbert.embeddings.position_embeddings.weight", config.max_position_embeddings);
  layerNorm("distilbert.embeddings.LayerNorm");
  for (let i = 0; i < config.n_layers; i++) {
    const layer = `distilbert.transformer.layer.${i}`;
    for (const proj of ["q_lin", "k_lin", "v_lin", "out_lin"]) linear(`${layer}.attention.${proj}`, dim, dim);
    layerNorm(`${layer}.sa_layer_norm`);
    linear(`${layer}.ffn.lin1`, hidden, dim);
    linear(`${layer}.ffn.lin2`, dim, hidden);
    layerNorm(`${layer}.output_layer_norm`);
  }
  linear("pre_classifier", dim, dim);
  linear("classifier", config.num_labels, dim);
  return specs;
}

export function countParameters(config: DistilBertConfig): number {
  return parameterSpecs(config).reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1), 0);
}

/** One flat buffer of the store: its parameters' slices, and the matching slices of the flat gradient. */
export interface ParamGroup {
  names: string[];
  /** Element offset of each parameter in the flat buffers (multiples of SLICE_ALIGN). */
  offsets: number[];
  /** Elements before this one are weight-decayed (decayed parameters come first). */
  decayEnd: number;
  param: Tensor;
  /** Allocated by `allocateGradients` (training only); the padding between slices stays zero. */
  grad: Tensor | null;
}

const alignUp = (n: number) => Math.ceil(n / SLICE_ALIGN) * SLICE_ALIGN;

/**
 * Every parameter as a view into a few flat GPU buffers (llm.c's params_memory), laid out as AdamW updates
 * them: decayed parameters first, each slice 256-byte aligned, buffers filled greedily up to the largest
 * storage binding (or `capacity` elements), so an optimizer step is one norm and one update dispatch per
 * buffer. With `allocateGradients` each parameter's gradient lands in the same place of a flat gradient
 * buffer (the tape copies a leaf's first gradient there and accumulates the rest in place).
 */
export class ParameterStore {
  readonly groups: ParamGroup[] = [];
  /** The parameters by name, in `specs` order: views into the groups' flat buffers. */
  readonly tensors = new Map<string, Tensor>();

  constructor(
    readonly specs: readonly Pick<ParamSpec, "name" | "shape" | "noDecay">[],
    values: (spec: Pick<ParamSpec, "name" | "shape">) => Float32Array,
    opts: { capacity?: number } = {},
  ) {
    const limits = gpu().summary.limits;
    const maxBinding = Math.min(
      limits.maxStorageBufferBindingSize ?? 2 ** 27,
      limits.maxBufferSize ?? 2 ** 28,
      2 ** 30,
    );
    const capacity = Math.floor((opts.capacity ?? maxBinding / 4) / SLICE_ALIGN) * SLICE_ALIGN;
    const ordered = [...specs.filter((p) => !p.noDecay), ...specs.filter((p) => p.noDecay)];
    const layouts: { specs: typeof specs[number][]; offsets: number[]; total: number }[] = [];
    for (const spec of ordered) {
      const size = alignUp(spec.shape.reduce((a, b) => a * b, 1));
      if (size > capacity) {
        throw new DeviceError(
          `parameter ${spec.name} [${spec.shape}] is over the adapter's storage binding limit (${
            capacity * 4
          } bytes)`,
        );
      }
      let layout = layouts.at(-1);
      if (!layout || layout.total + size > capacity) {
        layouts.push(layout = { specs: [], offsets: [], total: 0 });
      }
      layout.specs.push(spec);
      layout.offsets.push(layout.total);
      layout.total += size;
    }
    const views = new Map<string, Tensor>();
    for (const { specs: members, offsets, total } of layouts) {
      const decayed = members.filter((p) => !p.noDecay).length;
      const param = keep(fill([total], 0));
      members.forEach((spec, i) => {
        const view = keep(param.slice(offsets[i], spec.shape));
        view.requiresGrad = true;
        gpu().upload(view.buffer, values(spec), view.byteOffset);
        views.set(spec.name, view);
      });
      this.groups.push({
        names: members.map((p) => p.name),
        offsets,
        decayEnd: decayed === members.length ? total : offsets[decayed],
        param,
        grad: null,
      });
    }
    for (const spec of specs) this.tensors.set(spec.name, views.get(spec.name)!);
  }

  /** Gives every parameter its gradient's home in a flat gradient buffer beside its own (once). */
  allocateGradients(): void {
    for (const group of this.groups) {
      if (group.grad) continue;
      const grad = group.grad = keep(fill([group.param.size], 0));
      group.names.forEach((name, i) => {
        const t = this.tensors.get(name)!;
        t.gradStorage = keep(grad.slice(group.offsets[i], t.shape));
      });
    }
  }

  /** Forgets every parameter's gradient (the flat gradient buffers stay, to be overwritten). */
  zeroGrad(): void {
    for (const t of this.tensors.values()) {
      if (t.grad !== t.gradStorage) t.grad?.dispose();
      t.grad = null;
    }
  }

  dispose(): void {
    this.zeroGrad();
    for (const t of this.tensors.values()) {
      t.gradStorage?.dispose();
      t.dispose();
    }
    for (const g of this.groups) {
      g.param.dispose();
      g.grad?.dispose();
    }
    this.tensors.clear();
    this.groups.length = 0;
  }
}

/** Fresh weights for every parameter, initialised as HF does (see initHostParam). */
export function initHostParams(config: DistilBertConfig, seed: number): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const spec of parameterSpecs(config)) out.set(spec.name, initHostParam(spec, config, seed));
  return out;
}

/**
 * One parameter initialised as HF's DistilBertPreTrainedModel._init_weights does, with the word embedding's
 * padding row zeroed. Each parameter draws from its own stream keyed by (seed, name), so one parameter's
 * values do not depend on which others are initialised (a fresh head is the same with or without a fresh
 * encoder).
 */
export function initHostParam(spec: ParamSpec, config: DistilBertConfig, seed: number): HostTensor {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  if (spec.init === "ones") data.fill(1);
  else if (spec.init === "normal") {
    fillNormal(data, config.initializer_range, streamSeed(seed, spec.name));
    if (spec.name === "distilbert.embeddings.word_embeddings.weight") {
      const row = config.pad_token_id * config.dim;
      data.fill(0, row, row + config.dim);
    }
  }
  return { dtype: "F32", shape: [...spec.shape], data };
}

/** FNV-1a of the name mixed with the seed: a 128-bit xoshiro state per parameter. */
function streamSeed(seed: number, name: string): Uint32Array {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  // splitmix32 expands the hash into four words that are never all zero (xoshiro's one bad state).
  const state = new Uint32Array(4);
  let x = (h ^ Math.floor(seed / 2 ** 32)) >>> 0;
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    state[i] = (z ^ (z >>> 16)) >>> 0;
  }
  if (!(state[0] | state[1] | state[2] | state[3])) state[0] = 1;
  return state;
}

/** Normal(0, std) by Box–Muller from xoshiro128** uniforms. */
function fillNormal(out: Float32Array, std: number, s: Uint32Array): void {
  let s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
  const next = (): number => {
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return r;
  };
  for (let i = 0; i < out.length; i += 2) {
    // u1 in (0, 1] keeps the log finite; u2 in [0, 1).
    const u1 = (next() + 1) / 4294967296, u2 = next() / 4294967296;
    const radius = std * Math.sqrt(-2 * Math.log(u1)), angle = 2 * Math.PI * u2;
    out[i] = radius * Math.cos(angle);
    if (i + 1 < out.length) out[i + 1] = radius * Math.sin(angle);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
