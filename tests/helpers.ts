/**
 * Test helpers: tensor closeness, and `checkOp`, which checks an op's forward against a float64 CPU
 * reference and its backward against central finite differences of that reference (tinygrad's
 * helper_test_op). Adding an op to the tests is one `checkOp` call.
 */
import { initGpu, sum, Tensor, tidy } from "../autograd/mod.ts";
import { mul } from "../autograd/ops.ts";
import { mulberry32 } from "../util/random.ts";
import { useDiskAutotuneCache } from "../autograd/autotune_disk.ts";

export const gpuReady = initGpu();

/** Runs `fn` with the autotuner's disk cache in a fresh temporary $XDG_CACHE_HOME (its path passed), then restores it. */
export async function withTempAutotuneCache(fn: (dir: string) => Promise<void>): Promise<void> {
  await gpuReady;
  const dir = await Deno.makeTempDir();
  const prev = Deno.env.get("XDG_CACHE_HOME");
  Deno.env.set("XDG_CACHE_HOME", dir);
  useDiskAutotuneCache();
  try {
    await fn(dir);
  } finally {
    if (prev === undefined) Deno.env.delete("XDG_CACHE_HOME");
    else Deno.env.set("XDG_CACHE_HOME", prev);
    await Deno.remove(dir, { recursive: true });
  }
}

/** A seeded PRNG so failures reproduce. */
export const rng = mulberry32;

export function randn(n: number, rand: () => number, scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = scale * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  }
  return out;
}

/** Max |a - b|, and throws naming `what` when it exceeds atol + rtol·|b|. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  tol: { atol?: number; rtol?: number } = {},
): number {
  const atol = tol.atol ?? 1e-5, rtol = tol.rtol ?? 1e-4;
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length} != expected ${expected.length}`);
  }
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    const d = Math.abs(a - e);
    if (!(d <= atol + rtol * Math.abs(e))) {
      throw new Error(`${what}: element ${i} is ${a}, expected ${e} (|diff| ${d.toExponential(2)})`);
    }
    worst = Math.max(worst, d);
  }
  return worst;
}

export interface OpCase {
  name: string;
  /** Input shapes; each input is random normal unless `init` says otherwise. */
  shapes: number[][];
  /** The op on GPU tensors. */
  gpu: (inputs: Tensor[]) => Tensor;
  /** The same op in float64 on the host, returning the output and its shape. */
  ref: (inputs: Float64Array[]) => Float64Array;
  /** Inputs not to differentiate (e.g. masks). */
  noGrad?: number[];
  init?: (index: number, n: number, rand: () => number) => Float64Array;
  tol?: { atol?: number; rtol?: number };
  gradTol?: { atol?: number; rtol?: number };
  seed?: number;
}

/**
 * Forward: GPU output vs the float64 reference. Backward: the GPU gradient of L = Σ out·R (R random, so
 * every output element matters) vs central differences of L computed with the float64 reference.
 */
export async function checkOp(c: OpCase): Promise<void> {
  await gpuReady;
  const rand = rng(c.seed ?? 1234);
  const inputs = c.shapes.map((s, i) => {
    const n = s.reduce((a, b) => a * b, 1);
    return c.init ? c.init(i, n, rand) : randn(n, rand);
  });
  // The reference sees the same f32-rounded inputs as the GPU.
  const rounded = inputs.map((x) => Float64Array.from(new Float32Array(x)));
  const expected = c.ref(rounded);
  const weights = randn(expected.length, rand);
  const tensors = inputs.map((x, i) =>
    Tensor.fromArray(new Float32Array(x), c.shapes[i], { requiresGrad: !(c.noGrad ?? []).includes(i) })
  );
  const out = tidy(() => {
    const y = c.gpu(tensors);
    const loss = sum(mul(y, Tensor.fromArray(new Float32Array(weights), y.shape)));
    loss.backward();
    return y;
  });
  const actual = await out.toArray();
  out.dispose();
  assertClose(actual, expected, `${c.name} forward`, c.tol);

  const lossOf = (xs: Float64Array[]) => {
    const y = c.ref(xs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * weights[i];
    return s;
  };
  for (let k = 0; k < tensors.length; k++) {
    if ((c.noGrad ?? []).includes(k)) continue;
    const grad = tensors[k].grad;
    if (!grad) throw new Error(`${c.name}: input ${k} got no gradient`);
    const got = await grad.toArray();
    const x = rounded.map((a) => Float64Array.from(a));
    const numeric = new Float64Array(x[k].length);
    for (let i = 0; i < x[k].length; i++) {
      const h = 1e-6 * Math.max(1, Math.abs(x[k][i]));
      const orig = x[k][i];
      x[k][i] = orig + h;
      const up = lossOf(x);
      x[k][i] = orig - h;
      const down = lossOf(x);
      x[k][i] = orig;
      numeric[i] = (up - down) / (2 * h);
    }
    const scaleRef = numeric.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assertClose(got, numeric, `${c.name} gradient of input ${k}`, {
      atol: c.gradTol?.atol ?? 2e-4 * Math.max(1, scaleRef),
      rtol: c.gradTol?.rtol ?? 2e-3,
    });
  }
  tensors.forEach((t) => {
    t.grad?.dispose();
    t.dispose();
  });
}
