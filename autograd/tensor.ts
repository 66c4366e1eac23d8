/**
 * Tensors: a shape over pooled GPU storage (f32; i32 for ids; f16 for mixed-precision matmul operands, whose
 * gradients are f32 like every gradient); storage is reference-counted so reshapes are free views. Lifetime is
 * explicit: `dispose()`, or `tidy(fn)` (tape.ts). A tensor a backward node saved keeps its storage after its
 * `dispose()` until the last such node has run (or its graph is dropped), and not a moment longer. Also the
 * storage-level kernels the tape itself needs (fill, accumulate, clone), which record nothing.
 */
import { gpu, type Launch } from "./runtime.ts";
import { backward, type GradArithmetic, type Node, track } from "./tape.ts";
import { accumulateKernel, fillKernel } from "../kernels/elementwise.ts";
import type { KernelSpec } from "../kernels/common.ts";
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

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export const fmtShape = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

export class Tensor {
  readonly size: number;
  grad: Tensor | null = null;
  /**
   * Where a parameter's gradient lives (its slice of a flat gradient buffer: model/params.ts): the tape
   * writes the gradient there instead of handing over the op's own tensor. Null elsewhere.
   */
  gradStorage: Tensor | null = null;
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
    track(this);
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
    backward(this, GRAD_ARITHMETIC);
  }
}

/**
 * The first element of each tensor, in one submission. The copies are submitted before the promise is
 * returned, so the tensors may be disposed at once and the caller may go on recording the next step.
 */
export async function readScalars(tensors: Tensor[]): Promise<number[]> {
  const data = await gpu().readMany(tensors.map((t) => ({ ...t.binding, bytes: 4 })));
  return data.map((d) => new Float32Array(d)[0]);
}

/** dst += src in place (no tape). */
export function accumulate(dst: Tensor, src: Tensor): void {
  if (dst.shape.length !== src.shape.length || dst.shape.some((d, i) => d !== src.shape[i])) {
    throw new Error(`accumulate: shapes ${fmtShape(dst.shape)} and ${fmtShape(src.shape)} do not match`);
  }
  launchOp(accumulateKernel(), "accumulate", { dst, src }, { n: dst.size }, { threads: dst.size });
}

/** A tensor of `shape` with every element `value` (no tape). */
export function fill(shape: readonly number[], value: number): Tensor {
  const y = new Tensor(shape);
  launchOp(fillKernel(), "fill", { y }, { n: y.size, v: value }, { threads: y.size });
  return y;
}

/** dst = src, element for element (a copy command, no tape). */
export function copyInto(dst: Tensor, src: Tensor): void {
  if (dst.size !== src.size || dst.dtype !== src.dtype) {
    throw new Error(
      `cannot copy ${src.dtype} ${fmtShape(src.shape)} into ${dst.dtype} ${fmtShape(dst.shape)}`,
    );
  }
  gpu().copy(src.buffer, dst.buffer, storageBytes(src.size, src.dtype), src.byteOffset, dst.byteOffset);
}

/** A detached copy. */
export function clone(x: Tensor): Tensor {
  const y = new Tensor(x.shape, x.dtype);
  copyInto(y, x);
  return y;
}

const GRAD_ARITHMETIC: GradArithmetic = { fill, accumulate, copyInto, clone };

/**
 * Launches `kernel` on tensors named as its bindings declare them; a device error names the kernel and the
 * tensors' shapes. The storage layer's (fill and accumulate use it); every op launches through it.
 */
export function launchOp(
  kernel: KernelSpec,
  label: string,
  tensors: Record<string, Tensor>,
  uniforms: Record<string, number>,
  count: Launch["count"],
): void {
  const buffers: Record<string, Tensor["binding"]> = {};
  for (const [name, t] of Object.entries(tensors)) buffers[name] = t.binding;
  gpu().launch(kernel, {
    buffers,
    uniforms,
    count,
    label,
    detail: () => kernel.storage.map((b) => fmtShape(tensors[b.name].shape)).join(" "),
  });
}
