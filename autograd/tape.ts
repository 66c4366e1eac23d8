/**
 * The tape (micrograd's engine): ops `record` a node per output, `backward` walks them in reverse
 * topological order. Lifetime is structural: `tidy` scopes dispose what they created, a node keeps alive
 * only the tensors its backward reads (`saved`), each node's backward runs in its own scope and a gradient
 * is freed once its consumer ran. The state lives on the runtime (`gpu().tape`), not in this module.
 */
import { gpu } from "./runtime.ts";
import type { Tensor } from "./tensor.ts";

export interface Node {
  parents: Tensor[];
  /** Gradients for each parent (null where a parent needs none), given the output's gradient. */
  backward: (grad: Tensor) => (Tensor | null)[];
  /** The tensors `backward` reads besides the gradient: kept alive for it, released once it ran. */
  saved: Tensor[];
}

export interface TapeState {
  /** Open `tidy` scopes, innermost last: the tensors created in each. */
  scopes: Set<Tensor>[];
  gradEnabled: boolean;
  /** Recorded nodes whose saved tensors are still held: released by `backward`, or dropped with their graph. */
  liveNodes: Map<Node, Tensor>;
}

/** The gradient arithmetic `backward` needs, from the storage layer below the ops (tensor.ts). */
export interface GradArithmetic {
  fill(shape: readonly number[], value: number): Tensor;
  /** dst += src in place. */
  accumulate(dst: Tensor, src: Tensor): void;
  /** dst = src. */
  copyInto(dst: Tensor, src: Tensor): void;
  clone(x: Tensor): Tensor;
}

const state = (): TapeState => gpu().tape;

/** Adds a new tensor to the innermost open scope. */
export function track(t: Tensor): void {
  state().scopes.at(-1)?.add(t);
}

/**
 * Marks an op output: records its node when any parent needs a gradient and grad mode is on. `saved` lists
 * every tensor `backward` reads: they stay alive for it however early their owners dispose them.
 */
export function record(
  out: Tensor,
  parents: Tensor[],
  backward: Node["backward"],
  saved: Tensor[] = [],
): Tensor {
  const tape = state();
  if (tape.gradEnabled && parents.some((p) => p.requiresGrad)) {
    out.requiresGrad = true;
    const node = { parents, backward, saved };
    out.node = node;
    tape.liveNodes.set(node, out);
    for (const s of saved) s.retainForBackward();
  }
  return out;
}

/** Reverse-mode autodiff from the scalar `loss`; gradients accumulate into leaves' `.grad`. */
export function backward(loss: Tensor, ops: GradArithmetic): void {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const visit = (t: Tensor) => {
    if (seen.has(t)) return;
    seen.add(t);
    for (const p of t.node?.parents ?? []) if (p.requiresGrad) visit(p);
    order.push(t);
  };
  visit(loss);
  // sum + g in place, unless another tensor views sum's storage (ops hand out views of their gradient).
  const addInto = (sum: Tensor, g: Tensor): Tensor => {
    const into = sum.sharesStorage ? ops.clone(sum) : sum;
    if (into !== sum) sum.dispose();
    ops.accumulate(into, g);
    g.dispose();
    return into;
  };
  const grads = new Map<Tensor, Tensor>([[loss, ops.fill(loss.shape, 1)]]);
  for (const t of order.reverse()) {
    const g = grads.get(t);
    if (!g) continue;
    grads.delete(t);
    const home = t.gradStorage;
    if (!t.node && home && (t.grad === null || t.grad === home)) {
      // A parameter: its gradient lives in the flat gradient store, where the optimizer reads it.
      if (t.grad) ops.accumulate(home, g);
      else ops.copyInto(home, g);
      g.dispose();
      t.grad = home;
      continue;
    }
    if (!t.node) {
      keep(g); // a leaf's gradient outlives the scope that computed it
      t.grad = t.grad ? keep(addInto(t.grad, g)) : g;
      continue;
    }
    const node = t.node;
    const parentGrads = noGrad(() => tidy(() => node.backward(g)));
    g.dispose();
    dropNode(t);
    node.parents.forEach((p, i) => {
      const pg = parentGrads[i];
      if (!pg || !p.requiresGrad) return pg?.dispose();
      const prev = grads.get(p);
      grads.set(p, prev ? addInto(prev, pg) : pg);
    });
  }
  // The graph is consumed (PyTorch's retain_graph=False): nodes no gradient reached are dropped too.
  for (const t of order) dropNode(t);
}

/** Forgets `t`'s node and releases what it saved. */
function dropNode(t: Tensor): void {
  const node = t.node;
  if (!node) return;
  t.node = null;
  state().liveNodes.delete(node);
  for (const s of node.saved) s.releaseFromBackward();
}

/** Runs `fn` without recording the tape (evaluation). */
export function noGrad<T>(fn: () => T): T {
  const tape = state(), prev = tape.gradEnabled;
  tape.gradEnabled = false;
  try {
    return fn();
  } finally {
    tape.gradEnabled = prev;
  }
}

/** Removes a tensor from every open scope, so `tidy` will not dispose it. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of state().scopes) s.delete(t);
  return t;
}

type Tensors = Tensor | (Tensor | null)[] | Record<string, Tensor> | void | undefined;

/**
 * Runs `fn`, then disposes every tensor it created except those it returns (they move to the outer scope).
 * When the outermost scope closes, the nodes whose outputs were disposed are dropped: a node whose output is
 * gone and that no backward ran keeps nothing alive.
 */
export function tidy<T extends Tensors>(fn: () => T): T {
  const tape = state(), scope = new Set<Tensor>();
  tape.scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    tape.scopes.pop();
  }
  const returned = isTensor(result) ? [result] : result instanceof Object ? Object.values(result) : [];
  const kept = new Set<Tensor>(returned.filter(isTensor));
  for (const t of scope) if (!kept.has(t)) t.dispose();
  for (const t of kept) tape.scopes.at(-1)?.add(t);
  if (tape.scopes.length === 0) {
    for (const out of [...tape.liveNodes.values()]) if (out.disposed || out.isReleased) dropNode(out);
  }
  return result;
}

/** A tensor among `tidy`'s results (checked by shape: this module imports no Tensor class). */
function isTensor(x: unknown): x is Tensor {
  return typeof x === "object" && x !== null && "shape" in x && "dispose" in x && "requiresGrad" in x;
}
