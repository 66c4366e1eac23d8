/** Optimizer tests' parameters: a parameter store from host values, with gradients given through the tape. */
import { mul, sum, Tensor, tidy } from "../autograd/mod.ts";
import { ParameterStore } from "../model/params.ts";

export interface TestParam {
  name: string;
  shape: number[];
  data: ArrayLike<number>;
  noDecay?: boolean;
}

export function paramStore(params: TestParam[], capacity?: number): ParameterStore {
  const data = new Map(params.map((p) => [p.name, p.data]));
  return new ParameterStore(
    params.map((p) => ({ name: p.name, shape: p.shape, noDecay: p.noDecay ?? false })),
    (spec) => Float32Array.from(data.get(spec.name)!),
    { capacity },
  );
}

/**
 * Replaces the store's gradients by `grads` (in the store's parameter order; null: no gradient), as the
 * backward of Σ p·g gives them: exactly g, in the flat gradient store.
 */
export function setGradients(store: ParameterStore, grads: (ArrayLike<number> | null)[]): void {
  store.allocateGradients();
  store.zeroGrad();
  store.specs.forEach((spec, i) => {
    const g = grads[i];
    if (!g) return;
    const p = store.tensors.get(spec.name)!;
    tidy(() => sum(mul(p, Tensor.fromArray(Float32Array.from(g), spec.shape))).backward());
  });
}
