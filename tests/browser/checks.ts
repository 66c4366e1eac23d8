/**
 * What tests/browser_test.ts runs inside Chromium (bundled for the browser, loaded by checks.html): every
 * kernel of the catalog through Chromium's WGSL compiler (Tint), every matmul plan, and the rows of the op test
 * table (tests/op_table.ts) marked `browser`: the same rows tests/ops_test.ts runs under Deno, against the
 * same float64 references and finite differences (checkOp).
 */
import { gpuStarted } from "./start_gpu.ts"; // first: the runtime starts with the page's limits
import { gpu, withSettings } from "../../autograd/runtime.ts";
import * as op from "../../autograd/ops.ts";
import { MATMUL_VARIANTS, type MatmulShape } from "../../kernels/matmul.ts";
import { kernelCatalog } from "../../kernels/catalog.ts";
import { checkOp } from "../helpers.ts";
import { refMatmul } from "../reference.ts";
import { checkRow, OP_TABLE } from "../op_table.ts";

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
      await recordCheck(results, name, async () => {
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

async function recordCheck(results: CheckResult[], name: string, check: () => Promise<void>): Promise<void> {
  try {
    await check();
    const errors = gpu().takeErrors();
    if (errors.length) throw new Error(`device errors: ${errors.join("; ")}`);
    results.push({ name, ok: true });
  } catch (err) {
    results.push({ name, ok: false, error: (err as Error).message });
  }
}

/** The matmul plans, then the op test table's rows marked for the browser. */
export async function opChecks(): Promise<CheckResult[]> {
  await gpuStarted;
  const results: CheckResult[] = [];
  await matmulPlans(results);
  for (const row of OP_TABLE.filter((r) => r.browser)) {
    await recordCheck(results, row.name, () => checkRow(row));
  }
  return results;
}

(globalThis as Record<string, unknown>).browserChecks = { compileKernels, opChecks };
