import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type HostTensor,
  MAX_HEADER_BYTES,
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  writeSafetensors,
} from "../model/safetensors.ts";
import { UserError } from "../util/errors.ts";
import { sharedDir } from "../util/fs.ts";

/** A file from a header (object or raw text) and data bytes; `headerLen` overrides the length prefix. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(), headerLen?: bigint): Uint8Array {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Asserts a UserError whose message is one line, starts with the file name and matches `pattern`. */
function assertFileError(fn: () => unknown, pattern: RegExp, name = "bad.safetensors"): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${err}`);
    assert.ok(!err.message.includes("\n"), `message is not one line: ${JSON.stringify(err.message)}`);
    assert.ok(err.message.startsWith(`${name}: `), `message does not name the file: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

const parseBad = (bytes: Uint8Array) => () => parseSafetensors(bytes, "bad.safetensors");
const f32 = (n: number, begin = 0) => ({ dtype: "F32", shape: [n], data_offsets: [begin, begin + 4 * n] });

Deno.test("corrupt: file shorter than the 8-byte header length", () => {
  assertFileError(parseBad(new Uint8Array(5)), /5 bytes, shorter than the 8-byte header length/);
  assertFileError(parseBad(new Uint8Array(0)), /0 bytes/);
});

Deno.test("corrupt: header length past the end of the file", () => {
  assertFileError(parseBad(rawFile({}, new Uint8Array(), 1000n)), /header length 1000 runs past the end/);
  // A length whose top bit is set must not wrap around to a small or negative number.
  assertFileError(parseBad(rawFile({}, new Uint8Array(), 0xffff_ffff_ffff_fff0n)), /runs past the end/);
});

Deno.test("corrupt: header length above the 100 MB limit", () => {
  // The length fits in the file, so only the cap can reject it; untouched zero pages cost no memory.
  const bytes = new Uint8Array(MAX_HEADER_BYTES + 16);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 1), true);
  assertFileError(parseBad(bytes), /exceeds the 100000000-byte limit/);
});

Deno.test("corrupt: header that is not a JSON object", () => {
  assertFileError(parseBad(rawFile('{"a": {"dtype": "F32",')), /header is not valid JSON/);
  assertFileError(parseBad(rawFile("[1, 2]")), /header is not a JSON object/);
  assertFileError(parseBad(rawFile("null")), /header is not a JSON object/);
  const invalidUtf8 = rawFile("{}  ");
  invalidUtf8.set([0xff, 0xfe], 10);
  assertFileError(parseBad(invalidUtf8), /not valid UTF-8/);
});

Deno.test("corrupt: unsupported dtype names the dtype and the tensor", () => {
  const header = { w: { dtype: "F64", shape: [1], data_offsets: [0, 8] } };
  assertFileError(parseBad(rawFile(header, new Uint8Array(8))), /unsupported dtype "F64" for tensor "w"/);
  const noDtype = { w: { shape: [1], data_offsets: [0, 4] } };
  assertFileError(parseBad(rawFile(noDtype, new Uint8Array(4))), /tensor "w": dtype is missing/);
});

Deno.test("corrupt: shape that disagrees with the data length", () => {
  const header = { w: { dtype: "F32", shape: [2, 3], data_offsets: [0, 20] } };
  assertFileError(
    parseBad(rawFile(header, new Uint8Array(20))),
    /tensor "w": 20 bytes of data but shape \[2,3\] of F32 needs 24/,
  );
});

Deno.test("corrupt: malformed shape and offsets", () => {
  const data = new Uint8Array(16);
  for (const shape of [[-1], [1.5], "4", [null]]) {
    const header = { w: { dtype: "F32", shape, data_offsets: [0, 4] } };
    assertFileError(
      parseBad(rawFile(header, data)),
      /tensor "w": shape .* is not an array of non-negative integers/,
    );
  }
  for (const offsets of [[0], [0, -4], "0,4", [0, 4, 8]]) {
    const header = { w: { dtype: "F32", shape: [1], data_offsets: offsets } };
    assertFileError(parseBad(rawFile(header, data)), /tensor "w": data_offsets .* is not a pair/);
  }
  const backwards = { w: { dtype: "F32", shape: [1], data_offsets: [8, 4] } };
  assertFileError(parseBad(rawFile(backwards, data)), /end before they begin/);
  assertFileError(parseBad(rawFile({ w: [1, 2] }, data)), /tensor "w": entry is not an object/);
});

