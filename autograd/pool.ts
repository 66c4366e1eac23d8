/**
 * GPU memory: the buffer pool (reuse by size class) and the uniform arena (each submission's uniform values,
 * packed into a few reusable buffers).
 */
import { DeviceError } from "../util/errors.ts";
import type { UniformType } from "../kernels/common.ts";

/**
 * Buffers are reused by size class (multiples of 256 bytes below 64 KiB, then quarter steps between
 * powers of two), so a training loop whose shapes repeat stops allocating after its first step.
 */
function sizeClass(bytes: number): number {
  const b = Math.max(256, bytes);
  if (b <= 65536) return Math.ceil(b / 256) * 256;
  const power = 2 ** Math.floor(Math.log2(b));
  const quarter = power / 4;
  return Math.ceil(b / quarter) * quarter;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  liveBytes = 0;
  pooledBytes = 0;
  peakBytes = 0;
  hits = 0;
  misses = 0;
  static readonly USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

  constructor(private device: GPUDevice) {}

  /** A buffer of at least `bytes`; a DeviceError when the adapter cannot make one that large. */
  acquire(bytes: number): GPUBuffer {
    // Rounding up to the size class must not pass the device's largest buffer (a flat buffer can be that big).
    const max = Math.floor(this.device.limits.maxBufferSize / 4) * 4;
    if (bytes > max) {
      throw new DeviceError(
        `${fmtBytes(bytes)} in one buffer is over the adapter's maxBufferSize (${fmtBytes(max)})`,
      );
    }
    const size = Math.min(sizeClass(bytes), max);
    const list = this.free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.hits++;
      this.pooledBytes -= size;
    } else {
      this.misses++;
      buffer = this.device.createBuffer({ size, usage: BufferPool.USAGE });
    }
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes + this.pooledBytes);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    this.liveBytes -= size;
    this.pooledBytes += size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, list = []);
    list.push(buffer);
  }

  /** Starts a new peak from what the pool holds now (live and cached buffers), e.g. for one benchmark cell. */
  resetPeak(): void {
    this.peakBytes = this.liveBytes + this.pooledBytes;
  }

  /** Frees every pooled (not live) buffer. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.pooledBytes = 0;
  }
}

/** Uniform data for one submission, packed into 256-byte-aligned slots of a few reusable buffers. */
export class UniformArena {
  private static readonly CHUNK = 64 * 1024;
  private chunks: { buffer: GPUBuffer; data: ArrayBuffer }[] = [];
  private chunk = 0;
  private offset = 0;

  constructor(private device: GPUDevice, private align: number) {}

  push(values: number[], types: UniformType[]): { buffer: GPUBuffer; offset: number; size: number } {
    const size = Math.max(16, Math.ceil(values.length / 4) * 16);
    if (this.offset + size > UniformArena.CHUNK) {
      this.chunk++;
      this.offset = 0;
    }
    if (this.chunk === this.chunks.length) {
      this.chunks.push({
        buffer: this.device.createBuffer({
          size: UniformArena.CHUNK,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        }),
        data: new ArrayBuffer(UniformArena.CHUNK),
      });
    }
    const { buffer, data } = this.chunks[this.chunk];
    const u32 = new Uint32Array(data, this.offset, size / 4);
    const fl = new Float32Array(data, this.offset, size / 4);
    values.forEach((v, i) => {
      if (types[i] === "f32") fl[i] = v;
      else u32[i] = v >>> 0;
    });
    const slot = { buffer, offset: this.offset, size };
    this.offset += Math.ceil(size / this.align) * this.align;
    return slot;
  }

  /** Uploads what this submission used; queue order makes reuse by the next submission safe. */
  upload(queue: GPUQueue): void {
    for (let i = 0; i <= this.chunk && i < this.chunks.length; i++) {
      const used = i < this.chunk ? UniformArena.CHUNK : this.offset;
      if (used > 0) queue.writeBuffer(this.chunks[i].buffer, 0, this.chunks[i].data, 0, used);
    }
    this.chunk = 0;
    this.offset = 0;
  }
}

/** Bytes for messages: "201,326,592 bytes (192 MiB)". */
export function fmtBytes(bytes: number): string {
  const mib = bytes / 2 ** 20;
  return `${bytes.toLocaleString("en-US")} bytes (${mib >= 10 ? mib.toFixed(0) : mib.toPrecision(2)} MiB)`;
}
