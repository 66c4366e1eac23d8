/**
 * What tests/browser_test.ts runs inside Chromium (bundled for the browser, loaded by checks.html): every
 * kernel of the catalog through Chromium's WGSL compiler (Tint), and a representative set of the op checks
 * that tests/ runs under Deno, against the same float64 references and finite differences (checkOp).
 */
import { gpuStarted } from "./start_gpu.ts"; // first: the runtime starts with the page's limits
import { gpu, withSettings } from "../../autograd/runtime.ts";
import { Tensor } from "../../autograd/tensor.ts";
import * as op from "../../autograd/ops.ts";
import { MATMUL_VARIANTS, type MatmulShape } from "../../kernels/matmul.ts";
import { kernelCatalog } from "../../kernels/catalog.ts";
import { checkOp, randn } from "../helpers.ts";
import { erf, map, refLayerNorm, refMatmul, refSoftmax, zip } from "../reference.ts";

export interface CompileReport {
  total: number;
  compiled: number;
  /** f16 kernels not compiled: the adapter has no shader-f16. */
  skippedF16: number;
  shaderF16: boolean;
  /** The device's maxStorageBufferBindingSize: the adapter's, or the WebGPU default (128 MiB) with ?limits=default. */
  maxStorageBinding: number;
  failures: { name: string; message: string }[];
  /**
   * What Tint said of a kernel it must reject (the out-of-range f32 literal -3.40282347e+38 that F32_MIN once
   * was): proof that the check sees compilation errors at all. Empty if it accepted it.
   */
  canary: string;
}

/** A shader Tint rejects and naga accepted: an f32 literal just outside f32's finite range. */
const CANARY = "@compute @workgroup_size(1) fn main() { var x: f32 = -3.40282347e+38; x += 1.0; }";

/**
 * Compiles every kernel of kernelCatalog() (the f16 ones where the device has shader-f16) into a shader module
 * and a compute pipeline; a failure is any compilation error message or pipeline creation error. The kernels
 * compile concurrently (Chromium compiles pipelines off the page's thread).
 */
export async function compileKernels(): Promise<CompileReport> {
  const rt = await gpuStarted;
  const device = rt.device;
  const shaderF16 = device.features.has("shader-f16");
  const catalog = kernelCatalog();
  const report: CompileReport = {
    total: catalog.length,
    compiled: 0,
    skippedF16: 0,
    shaderF16,
    maxStorageBinding: device.limits.maxStorageBufferBindingSize,
    failures: [],
    canary: "",
  };
  device.pushErrorScope("validation");
  const compile = async (name: string, code: string) => {
    const module = device.createShaderModule({ code, label: name });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === "error");
    let message = errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ");
    try {
      await device.createComputePipelineAsync({
        layout: "auto",
        compute: { module, entryPoint: "main" },
        label: name,
      });
    } catch (err) {
      message ||= (err as Error).message;
    }
    return message ? message.split("\n").slice(0, 4).join(" ") : "ok";
  };
  const outcomes = await Promise.all(
    catalog.map((k) => k.f16 && !shaderF16 ? Promise.resolve("skipped") : compile(k.name, k.wgsl)),
  );
  const scoped = await device.popErrorScope();
  // The canary's errors go to its own scope: they are expected.
  device.pushErrorScope("validation");
  const canary = await compile("canary", CANARY);
  await device.popErrorScope();
  report.canary = canary === "ok" ? "" : canary;
  outcomes.forEach((outcome, i) => {
    if (outcome === "skipped") report.skippedF16++;
    else if (outcome === "ok") report.compiled++;
    else report.failures.push({ name: catalog[i].name, message: outcome });
  });
  if (scoped) report.failures.push({ name: "(device)", message: scoped.message });
  return report;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  error?: string;
}

/** Matmul plans: every variant (and every transpose-B-first plan) equals the float64 product. */
async function matmulPlans(results: CheckResult[]): Promise<void> {
  const [batch, m, n, k] = [2, 20, 36, 16];
  for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
    const shape: MatmulShape = { batch, m, n, k, transA, transB };
    const plans = [
      ...MATMUL_VARIANTS.filter((v) => v.supports(shape)).map((v) => v.name),
      ...(transB && !transA ? MATMUL_VARIANTS.filter((v) => v.supports({ ...shape, transB: false })) : [])
        .map((v) => `T+${v.name}`),
    ];
    for (const plan of plans) {
      const name = `matmul ${plan} ${transA ? "T" : "N"}${transB ? "T" : "N"}`;
      await run(results, name, async () => {
        await withSettings({ matmulPlan: plan }, () =>
          checkOp({
            name,
            shapes: [[batch, ...(transA ? [k, m] : [m, k])], [batch, ...(transB ? [n, k] : [k, n])]],
            gpu: ([a, b]) => op.matmul(a, b, { transA, transB }),
            ref: ([a, b]) => refMatmul(a, b, batch, m, n, k, transA, transB),
          }));
      });
    }
  }
}

async function run(results: CheckResult[], name: string, check: () => Promise<void>): Promise<void> {
  try {
    await check();
    const errors = gpu().takeErrors();
    if (errors.length) throw new Error(`device errors: ${errors.join("; ")}`);
    results.push({ name, ok: true });
  } catch (err) {
    results.push({ name, ok: false, error: (err as Error).message });
  }
}

