/**
 * Tensors and the autograd core. A tensor is a shape over pooled GPU storage (f32; i32 for ids; f16 for
 * mixed-precision matmul operands, whose gradients are f32 like every gradient);
 * storage is reference-counted so reshapes are free views. Lifetime is explicit: `dispose()`, or
 * `tidy(fn)` which disposes everything created inside `fn` except what it returns or `keep`s.
 * Ops record a node (parents, a backward closure, and the tensors that closure reads: `saved`);
 * `backward()` walks them in reverse topological order. A saved tensor's storage outlives its `dispose()`
 * until the last node that saved it has run (or its graph is dropped), and not a moment longer: a forward
 * intermediate that no backward reads is freed as soon as its scope ends, and what backward reads is freed
 * as it is consumed.
 */
import { gpu } from "./runtime.ts";
import { DeviceError } from "../util/errors.ts";

export type DType = "f32" | "i32" | "f16";

/** Slices of flat buffers start at multiples of this many f32 elements (256 bytes). */
export const SLICE_ALIGN = 64;

/** Bytes of storage for `size` elements: f16 pairs share a 32-bit word (WGSL buffers are 4-byte aligned). */
export function storageBytes(size: number, dtype: DType): number {
  return Math.max(4, dtype === "f16" ? Math.ceil(size / 2) * 4 : size * 4);
}

class Storage {
  refs = 1;
  constructor(readonly buffer: GPUBuffer, readonly bytes: number) {}
}

interface Node {
  parents: Tensor[];
  /** Gradients for each parent (null where a parent needs none), given the output's gradient. */
  backward: (grad: Tensor) => (Tensor | null)[];
  /** The tensors `backward` reads besides the gradient: kept alive for it, released once it ran. */
  saved: Tensor[];
}

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export const fmtShape = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

const scopes: Set<Tensor>[] = [];
let gradEnabled = true;
/** Recorded nodes whose saved tensors are still held: released by `backward`, or dropped with their graph. */
const liveNodes = new Map<Node, Tensor>();

export class Tensor {
  readonly size: number;
  grad: Tensor | null = null;
  node: Node | null = null;
  private storage: Storage | null;
  /** Where this tensor's elements start in its storage, in bytes (non-zero for slices of a flat buffer). */
  private offset = 0;
  /** Backward nodes that saved this tensor and have not run: its storage waits for them. */
  private tapeRefs = 0;
  /** The owner is done with it (`dispose`): the storage goes as soon as no node needs it. */
  private released = false;

  constructor(
    readonly shape: readonly number[],
    readonly dtype: DType = "f32",
    storage?: Storage,
    public requiresGrad = false,
    offset = 0,
  ) {
    this.size = shapeSize(shape);
    if (storage) {
      storage.refs++;
      this.storage = storage;
      this.offset = offset;
    } else {
      const bytes = storageBytes(this.size, dtype);
      let buffer: GPUBuffer;
      try {
        buffer = gpu().pool.acquire(bytes);
      } catch (err) {
        if (!(err instanceof DeviceError)) throw err;
        throw new DeviceError(
          `a ${dtype} tensor ${
            fmtShape(shape)
          } needs ${err.message}: use a smaller --batch-size or --max-length`,
        );
      }
      this.storage = new Storage(buffer, bytes);
      this.storage.refs = 1;
    }
    scopes.at(-1)?.add(this);
  }