Deno.test("corrupt: data_offsets out of range", () => {
  const header = { a: f32(2), b: f32(2, 8) };
  assertFileError(
    parseBad(rawFile(header, new Uint8Array(12))),
    /tensor "b": data_offsets \[8, 16\] run past the data section \(12 bytes\)/,
  );
});

Deno.test("corrupt: a truncated file is caught by its offsets", () => {
  const whole = serializeSafetensors({
    w: { dtype: "F32", shape: [4], data: new Float32Array([1, 2, 3, 4]) },
  });
  parseSafetensors(whole, "bad.safetensors");
  assertFileError(parseBad(whole.subarray(0, whole.length - 1)), /run past the data section/);
  assertFileError(parseBad(whole.subarray(0, 12)), /header length .* runs past the end/);
});

Deno.test("corrupt: overlapping data_offsets", () => {
  // Listed out of order on purpose: the overlap must be found after sorting by start.
  const header = { b: f32(2, 4), a: f32(2, 0) };
  assertFileError(
    parseBad(rawFile(header, new Uint8Array(12))),
    /tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/,
  );
  const same = { a: f32(1, 0), b: f32(1, 0) };
  assertFileError(parseBad(rawFile(same, new Uint8Array(4))), /overlap/);
});

Deno.test("corrupt: non-string metadata", () => {
  assertFileError(
    parseBad(rawFile({ __metadata__: { step: 3 } })),
    /__metadata__ value for "step" is not a string/,
  );
  assertFileError(parseBad(rawFile({ __metadata__: [] })), /__metadata__ is not an object/);
});

Deno.test("corrupt: I64 values outside int32 are refused, naming the value", () => {
  const data = new BigInt64Array([5n, -(2n ** 31n), 2n ** 31n]);
  const header = { ids: { dtype: "I64", shape: [3], data_offsets: [0, 24] } };
  assertFileError(
    parseBad(rawFile(header, bytesOf(data))),
    /tensor "ids": I64 value 2147483648 at index 2 does not fit in int32/,
  );
});

Deno.test("corrupt: a tensor name with a newline still gives a one-line message", () => {
  const header = { "evil\nname": { dtype: "Q4", shape: [1], data_offsets: [0, 1] } };
  assertFileError(
    parseBad(rawFile(header, new Uint8Array(1))),
    /unsupported dtype "Q4" for tensor "evil\\nname"/,
  );
});

Deno.test("F16 and BF16 decode to F32 (including subnormals, infinities, NaN, -0)", () => {
  const half = new Uint16Array([
    0x3c00,
    0xc000,
    0x7bff,
    0x0001,
    0x03ff,
    0x7c00,
    0xfc00,
    0x7e00,
    0x8000,
    0x3555,
  ]);
  const bf = new Uint16Array([0x3f80, 0xc049, 0x7f80, 0x0000, 0x4780]);
  const data = new Uint8Array(half.byteLength + bf.byteLength);
  data.set(bytesOf(half), 0);
  data.set(bytesOf(bf), half.byteLength);
  const header = {
    h: { dtype: "F16", shape: [2, 5], data_offsets: [0, 20] },
    b: { dtype: "BF16", shape: [5], data_offsets: [20, 30] },
  };
  const { tensors } = parseSafetensors(rawFile(header, data), "x");
  const h = tensors.get("h")!, b = tensors.get("b")!;
  assert.equal(h.dtype, "F32");
  assert.ok(h.data instanceof Float32Array);
  assert.deepEqual(h.shape, [2, 5]);
  assert.deepEqual(
    [...h.data],
    [1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, Infinity, -Infinity, NaN, -0, 0.333251953125],
  );
  assert.ok(Object.is(h.data[8], -0));
  assert.equal(b.dtype, "F32");
  assert.deepEqual([...b.data], [1, -3.140625, Infinity, 0, 65536]);
});

