/** Layer norm over the last axis, and its fused residual form, in the adapter's row-kernel layout. */
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import {
  layerNormBackwardKernel,
  layerNormGammaTermsKernel,
  layerNormKernel,
} from "../../kernels/layernorm.ts";
import { launchOp, perThread, rowLaunch, sameShape } from "./launch.ts";
import { columnSumsRaw } from "./reduce.ts";

/** Layer norm over the last axis with affine gamma/beta (biased variance, as PyTorch). */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  return layerNormOf([x], gamma, beta, eps);
}

/** layerNorm(x + residual), the sum never stored: a transformer block's residual connection, fused. */
export function addLayerNorm(x: Tensor, residual: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  sameShape(x, residual, "addLayerNorm");
  return layerNormOf([x, residual], gamma, beta, eps);
}

/** Layer norm of inputs[0] (+ inputs[1]); both inputs get the same gradient. */
function layerNormOf(inputs: Tensor[], gamma: Tensor, beta: Tensor, eps: number): Tensor {
  const x = inputs[0], residual = inputs.length === 2;
  const cols = x.shape.at(-1)!;
  if (gamma.size !== cols || beta.size !== cols) {
    throw new Error(
      `layerNorm: gamma ${fmtShape(gamma.shape)} / beta ${fmtShape(beta.shape)} do not fit ${
        fmtShape(x.shape)
      }`,
    );
  }
  const rows = x.size / cols;
  const y = new Tensor(x.shape);
  const stats = new Tensor([rows, 2]);
  const { layout, count } = rowLaunch(rows);
  const xs: Record<string, Tensor> = residual ? { X: x, R: inputs[1] } : { X: x };
  launchOp(layerNormKernel(residual, layout), "layer_norm", {
    ...xs,
    GAMMA: gamma,
    BETA: beta,
    Y: y,
    STATS: stats,
  }, {
    rows,
    cols,
    eps,
  }, count);
  return record(y, [...inputs, gamma, beta], (g) => {
    let dx: Tensor | null = null, dGamma: Tensor | null = null, dBeta: Tensor | null = null;
    if (inputs.some((t) => t.requiresGrad)) {
      dx = new Tensor(x.shape);
      launchOp(layerNormBackwardKernel(residual, layout), "layer_norm_backward", {
        ...xs,
        GAMMA: gamma,
        STATS: stats,
        G: g,
        DX: dx,
      }, {
        rows,
        cols,
      }, count);
    }
    if (gamma.requiresGrad) {
      const terms = new Tensor([rows, cols]);
      launchOp(layerNormGammaTermsKernel(residual), "layer_norm_gamma", {
        ...xs,
        STATS: stats,
        G: g,
        T: terms,
      }, {
        n: x.size,
        cols,
      }, perThread(x.size));
      dGamma = columnSumsRaw(terms).view(gamma.shape);
    }
    if (beta.requiresGrad) dBeta = columnSumsRaw(g.view([rows, cols])).view(beta.shape);
    // The residual's gradient is the same tensor as x's: a view (backward copies before accumulating into it).
    const inputGrads = residual ? [dx, dx ? dx.view(x.shape) : null] : [dx];
    return [...inputGrads, dGamma, dBeta];
  }, [...inputs, gamma, stats]);
}