  get buffer(): GPUBuffer {
    if (!this.storage) throw new Error(`use of a disposed tensor ${fmtShape(this.shape)}`);
    return this.storage.buffer;
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  /** Its owner disposed it (its storage may still wait for backward nodes that saved it). */
  get isReleased(): boolean {
    return this.released;
  }

  /** Whether another live tensor views the same storage (writing in place would change it too). */
  get sharesStorage(): boolean {
    return (this.storage?.refs ?? 0) > 1;
  }

  get byteOffset(): number {
    return this.offset;
  }

  /** The binding a kernel sees: this tensor's elements. */
  get binding() {
    return { buffer: this.buffer, offset: this.offset, bytes: storageBytes(this.size, this.dtype) };
  }

  /** A view with another shape over the same storage. */
  view(shape: readonly number[]): Tensor {
    if (shapeSize(shape) !== this.size) {
      throw new Error(`cannot reshape ${fmtShape(this.shape)} to ${fmtShape(shape)}`);
    }
    return new Tensor(shape, this.dtype, this.storage ?? undefined, false, this.offset);
  }

  /**
   * A view of `shape` over this (f32) tensor's elements from `start`: a slice of a flat buffer. `start`
   * must be a multiple of SLICE_ALIGN elements (256 bytes, WebGPU's storage binding offset alignment).
   */
  slice(start: number, shape: readonly number[]): Tensor {
    const size = shapeSize(shape);
    if (this.dtype !== "f32" || start % SLICE_ALIGN !== 0 || start < 0 || start + size > this.size) {
      throw new Error(`cannot slice ${fmtShape(shape)} at ${start} of ${this.dtype} ${fmtShape(this.shape)}`);
    }
    return new Tensor(shape, this.dtype, this.storage ?? undefined, false, this.offset + start * 4);
  }

  /**
   * Moves this tensor's elements into `target` (a slice of the same shape, e.g. of a flat buffer) and makes
   * this tensor view the target's storage from then on: every reference to this tensor sees the new home.
   */
  relocate(target: Tensor): void {
    if (target.size !== this.size || target.dtype !== this.dtype) {
      throw new Error(`cannot relocate ${fmtShape(this.shape)} into ${fmtShape(target.shape)}`);
    }
    gpu().copy(this.buffer, target.buffer, storageBytes(this.size, this.dtype), this.offset, target.offset);
    const old = this.storage!;
    this.storage = target.storage;
    this.storage!.refs++;
    this.offset = target.offset;
    if (--old.refs === 0) gpu().pool.release(old.buffer);
  }

  /** The owner is done with this tensor: its storage is freed now, or after the backward nodes that saved it. */
  dispose(): void {
    if (!this.storage) return;
    this.released = true;
    if (this.tapeRefs === 0) this.free();
  }

  private free(): void {
    const s = this.storage!;
    this.storage = null;
    if (--s.refs === 0) gpu().pool.release(s.buffer);
  }

  /** A backward node will read this tensor (`record`'s `saved`). */
  retainForBackward(): void {
    this.tapeRefs++;
  }

  /** A node that saved this tensor ran or was dropped. */
  releaseFromBackward(): void {
    if (--this.tapeRefs === 0 && this.released && this.storage) this.free();
  }

  static fromArray(
    data: ArrayLike<number>,
    shape: readonly number[],
    opts: { dtype?: DType; requiresGrad?: boolean } = {},
  ): Tensor {
    const dtype = opts.dtype ?? "f32";
    if (data.length !== shapeSize(shape)) {
      throw new Error(`data of length ${data.length} does not fit shape ${fmtShape(shape)}`);
    }
    const t = new Tensor(shape, dtype, undefined, opts.requiresGrad ?? false);
    const typed = dtype === "f32"
      ? (data instanceof Float32Array ? data : Float32Array.from(data))
      : dtype === "f16"
      ? Float16Array.from(data) // upload pads an odd count to a whole 32-bit word
      : (data instanceof Int32Array ? data : Int32Array.from(data));
    gpu().upload(t.buffer, typed, t.offset);
    return t;
  }

  /** The elements as f32 (f16 storage is widened exactly). */
  async toArray(): Promise<Float32Array> {
    const bytes = await gpu().read(this.buffer, storageBytes(this.size, this.dtype), this.offset);
    if (this.dtype !== "f16") return new Float32Array(bytes, 0, this.size);
    return Float32Array.from(new Float16Array(bytes, 0, this.size));
  }

  async item(): Promise<number> {
    return (await this.toArray())[0];
  }

  /** Reverse-mode autodiff from this scalar; gradients accumulate into leaves' `.grad`. */
  backward(): void {
    if (this.size !== 1) throw new Error(`backward() needs a scalar, got ${fmtShape(this.shape)}`);
    const order: Tensor[] = [];
    const seen = new Set<Tensor>();
    const visit = (t: Tensor) => {
      if (seen.has(t)) return;
      seen.add(t);
      for (const p of t.node?.parents ?? []) if (p.requiresGrad) visit(p);
      order.push(t);
    };
    visit(this);
    const grads = new Map<Tensor, Tensor>([[this, fill(this.shape, 1)]]);
    for (const t of order.reverse()) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (!t.node) {
        // A leaf: its gradient outlives the scope that computed it.
        keep(g);
        if (t.grad) {
          t.grad = keep(addInto(t.grad, g));
          g.dispose();
        } else t.grad = g;
        continue;
      }
      const node = t.node;
      // Each node's temporaries are freed when it returns; its saved tensors right after.
      const parentGrads = noGrad(() => tidy(() => node.backward(g)));
      g.dispose();
      dropNode(t);
      node.parents.forEach((p, i) => {
        const pg = parentGrads[i];
        if (!pg || !p.requiresGrad) {
          pg?.dispose();
          return;
        }
        const prev = grads.get(p);
        if (prev) {
          grads.set(p, addInto(prev, pg));
          pg.dispose();
        } else grads.set(p, pg);
      });
    }
    // The graph is consumed (PyTorch's retain_graph=False): nodes no gradient reached are dropped too.
    for (const t of order) dropNode(t);
  }
}