/** The float64 attention reference (masked keys at the f32 minimum, as HF). */
function refAttention(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  m: Float64Array,
  B: number,
  H: number,
  S: number,
  D: number,
  scale: number,
): Float64Array {
  const out = new Float64Array(B * H * S * D);
  for (let bh = 0; bh < B * H; bh++) {
    const b = Math.floor(bh / H);
    for (let i = 0; i < S; i++) {
      const s = Array.from({ length: S }, (_, j) => {
        if (m[b * S + j] < 0.5) return -3.4028234663852886e38;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[(bh * S + i) * D + d] * k[(bh * S + j) * D + d];
        return dot * scale;
      });
      const max = Math.max(...s);
      const e = s.map((x) => Math.exp(x - max));
      const total = e.reduce((a, c) => a + c, 0);
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j < S; j++) acc += (e[j] / total) * v[(bh * S + j) * D + d];
        out[(bh * S + i) * D + d] = acc;
      }
    }
  }
  return out;
}

/** The op checks, forward and backward each, against float64 and finite differences. */
export async function opChecks(): Promise<CheckResult[]> {
  await gpuStarted;
  const results: CheckResult[] = [];
  await matmulPlans(results);
  for (const layout of ["workgroup", "thread"] as const) {
    const inLayout = (check: () => Promise<void>) => () => withSettings({ rowLayout: layout }, check);
    await run(
      results,
      `softmax with scale (${layout} per row)`,
      inLayout(() =>
        checkOp({
          name: "softmax",
          shapes: [[4, 3, 70]],
          gpu: ([x]) => op.softmax(x, { scale: 0.7 }),
          ref: ([x]) => refSoftmax(x, 12, 70, 0.7),
        })
      ),
    );
    const [b, h, s] = [2, 2, 19];
    await run(
      results,
      `masked softmax, masked scores at the f32 minimum (${layout} per row)`,
      inLayout(() =>
        checkOp({
          name: "masked softmax",
          shapes: [[b, h, s, s], [b, s]],
          noGrad: [1],
          init: (i, n, r) =>
            i === 1
              ? Float64Array.from({ length: n }, (_, j) => ((j % s) < (j < s ? 19 : 9) ? 1 : 0))
              : Float64Array.from({ length: n }, () => r() * 4 - 2),
          gpu: ([x, m]) => op.softmax(x, { mask: m }),
          ref: ([x, m]) => refSoftmax(x, b * h * s, s, 1, m),
        })
      ),
    );
    await run(
      results,
      `layer norm of x + residual (${layout} per row)`,
      inLayout(() =>
        checkOp({
          name: "addLayerNorm",
          shapes: [[4, 3, 77], [4, 3, 77], [77], [77]],
          gpu: ([x, r, g, bias]) => op.addLayerNorm(x, r, g, bias, 1e-12),
          ref: ([x, r, g, bias]) => refLayerNorm(x.map((v, i) => v + r[i]), g, bias, 1e-12),
        })
      ),
    );
    await run(
      results,
      `layer norm (${layout} per row)`,
      inLayout(() =>
        checkOp({
          name: "layerNorm",
          shapes: [[5, 3, 77], [77], [77]],
          gpu: ([x, g, bias]) => op.layerNorm(x, g, bias, 1e-12),
          ref: ([x, g, bias]) => refLayerNorm(x, g, bias, 1e-12),
        })
      ),
    );
  }
  for (const [B, H, S, D, lengths] of [[2, 2, 7, 8, [7, 4]], [1, 2, 33, 16, [30]]] as const) {
    await run(results, `fused attention B=${B} H=${H} S=${S} d=${D}, padded rows`, () =>
      checkOp({
        name: "attention",
        shapes: [[B * H, S, D], [B * H, S, D], [B * H, S, D], [B, S]],
        noGrad: [3],
        init: (i, n, r) =>
          i === 3
            ? Float64Array.from({ length: n }, (_, j) => (j % S) < lengths[Math.floor(j / S)] ? 1 : 0)
            : randn(n, r),
        gpu: ([q, k, v, m]) => op.attention(q, k, v, m, { heads: H, scale: 1 / Math.sqrt(D) }),
        ref: ([q, k, v, m]) => refAttention(q, k, v, m, B, H, S, D, 1 / Math.sqrt(D)),
      }));
  }
  await run(results, "cross-entropy (mean over the batch)", async () => {
    const labels = [1, 0, 1, 1, 0];
    const labelT = Tensor.fromArray(labels, [5], { dtype: "i32" });
    try {
      await checkOp({
        name: "crossEntropy",
        shapes: [[5, 2]],
        gpu: ([x]) => op.crossEntropy(x, labelT),
        ref: ([x]) => {
          let sum = 0;
          for (let r = 0; r < 5; r++) {
            const a = x[2 * r], c = x[2 * r + 1], mx = Math.max(a, c);
            sum += Math.log(Math.exp(a - mx) + Math.exp(c - mx)) + mx - x[2 * r + labels[r]];
          }
          return Float64Array.of(sum / 5);
        },
      });
    } finally {
      labelT.dispose();
    }
  });
  await run(results, "gelu(x + bias) fused", () =>
    checkOp({
      name: "bias gelu",
      shapes: [[3, 5, 13], [13]],
      gpu: ([x, bias]) => op.biasActivation("gelu", x, bias),
      ref: zip((x, bias) => 0.5 * (x + bias) * (1 + erf((x + bias) / Math.SQRT2))),
    }));
  await run(results, "relu", () =>
    checkOp({
      name: "relu",
      shapes: [[257]],
      init: (_, n, r) => Float64Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1) * (0.05 + r())),
      gpu: ([x]) => op.relu(x),
      ref: map((x) => Math.max(0, x)),
    }));
  return results;
}

(globalThis as Record<string, unknown>).browserChecks = { compileKernels, opChecks };