Deno.test("unaligned offsets are copied before viewing", () => {
  // A 1-element F16 first puts the F32 and I32 tensors at byte offsets 2 and 10 of the data section.
  const vals = new Float32Array([1.5, -2.25]), ints = new Int32Array([-7, 123456]);
  const data = new Uint8Array(2 + 8 + 8);
  data.set([0x00, 0x3c], 0);
  data.set(bytesOf(vals), 2);
  data.set(bytesOf(ints), 10);
  const header = {
    h: { dtype: "F16", shape: [1], data_offsets: [0, 2] },
    f: { dtype: "F32", shape: [2], data_offsets: [2, 10] },
    i: { dtype: "I32", shape: [2], data_offsets: [10, 18] },
  };
  // Also misalign the data section itself by placing the file at an odd offset in a larger buffer.
  const file = rawFile(header, data);
  const host = new Uint8Array(file.length + 3);
  host.set(file, 3);
  const { tensors } = parseSafetensors(host.subarray(3), "x");
  assert.deepEqual([...tensors.get("h")!.data], [1]);
  assert.deepEqual([...tensors.get("f")!.data], [1.5, -2.25]);
  assert.equal(tensors.get("i")!.dtype, "I32");
  assert.deepEqual([...tensors.get("i")!.data], [-7, 123456]);
});

Deno.test("I64 reads into Int32Array, negatives included, and keeps dtype I64", () => {
  const data = new BigInt64Array([101n, -1n, 0n, 2147483647n, -2147483648n, 102n]);
  const header = { input_ids: { dtype: "I64", shape: [2, 3], data_offsets: [0, 48] } };
  const t = parseSafetensors(rawFile(header, bytesOf(data)), "x").tensors.get("input_ids")!;
  assert.equal(t.dtype, "I64");
  assert.ok(t.data instanceof Int32Array);
  assert.deepEqual([...t.data], [101, -1, 0, 2147483647, -2147483648, 102]);
});

Deno.test("round trip: F32, I32, I64, scalars, empty tensors and metadata", async () => {
  const tensors = new Map<string, HostTensor>([
    ["z.weight", {
      dtype: "F32",
      shape: [2, 3],
      data: new Float32Array([0.1, -0.2, 3e-38, -0, Infinity, 7]),
    }],
    ["a.ids", { dtype: "I64", shape: [4], data: new Int32Array([-1, 0, 2147483647, -2147483648]) }],
    ["m.i32", { dtype: "I32", shape: [1, 2], data: new Int32Array([5, -6]) }],
    ["scalar", { dtype: "F32", shape: [], data: new Float32Array([42]) }],
    ["empty", { dtype: "F32", shape: [0, 4], data: new Float32Array(0) }],
  ]);
  const bytes = serializeSafetensors(tensors, { step: "12" });

  // Layout: header padded with spaces to a multiple of 8, sorted names, contiguous offsets.
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLen % 8, 0);
  const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + headerLen));
  assert.match(headerText, /^\{.*\} *$/);
  const header = JSON.parse(headerText);
  assert.deepEqual(header.__metadata__, { format: "pt", step: "12" });
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  assert.deepEqual(names, ["a.ids", "empty", "m.i32", "scalar", "z.weight"]);
  let offset = 0;
  for (const name of names) {
    assert.equal(header[name].data_offsets[0], offset, name);
    offset = header[name].data_offsets[1];
  }
  assert.equal(8 + headerLen + offset, bytes.length);
  assert.equal(header["a.ids"].dtype, "I64");
  assert.deepEqual(header["a.ids"].data_offsets, [0, 32]);

  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "t.safetensors");
    await writeSafetensors(path, tensors, { step: "12" });
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["t.safetensors"]);
    const back = await readSafetensors(path);
    assert.deepEqual(back.metadata, { format: "pt", step: "12" });
    assert.deepEqual([...back.tensors.keys()].sort(), [...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      const b = back.tensors.get(name)!;
      assert.equal(b.dtype, t.dtype, name);
      assert.deepEqual(b.shape, t.shape, name);
      assert.equal(b.data.constructor, t.data.constructor, name);
      assert.deepEqual(bytesOf(b.data), bytesOf(t.data), name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serialize accepts a plain record and refuses inconsistent tensors", () => {
  const bytes = serializeSafetensors({ b: { dtype: "F32", shape: [1], data: new Float32Array([2]) } });
  assert.deepEqual([...parseSafetensors(bytes, "x").tensors.get("b")!.data], [2]);
  assert.throws(
    () => serializeSafetensors({ b: { dtype: "F32", shape: [2], data: new Float32Array(3) } }),
    /3 values/,
  );
  assert.throws(
    () => serializeSafetensors({ b: { dtype: "I64", shape: [1], data: new Float32Array(1) } }),
    /does not match/,
  );
  assert.throws(
    () => serializeSafetensors({ b: { dtype: "F32", shape: [1], data: new Int32Array(1) } }),
    /does not match/,
  );
});

Deno.test("readSafetensors: a missing file is a one-line UserError", async () => {
  await assert.rejects(readSafetensors("/nonexistent/dir/model.safetensors"), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.equal(err.message, "/nonexistent/dir/model.safetensors: no such file");
    return true;
  });
});