/** Forgets `t`'s node and releases what it saved. */
function dropNode(t: Tensor): void {
  const node = t.node;
  if (!node) return;
  t.node = null;
  liveNodes.delete(node);
  for (const s of node.saved) s.releaseFromBackward();
}

/**
 * The first element of each tensor, in one submission. The copies are submitted before the promise is
 * returned, so the tensors may be disposed at once and the caller may go on recording the next step.
 */
export async function readScalars(tensors: Tensor[]): Promise<number[]> {
  const data = await gpu().readMany(tensors.map((t) => ({ ...t.binding, bytes: 4 })));
  return data.map((d) => new Float32Array(d)[0]);
}

/** Hooks filled in by ops.ts (kept here so the core has no import cycle). */
export const coreOps = {
  fill: null as unknown as (shape: readonly number[], value: number) => Tensor,
  accumulate: null as unknown as (dst: Tensor, src: Tensor) => void,
  clone: null as unknown as (x: Tensor) => Tensor,
};
const fill = (shape: readonly number[], value: number) => coreOps.fill(shape, value);
const accumulate = (dst: Tensor, src: Tensor) => coreOps.accumulate(dst, src);

/**
 * sum + g, in place, unless `sum`'s storage is also seen by another tensor (ops hand out views of their
 * output gradient, e.g. add's to both inputs): then into a copy, so the other tensor keeps its value.
 */
function addInto(sum: Tensor, g: Tensor): Tensor {
  if (!sum.sharesStorage) {
    accumulate(sum, g);
    return sum;
  }
  const copy = coreOps.clone(sum);
  sum.dispose();
  accumulate(copy, g);
  return copy;
}

/**
 * Marks an op output: records its node when any parent needs a gradient and grad mode is on. `saved` lists
 * every tensor `backward` reads (inputs, the output, internal statistics): they stay alive for it however
 * early their owners dispose them, and nothing else does.
 */
export function record(
  out: Tensor,
  parents: Tensor[],
  backward: Node["backward"],
  saved: Tensor[] = [],
): Tensor {
  if (gradEnabled && parents.some((p) => p.requiresGrad)) {
    out.requiresGrad = true;
    const node = { parents, backward, saved };
    out.node = node;
    liveNodes.set(node, out);
    for (const s of saved) s.retainForBackward();
  }
  return out;
}

/** Runs `fn` without recording the tape (evaluation). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Removes tensors from every open scope, so `tidy` will not dispose them. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

type Tensors = Tensor | (Tensor | null)[] | Record<string, Tensor> | void | undefined;

/**
 * Runs `fn`, then disposes every tensor it created except those it returns (they move to the outer scope).
 * When the outermost scope closes, the graphs of the tensors it disposed are dropped: a node whose output is
 * gone and that no backward ran keeps nothing alive.
 */
export function tidy<T extends Tensors>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const kept = new Set<Tensor>(
    (result instanceof Tensor
      ? [result]
      : Array.isArray(result)
      ? result
      : result
      ? Object.values(result)
      : []).filter((t): t is Tensor => t instanceof Tensor),
  );
  for (const t of scope) if (!kept.has(t)) t.dispose();
  for (const t of kept) scopes.at(-1)?.add(t);
  if (scopes.length === 0) {
    for (const out of [...liveNodes.values()]) if (out.disposed || out.isReleased) dropNode(out);
  }
  return result;
}
