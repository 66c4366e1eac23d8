/**
 * Every kernel the project can generate, each generator with every switch it has (matmul variants under
 * all four transposes, row layouts, residual and mask variants, attention head sizes and dropout, f16
 * operands): what a test compiles on an adapter, and checks against the WebGPU default limits.
 */
import { type KernelSpec, workgroupSizeOf } from "./common.ts";
import { MATMUL_VARIANTS, type MatmulShape } from "./matmul.ts";
import {
  accumulateKernel,
  ACTIVATION_NAMES,
  activationBackwardKernel,
  biasActivationKernel,
  binaryKernel,
  castToF16Kernel,
  castToF32Kernel,
  dropoutKernel,
  fillKernel,
  unaryKernel,
} from "./elementwise.ts";
import { softmaxBackwardKernel, softmaxKernel } from "./softmax.ts";
import { layerNormBackwardKernel, layerNormGammaTermsKernel, layerNormKernel } from "./layernorm.ts";
import { embeddingBackwardKernel, embeddingKernel } from "./embedding.ts";
import { permuteKernel, sliceKernel } from "./layout.ts";
import { crossEntropyBackwardKernel, crossEntropyKernel } from "./loss.ts";
import { adamwKernel, lossScaleUpdateKernel, sumSquaresKernel } from "./optimizer.ts";
import { columnSumsKernel } from "./reduce.ts";
import {
  attentionBackwardKeyKernel,
  attentionBackwardQueryKernel,
  attentionBackwardRowsKernel,
  attentionForwardKernel,
  type AttentionKernelConfig,
} from "./attention.ts";

export interface CatalogKernel {
  name: string;
  spec: KernelSpec;
  wgsl: string;
  /** Needs the `shader-f16` feature. */
  f16: boolean;
}

export function kernelCatalog(): CatalogKernel[] {
  const out: CatalogKernel[] = [];
  const add = (name: string, spec: KernelSpec, f16 = false) => out.push({ name, spec, wgsl: spec.wgsl, f16 });

  for (const f16 of [false, true]) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const s: MatmulShape = { batch: 2, m: 64, n: 64, k: 64, transA, transB, ...(f16 ? { f16 } : {}) };
      for (const v of MATMUL_VARIANTS) {
        if (v.supports(s)) add(`matmul ${v.name} ${transA ? "T" : "N"}${transB ? "T" : "N"}`, v.spec(s), f16);
      }
    }
    for (const headDim of [6, 8, 64]) {
      for (const dropout of [false, true]) {
        const cfg: AttentionKernelConfig = { headDim, rows: 4, dropout, f16 };
        const tag = `head_dim ${headDim}${dropout ? " dropout" : ""}`;
        add(`attention ${tag}`, attentionForwardKernel(cfg), f16);
        add(`attention_dq ${tag}`, attentionBackwardQueryKernel(cfg), f16);
        add(`attention_dkv ${tag}`, attentionBackwardKeyKernel(cfg), f16);
      }
    }
  }
  for (const headDim of [6, 8, 64]) {
    add(`attention_rows head_dim ${headDim}`, attentionBackwardRowsKernel({ headDim }));
  }
  for (const op of ["scale", ...ACTIVATION_NAMES] as const) add(`unary ${op}`, unaryKernel(op));
  for (const op of ACTIVATION_NAMES) {
    add(`bias_${op}`, biasActivationKernel(op));
    add(`${op}_backward`, activationBackwardKernel(op));
    add(`bias_${op}_backward`, activationBackwardKernel(op, true));
  }
  for (const op of ["add", "sub", "mul", "div"] as const) add(`binary ${op}`, binaryKernel(op));
  add("accumulate", accumulateKernel());
  add("fill", fillKernel());
  add("dropout", dropoutKernel());
  add("cast_f16", castToF16Kernel());
  add("cast_f32", castToF32Kernel(), true);
  for (const layout of ["workgroup", "thread"] as const) {
    const per = layout === "thread" ? " row-per-thread" : "";
    for (const masked of [false, true]) {
      add(`softmax${per}${masked ? " masked" : ""}`, softmaxKernel(masked, layout));
    }
    add(`softmax_backward${per}`, softmaxBackwardKernel(layout));
    for (const residual of [false, true]) {
      const tag = residual ? " residual" : "";
      add(`layer_norm${per}${tag}`, layerNormKernel(residual, layout));
      add(`layer_norm_backward${per}${tag}`, layerNormBackwardKernel(residual, layout));
    }
  }
  for (const residual of [false, true]) {
    add(`layer_norm_gamma${residual ? " residual" : ""}`, layerNormGammaTermsKernel(residual));
  }
  add("embedding", embeddingKernel());
  add("embedding_backward", embeddingBackwardKernel());
  add("permute", permuteKernel());
  add("permute f16", permuteKernel(true), true);
  add("slice", sliceKernel(false));
  add("slice_backward", sliceKernel(true));
  add("cross_entropy", crossEntropyKernel());
  add("ce_backward", crossEntropyBackwardKernel());
  add("sum_squares", sumSquaresKernel());
  add("adamw", adamwKernel());
  add("adamw loss-scaled", adamwKernel(true));
  add("loss_scale_update", lossScaleUpdateKernel());
  add("column_sums", columnSumsKernel());
  return out;
}

/** What a kernel asks of the device, read from its WGSL. */
export interface KernelNeeds {
  invocations: number;
  workgroupBytes: number;
  storageBuffers: number;
}

const TYPE_BYTES: Record<string, number> = { f32: 4, u32: 4, i32: 4, f16: 2, vec4f: 16, vec2f: 8 };

/** Bytes of a WGSL type written as array<…, N> (nested), f32/u32/i32/f16 or vecN. */
function typeBytes(type: string): number {
  const array = /^array<(.+),\s*(\d+)u?>$/.exec(type.trim());
  if (array) return typeBytes(array[1]) * Number(array[2]);
  const bytes = TYPE_BYTES[type.trim()];
  if (bytes === undefined) throw new Error(`kernel catalog: unknown workgroup type ${type}`);
  return bytes;
}

export function kernelNeeds(wgsl: string): KernelNeeds {
  const invocations = workgroupSizeOf(wgsl);
  let workgroupBytes = 0;
  for (const m of wgsl.matchAll(/var<workgroup>\s+\w+\s*:\s*([^;]+);/g)) workgroupBytes += typeBytes(m[1]);
  const storageBuffers = [...wgsl.matchAll(/var<storage/g)].length;
  return { invocations, workgroupBytes, storageBuffers };
}
