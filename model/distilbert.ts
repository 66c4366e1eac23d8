/**
 * DistilBertForSequenceClassification, with Hugging Face's math and parameter names: embeddings (word +
 * learned positions, LayerNorm, dropout), post-LN transformer blocks, and the classification head on
 * token 0 (pre_classifier → ReLU → dropout → classifier).
 */
import { DeviceError } from "../util/errors.ts";
import {
  attention,
  crossEntropy,
  embedding,
  fmtBytes,
  gpu,
  permute,
  reshape,
  slice,
  softmax,
  Tensor,
  tidy,
} from "../autograd/mod.ts";
import type { DistilBertConfig } from "./config.ts";
import { type AttentionShape, tunedAttention } from "../autograd/autotune.ts";
import { matmulShapesFor } from "./shapes.ts";
import type { MatmulShape } from "../kernels/matmul.ts";
import { parameterSpecs, ParameterStore } from "./params.ts";
import type { HostTensor } from "./safetensors_format.ts";
import {
  addLayerNormModule,
  autocast,
  DropoutStream,
  FULL_PRECISION,
  lastUse,
  linear,
  linearActivation,
  type Params,
  through,
} from "./modules.ts";

/** HF DistilBERT's LayerNorm eps. */
export const LAYER_NORM_EPS = 1e-12;

/**
 * How self-attention runs: "fused" never stores the [batch·heads, S, S] scores (ops `attention`), "unfused"
 * is the reference path (scores, masked softmax, dropout, product; the scores must fit one storage binding).
 */
export type AttentionPath = "fused" | "unfused";

/**
 * The attention path for `batch` rows of `seq` tokens: the runtime's setting when it forces one
 * (DISTILBERT_ATTENTION); else fused wherever the unfused scores would not fit the adapter's storage binding
 * or buffer; else the autotuner's choice for the shape (`autotuneAttention`); else fused, which needs far
 * less memory (on lavapipe the two run at about the same speed at 256 tokens; docs/benchmarks.md).
 */
export function attentionPath(
  batch: number,
  heads: number,
  seq: number,
  headDim: number,
  f16 = false,
): AttentionPath {
  const rt = gpu();
  if (rt.options.attention !== "auto") return rt.options.attention;
  const scoreBytes = batch * heads * seq * seq * 4;
  const l = rt.limits;
  if (scoreBytes > Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize)) return "fused";
  return tunedAttention({ batchHeads: batch * heads, seq, headDim, f16 }) ?? "fused";
}

/** A padded batch: ids and mask are [batch, seq] row-major; mask 1 = token, 0 = padding. */
export interface Batch {
  ids: Int32Array;
  mask: Float32Array;
  labels?: Int32Array;
  batch: number;
  seq: number;
}

export class DistilBertClassifier {
  /** The parameters by HF name: views into `store`'s flat buffers. */
  readonly params: Map<string, Tensor>;

  private constructor(readonly config: DistilBertConfig, readonly store: ParameterStore) {
    this.params = store.tensors;
  }

  /** Uploads host weights into a new parameter store (HF key names; every parameter, its exact shape). */
  static fromHost(config: DistilBertConfig, weights: Map<string, HostTensor>): DistilBertClassifier {
    const specs = parameterSpecs(config);
    for (const spec of specs) {
      const w = weights.get(spec.name);
      if (!w) throw new Error(`missing parameter ${spec.name}`);
      if (w.shape.join(",") !== spec.shape.join(",")) {
        throw new Error(`parameter ${spec.name}: shape [${w.shape}] but the model needs [${spec.shape}]`);
      }
    }
    const store = new ParameterStore(specs, (spec) => {
      const data = weights.get(spec.name)!.data;
      return data instanceof Float32Array ? data : Float32Array.from(data);
    });
    return new DistilBertClassifier(config, store);
  }

