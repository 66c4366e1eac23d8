/**
 * A minimal Parquet writer: flat columns, one row group, one PLAIN data page (v1) per column, optional Snappy.
 * Enough for the bundled IMDB sample (scripts/make_sample.ts) and for tests that need odd schemas; reading is
 * hyparquet's job.
 */

export type ParquetColumn =
  | {
    name: string;
    type: "BYTE_ARRAY";
    utf8?: boolean;
    optional?: boolean;
    values: (string | Uint8Array | null)[];
  }
  | { name: string; type: "INT64"; optional?: boolean; values: (bigint | number | null)[] }
  | { name: string; type: "INT32" | "DOUBLE"; optional?: boolean; values: (number | null)[] };

export interface ParquetWriteOptions {
  compression?: "UNCOMPRESSED" | "SNAPPY";
  /** The footer's key-value metadata (e.g. Hugging Face datasets' "huggingface" features JSON). */
  keyValueMetadata?: Record<string, string>;
}

// Enum values from parquet.thrift.
const TYPE = { INT32: 1, INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6 } as const;
const REPETITION = { REQUIRED: 0, OPTIONAL: 1 } as const;
const CONVERTED_UTF8 = 0;
const ENCODING_PLAIN = 0;
const ENCODING_RLE = 3;
const PAGE_DATA = 0;
const CODEC = { UNCOMPRESSED: 0, SNAPPY: 1 } as const;

/** The whole file's bytes. Every column must have the same number of values. */
export function writeParquet(columns: ParquetColumn[], opts: ParquetWriteOptions = {}): Uint8Array {
  const rows = columns[0]?.values.length ?? 0;
  for (const c of columns) {
    if (c.values.length !== rows) {
      throw new Error(`column ${c.name}: ${c.values.length} values, expected ${rows}`);
    }
  }
  const codec = opts.compression ?? "SNAPPY";
  const out = new ByteWriter();
  out.bytes(ascii("PAR1"));
  const chunks: Thrift[] = [];
  for (const column of columns) {
    const raw = encodePage(column);
    const body = codec === "SNAPPY" ? snappyCompress(raw) : raw;
    const header = new Thrift()
      .i32(1, PAGE_DATA)
      .i32(2, raw.length)
      .i32(3, body.length)
      .struct(
        5,
        new Thrift().i32(1, rows).i32(2, ENCODING_PLAIN).i32(3, ENCODING_RLE).i32(4, ENCODING_RLE),
      )
      .end();
    const offset = out.length;
    out.bytes(header);
    out.bytes(body);
    const meta = new Thrift()
      .i32(1, TYPE[column.type])
      .listI32(2, [ENCODING_PLAIN, ENCODING_RLE])
      .listBinary(3, [utf8(column.name)])
      .i32(4, CODEC[codec])
      .i64(5, rows)
      .i64(6, header.length + raw.length)
      .i64(7, header.length + body.length)
      .i64(9, offset);
    chunks.push(new Thrift().i64(2, offset).struct(3, meta));
  }
  const schema = [new Thrift().i32(3, REPETITION.REQUIRED).binary(4, utf8("schema")).i32(5, columns.length)];
  for (const c of columns) {
    const element = new Thrift()
      .i32(1, TYPE[c.type])
      .i32(3, c.optional ? REPETITION.OPTIONAL : REPETITION.REQUIRED)
      .binary(4, utf8(c.name));
    if (c.type === "BYTE_ARRAY" && c.utf8 !== false) element.i32(6, CONVERTED_UTF8);
    schema.push(element);
  }
  const footer = new Thrift()
    .i32(1, 1)
    .listStruct(2, schema)
    .i64(3, rows)
    .listStruct(4, [new Thrift().listStruct(1, chunks).i64(2, out.length).i64(3, rows)]);
  const kv = Object.entries(opts.keyValueMetadata ?? {});
  if (kv.length) footer.listStruct(5, kv.map(([k, v]) => new Thrift().binary(1, utf8(k)).binary(2, utf8(v))));
  const footerBytes = footer.binary(6, utf8("distilbert-webgpu parquet_writer")).end();
  out.bytes(footerBytes);
  out.u32(footerBytes.length);
  out.bytes(ascii("PAR1"));
  return out.result();
}

/** Data page v1 body: definition levels (optional columns: u32 length + RLE runs), then PLAIN values. */
function encodePage(column: ParquetColumn): Uint8Array {
  const out = new ByteWriter();
  const values = column.values as unknown[];
  if (column.optional) {
    const levels = new ByteWriter();
    let i = 0;
    while (i < values.length) {
      const defined = values[i] !== null;
      let j = i + 1;
      while (j < values.length && (values[j] !== null) === defined) j++;
      levels.varint((j - i) * 2);
      levels.byte(defined ? 1 : 0);
      i = j;
    }
    const levelBytes = levels.result();
    out.u32(levelBytes.length);
    out.bytes(levelBytes);
  } else if (values.includes(null)) {
    throw new Error(`column ${column.name}: null in a required column`);
  }
  for (const v of values) {
    if (v === null) continue;
    if (column.type === "BYTE_ARRAY") {
      const bytes = typeof v === "string" ? utf8(v) : v as Uint8Array;
      out.u32(bytes.length);
      out.bytes(bytes);
    } else if (column.type === "INT64") {
      out.i64(BigInt(v as bigint | number));
    } else if (column.type === "INT32") {
      out.u32((v as number) >>> 0);
    } else {
      out.f64(v as number);
    }
  }
  return out.result();
}