const shared = sharedDir();

Deno.test({
  name: "golden files written by PyTorch read correctly",
  ignore: shared === null,
  fn: async () => {
    const golden = join(shared!, "golden", "model");
    for (const name of ["tiny", "odd-shapes", "small"]) {
      const config = JSON.parse(await Deno.readTextFile(join(golden, name, "config.json")));
      const model = await readSafetensors(join(golden, name, "model.safetensors"));
      assert.equal(model.metadata.format, "pt");
      const word = model.tensors.get("distilbert.embeddings.word_embeddings.weight")!;
      assert.deepEqual(word.shape, [config.vocab_size, config.dim]);
      for (const [key, t] of model.tensors) {
        assert.equal(t.dtype, "F32", key);
        assert.ok(t.data.every(Number.isFinite), `${key} has a non-finite value`);
      }
      // The padding row is zeroed; the row after it is not.
      assert.ok(word.data.subarray(0, config.dim).every((v) => v === 0));
      assert.ok(word.data.subarray(config.dim, 2 * config.dim).some((v) => v !== 0));

      const inputs = (await readSafetensors(join(golden, name, "inputs.safetensors"))).tensors;
      const ids = inputs.get("input_ids")!,
        mask = inputs.get("attention_mask")!,
        labels = inputs.get("labels")!;
      assert.equal(ids.dtype, "I64");
      assert.ok(ids.data instanceof Int32Array);
      const [B, S] = ids.shape;
      assert.deepEqual(mask.shape, [B, S]);
      assert.deepEqual(labels.shape, [B]);
      for (let b = 0; b < B; b++) {
        assert.equal(ids.data[b * S], 101, `${name} row ${b} starts with [CLS]`);
        const len = Array.from(mask.data.subarray(b * S, (b + 1) * S)).reduce((a, v) => a + v, 0);
        assert.equal(ids.data[b * S + len - 1], 102, `${name} row ${b} ends with [SEP]`);
        assert.ok(
          ids.data.subarray(b * S + len, (b + 1) * S).every((v) => v === 0),
          `${name} row ${b} padding`,
        );
        assert.ok(labels.data[b] === 0 || labels.data[b] === 1);
      }

      const expected = (await readSafetensors(join(golden, name, "expected.safetensors"))).tensors;
      assert.deepEqual(expected.get("logits")!.shape, [B, 2]);
      for (const key of model.tensors.keys()) {
        assert.deepEqual(expected.get(`grad.${key}`)?.shape, model.tensors.get(key)!.shape, `grad.${key}`);
      }
    }
  },
});

if (shared === null) console.log("skipping golden safetensors test: no ../shared beside this checkout");