  /**
   * The most rows of `seq` tokens one pass (forward and backward) can take on this adapter: every tensor it
   * makes must fit one storage binding and one buffer, and the largest per row is the FFN's hidden
   * activation (seq × hidden_dim), or the scores (heads × seq × seq) when attention is forced unfused.
   * Larger batches run as several passes (the trainer accumulates their gradients, evaluation concatenates
   * their logits): the same result, within float rounding. A DeviceError when not even one row fits.
   */
  maxRowsPerPass(seq: number): number {
    if (gpu().options.skipLimitChecks) return Infinity; // test-only: let oversized work reach the device
    const c = this.config, l = gpu().limits;
    const limit = Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize);
    const scores = gpu().options.attention === "unfused" ? c.n_heads * seq : 0;
    const perRow = seq * 4 * Math.max(c.dim, c.hidden_dim, scores);
    const rows = Math.floor(limit / perRow);
    if (rows < 1) {
      throw new DeviceError(
        `one row of ${seq} tokens needs ${fmtBytes(perRow)} in one storage binding, over the adapter's ` +
          `limit (${fmtBytes(limit)}): use a smaller --max-length`,
      );
    }
    return rows;
  }

  /**
   * The matmul shapes of a pass over `batch` rows of `seq` tokens (forward and backward, or with
   * `forwardOnly` the forward's alone, for inference), for the autotuner:
   * as many rows as one pass takes, and the attention products only where attention runs unfused.
   */
  matmulShapes(batch: number, seq: number, f16 = false, opts: { forwardOnly?: boolean } = {}): MatmulShape[] {
    const c = this.config, rows = Math.min(batch, this.maxRowsPerPass(seq));
    return matmulShapesFor({
      forwardOnly: opts.forwardOnly,
      batch: rows,
      seq,
      dim: c.dim,
      hidden: c.hidden_dim,
      heads: c.n_heads,
      f16,
      unfusedAttention: attentionPath(rows, c.n_heads, seq, c.dim / c.n_heads, f16) === "unfused",
    });
  }

  /** The attention shape of a pass over `batch` rows of `seq` tokens, for `autotuneAttention`. */
  attentionShape(batch: number, seq: number, f16 = false): AttentionShape {
    const c = this.config, rows = Math.min(batch, this.maxRowsPerPass(seq));
    return { batchHeads: rows * c.n_heads, seq, headDim: c.dim / c.n_heads, f16 };
  }

  private readonly p: Params = (name) => {
    const t = this.params.get(name);
    if (!t) throw new Error(`no parameter ${name}`);
    return t;
  };

  /**
   * Logits [batch, num_labels]. Dropout is applied when `training` (masks from `seed`). `fp16` runs every
   * matmul on f16 operands with f32 accumulation (mixed precision; see `autocast`). `wordEmbeddings`
   * ([batch·seq, dim]) replaces the lookup of `batch.ids` in the word embeddings: a leaf of the caller's,
   * whose gradient is the input side of gradient × input attributions (web/mod.ts `explain`).
   */
  forward(
    batch: Batch,
    opts: { training: boolean; seed?: number; fp16?: boolean; wordEmbeddings?: Tensor },
  ): Tensor {
    const c = this.config, p = this.p;
    const precision = opts.fp16 ? autocast() : FULL_PRECISION;
    const mm = precision.matmul;
    const { batch: B, seq: S } = batch;
    const D = c.dim, H = c.n_heads, dh = D / H;
    if (S > c.max_position_embeddings) {
      throw new Error(`sequence length ${S} exceeds max_position_embeddings ${c.max_position_embeddings}`);
    }
    const drop = new DropoutStream(opts.seed ?? 0, opts.training);
    const positions = new Int32Array(B * S);
    for (let i = 0; i < positions.length; i++) positions[i] = i % S;
    const mask = Tensor.fromArray(batch.mask, [B, S]);

    const words = opts.wordEmbeddings ??
      embedding(batch.ids, [B * S], p("distilbert.embeddings.word_embeddings.weight"), c.pad_token_id);
    const pos = embedding(positions, [B * S], p("distilbert.embeddings.position_embeddings.weight"));
    let x = addLayerNormModule(p, "distilbert.embeddings.LayerNorm", words, pos, LAYER_NORM_EPS);
    if (words !== opts.wordEmbeddings) words.dispose();
    pos.dispose();
    x = lastUse(x, (x) => drop.apply(x, c.dropout));

    // [B·S, D] → [B·H, S, dh] and back, each copy freed at its last use.
    const heads = (t: Tensor) =>
      through(
        t,
        (t) => reshape(t, [B, S, H, dh]),
        (t) => permute(t, [0, 2, 1, 3]),
        (t) => reshape(t, [B * H, S, dh]),
      );
    const merge = (t: Tensor) =>
      through(
        t,
        (t) => reshape(t, [B, H, S, dh]),
        (t) => permute(t, [0, 2, 1, 3]),
        (t) => reshape(t, [B * S, D]),
      );
    const path = attentionPath(B, H, S, dh, opts.fp16);
    // HF (transformers 5) scales the product q·kᵀ by 1/sqrt(head_dim), then adds the mask.
    const scale = 1 / Math.sqrt(dh);
    for (let l = 0; l < c.n_layers; l++) {
      // Every tensor is disposed at its last use: what no backward node saved (the linears' products
      // before their bias, the heads before permuting, the unfused scores, ...) is freed in the forward;
      // what one saved goes as soon as that node's backward has run. The scope catches the views.
      const input = x;
      x = tidy(() => {
        const x = input;
        const pre = `distilbert.transformer.layer.${l}`;
        const q = heads(linear(p, `${pre}.attention.q_lin`, x, mm));
        const k = heads(linear(p, `${pre}.attention.k_lin`, x, mm));
        const v = heads(linear(p, `${pre}.attention.v_lin`, x, mm));
        let context: Tensor;
        if (path === "fused") {
          const seed = drop.next(c.attention_dropout);
          const dropout = seed === null ? undefined : { p: c.attention_dropout, seed };
          const [qo, ko, vo] = [q, k, v].map(precision.operand);
          context = attention(qo, ko, vo, mask, { heads: H, scale, dropout });
        } else {
          const weights = through(
            mm(q, k, { transB: true }),
            (scores) => softmax(scores, { mask, scale }),
            (w) => drop.apply(w, c.attention_dropout),
          );
          context = lastUse(weights, (w) => mm(w, v));
        }
        for (const t of [q, k, v]) t.dispose();
        const attnOut = lastUse(merge(context), (ctx) => linear(p, `${pre}.attention.out_lin`, ctx, mm));
        const h = addLayerNormModule(p, `${pre}.sa_layer_norm`, attnOut, x, LAYER_NORM_EPS);
        attnOut.dispose();
        const hidden = linearActivation(p, `${pre}.ffn.lin1`, h, c.activation, mm);
        const ffn = through(
          hidden,
          (t) => linear(p, `${pre}.ffn.lin2`, t, mm),
          (t) => drop.apply(t, c.dropout),
        );
        const out = addLayerNormModule(p, `${pre}.output_layer_norm`, ffn, h, LAYER_NORM_EPS);
        ffn.dispose();
        h.dispose();
        return out;
      });
      input.dispose();
    }

    return through(
      x,
      (t) => reshape(t, [B, S, D]),
      (t) => slice(t, 1, 0, 1), // token 0 of each row
      (t) => reshape(t, [B, D]),
      (cls) => linearActivation(p, "pre_classifier", cls, "relu", mm),
      (t) => drop.apply(t, c.seq_classif_dropout),
      (pooled) => linear(p, "classifier", pooled, mm),
    );
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
    this.store.zeroGrad();
  }

  dispose(): void {
    this.store.dispose();
  }
}