/** Thrift compact protocol, just the field kinds Parquet's metadata needs. */
class Thrift {
  private readonly w = new ByteWriter();
  private lastField = 0;

  i32(id: number, v: number): this {
    this.field(id, 5);
    this.w.varint(zigzag(BigInt(v)));
    return this;
  }
  i64(id: number, v: number): this {
    this.field(id, 6);
    this.w.varint(zigzag(BigInt(v)));
    return this;
  }
  binary(id: number, v: Uint8Array): this {
    this.field(id, 8);
    this.w.varint(v.length);
    this.w.bytes(v);
    return this;
  }
  struct(id: number, s: Thrift): this {
    this.field(id, 12);
    this.w.bytes(s.end());
    return this;
  }
  listI32(id: number, vs: number[]): this {
    this.listHeader(id, vs.length, 5);
    for (const v of vs) this.w.varint(zigzag(BigInt(v)));
    return this;
  }
  listBinary(id: number, vs: Uint8Array[]): this {
    this.listHeader(id, vs.length, 8);
    for (const v of vs) {
      this.w.varint(v.length);
      this.w.bytes(v);
    }
    return this;
  }
  listStruct(id: number, vs: Thrift[]): this {
    this.listHeader(id, vs.length, 12);
    for (const v of vs) this.w.bytes(v.end());
    return this;
  }
  /** The struct's bytes, with the stop field. */
  end(): Uint8Array {
    const body = this.w.result();
    const out = new Uint8Array(body.length + 1);
    out.set(body);
    return out;
  }
  private listHeader(id: number, size: number, elementType: number) {
    this.field(id, 9);
    if (size < 15) this.w.byte((size << 4) | elementType);
    else {
      this.w.byte(0xf0 | elementType);
      this.w.varint(size);
    }
  }
  private field(id: number, type: number) {
    const delta = id - this.lastField;
    if (delta > 0 && delta <= 15) this.w.byte((delta << 4) | type);
    else {
      this.w.byte(type);
      this.w.varint(zigzag(BigInt(id)));
    }
    this.lastField = id;
  }
}

function zigzag(v: bigint): bigint {
  return v >= 0n ? v << 1n : ((-v) << 1n) - 1n;
}

class ByteWriter {
  private buf = new Uint8Array(1024);
  length = 0;

  private reserve(n: number) {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  byte(b: number) {
    this.reserve(1);
    this.buf[this.length++] = b;
  }
  bytes(b: Uint8Array) {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  u32(v: number) {
    this.reserve(4);
    new DataView(this.buf.buffer).setUint32(this.length, v, true);
    this.length += 4;
  }
  i64(v: bigint) {
    this.reserve(8);
    new DataView(this.buf.buffer).setBigInt64(this.length, v, true);
    this.length += 8;
  }
  f64(v: number) {
    this.reserve(8);
    new DataView(this.buf.buffer).setFloat64(this.length, v, true);
    this.length += 8;
  }
  varint(v: number | bigint) {
    let x = BigInt(v);
    while (x >= 0x80n) {
      this.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.byte(Number(x));
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/**
 * Raw Snappy (no framing): greedy matches of 4+ bytes found through a hash of the next 4 bytes, emitted as
 * 2-byte-offset copies (offsets under 64 KiB), everything else as literals.
 */
export function snappyCompress(src: Uint8Array): Uint8Array {
  const out = new ByteWriter();
  out.varint(src.length);
  const table = new Int32Array(1 << 14).fill(-1);
  const read32 = (i: number) => (src[i] | (src[i + 1] << 8) | (src[i + 2] << 16) | (src[i + 3] << 24)) >>> 0;
  const literal = (from: number, to: number) => {
    while (from < to) {
      const n = Math.min(to - from, 65536);
      if (n <= 60) out.byte((n - 1) << 2);
      else if (n <= 256) {
        out.byte(60 << 2);
        out.byte(n - 1);
      } else {
        out.byte(61 << 2);
        out.byte((n - 1) & 0xff);
        out.byte((n - 1) >> 8);
      }
      out.bytes(src.subarray(from, from + n));
      from += n;
    }
  };
  let i = 0;
  let pending = 0;
  while (i + 4 <= src.length) {
    const v = read32(i);
    const h = Math.imul(v, 0x1e35a7bd) >>> 18;
    const candidate = table[h];
    table[h] = i;
    if (candidate < 0 || i - candidate > 0xffff || read32(candidate) !== v) {
      i++;
      continue;
    }
    literal(pending, i);
    let len = 4;
    while (i + len < src.length && src[candidate + len] === src[i + len]) len++;
    const offset = i - candidate;
    i += len;
    pending = i;
    while (len > 0) {
      const n = Math.min(len, 64);
      out.byte(((n - 1) << 2) | 2);
      out.byte(offset & 0xff);
      out.byte(offset >> 8);
      len -= n;
    }
  }
  literal(pending, src.length);
  return out.result();
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}
