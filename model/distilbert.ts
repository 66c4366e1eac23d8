/**
 * DistilBertForSequenceClassification, with Hugging Face's math and parameter names: embeddings (word +
 * learned positions, LayerNorm, dropout), post-LN transformer blocks, and the classification head on
 * token 0 (pre_classifier → ReLU → dropout → classifier).
 */
import {
  crossEntropy,
  embedding,
  keep,
  matmul,
  permute,
  reshape,
  scale,
  slice,
  softmax,
  Tensor,
} from "../autograd/mod.ts";
import type { DistilBertConfig } from "./config.ts";
import { parameterSpecs } from "./params.ts";
import type { HostTensor } from "./safetensors.ts";
import {
  addLayerNormModule,
  autocastMatmul,
  DropoutStream,
  linear,
  linearActivation,
  type Params,
} from "./modules.ts";

/** HF DistilBERT's LayerNorm eps. */
export const LAYER_NORM_EPS = 1e-12;

/** A padded batch: ids and mask are [batch, seq] row-major; mask 1 = token, 0 = padding. */
export interface Batch {
  ids: Int32Array;
  mask: Float32Array;
  labels?: Int32Array;
  batch: number;
  seq: number;
}

export class DistilBertClassifier {
  readonly params = new Map<string, Tensor>();

  private constructor(readonly config: DistilBertConfig) {}

  /** Uploads host weights (HF key names; every parameter must be present with its exact shape). */
  static fromHost(config: DistilBertConfig, weights: Map<string, HostTensor>): DistilBertClassifier {
    const model = new DistilBertClassifier(config);
    for (const spec of parameterSpecs(config)) {
      const w = weights.get(spec.name);
      if (!w) throw new Error(`missing parameter ${spec.name}`);
      if (w.shape.join(",") !== spec.shape.join(",")) {
        throw new Error(`parameter ${spec.name}: shape [${w.shape}] but the model needs [${spec.shape}]`);
      }
      const t = keep(Tensor.fromArray(w.data as Float32Array, spec.shape, { requiresGrad: true }));
      model.params.set(spec.name, t);
    }
    return model;
  }

  /** Parameters with the weight-decay flag HF Trainer uses (no decay on biases and LayerNorm weights). */
  get namedParameters(): { name: string; tensor: Tensor; noDecay: boolean }[] {
    return parameterSpecs(this.config).map((s) => ({
      name: s.name,
      tensor: this.params.get(s.name)!,
      noDecay: s.noDecay,
    }));
  }

  private readonly p: Params = (name) => {
    const t = this.params.get(name);
    if (!t) throw new Error(`no parameter ${name}`);
    return t;
  };

  /**
   * Logits [batch, num_labels]. Dropout is applied when `training` (masks from `seed`). `fp16` runs every
   * matmul on f16 operands with f32 accumulation (mixed precision; see `autocastMatmul`).
   */
  forward(batch: Batch, opts: { training: boolean; seed?: number; fp16?: boolean }): Tensor {
    const c = this.config, p = this.p;
    const mm = opts.fp16 ? autocastMatmul() : matmul;
    const { batch: B, seq: S } = batch;
    const D = c.dim, H = c.n_heads, dh = D / H;
    if (S > c.max_position_embeddings) {
      throw new Error(`sequence length ${S} exceeds max_position_embeddings ${c.max_position_embeddings}`);
    }
    const drop = new DropoutStream(opts.seed ?? 0, opts.training);
    const positions = new Int32Array(B * S);
    for (let i = 0; i < positions.length; i++) positions[i] = i % S;
    const mask = Tensor.fromArray(batch.mask, [B, S]);

    const words = embedding(
      batch.ids,
      [B * S],
      p("distilbert.embeddings.word_embeddings.weight"),
      c.pad_token_id,
    );
    const pos = embedding(positions, [B * S], p("distilbert.embeddings.position_embeddings.weight"));
    let x = addLayerNormModule(p, "distilbert.embeddings.LayerNorm", words, pos, LAYER_NORM_EPS);
    x = drop.apply(x, c.dropout);

    const heads = (t: Tensor) => reshape(permute(reshape(t, [B, S, H, dh]), [0, 2, 1, 3]), [B * H, S, dh]);
    for (let l = 0; l < c.n_layers; l++) {
      const pre = `distilbert.transformer.layer.${l}`;
      const q = heads(scale(linear(p, `${pre}.attention.q_lin`, x, mm), 1 / Math.sqrt(dh)));
      const k = heads(linear(p, `${pre}.attention.k_lin`, x, mm));
      const v = heads(linear(p, `${pre}.attention.v_lin`, x, mm));
      let weights = softmax(mm(q, k, { transB: true }), { mask });
      weights = drop.apply(weights, c.attention_dropout);
      const ctx = reshape(permute(reshape(mm(weights, v), [B, H, S, dh]), [0, 2, 1, 3]), [B * S, D]);
      const attnOut = linear(p, `${pre}.attention.out_lin`, ctx, mm);
      const h = addLayerNormModule(p, `${pre}.sa_layer_norm`, attnOut, x, LAYER_NORM_EPS);
      const hidden = linearActivation(p, `${pre}.ffn.lin1`, h, c.activation, mm);
      let ffn = linear(p, `${pre}.ffn.lin2`, hidden, mm);
      ffn = drop.apply(ffn, c.dropout);
      x = addLayerNormModule(p, `${pre}.output_layer_norm`, ffn, h, LAYER_NORM_EPS);
    }

    const cls = reshape(slice(reshape(x, [B, S, D]), 1, 0, 1), [B, D]);
    let pooled = linearActivation(p, "pre_classifier", cls, "relu", mm);
    pooled = drop.apply(pooled, c.seq_classif_dropout);
    return linear(p, "classifier", pooled, mm);
  }

  /** Mean cross-entropy of the logits against integer labels. */
  loss(logits: Tensor, labels: Int32Array): Tensor {
    const t = Tensor.fromArray(labels, [labels.length], { dtype: "i32" });
    return crossEntropy(logits, t);
  }

  /** Downloads every parameter (HF key names, F32). */
  async toHost(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const s of parameterSpecs(this.config)) {
      out.set(s.name, { dtype: "F32", shape: [...s.shape], data: await this.params.get(s.name)!.toArray() });
    }
    return out;
  }

  zeroGrad(): void {
    for (const t of this.params.values()) {
      t.grad?.dispose();
      t.grad = null;
    }
  }

  dispose(): void {
    this.zeroGrad();
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }
}
