import assert from "node:assert/strict";
import { join } from "node:path";
import {
  classifierFromTensors,
  exportClassifier,
  formatLoadReport,
  loadClassifierCheckpoint,
} from "../model/checkpoint.ts";
import { type DistilBertConfig, hfConfigJson, parseHfConfig, presetConfig } from "../model/config.ts";
import { readConfigFile } from "../model/config_file.ts";
import { countParameters, HEAD_PARAM_NAMES, initHostParams, parameterSpecs } from "../model/params.ts";
import {
  type HostTensor,
  parseSafetensors,
  readSafetensors,
  writeSafetensors,
} from "../model/safetensors.ts";
import { UserError } from "../util/errors.ts";
import { sharedDir } from "../util/fs.ts";
import { BertTokenizer } from "../data/tokenizer.ts";
import { loadTokenizerDir, tokenizerJson } from "../data/tokenizer_files.ts";

const shared = sharedDir();
const skipShared = (what: string) => {
  if (shared === null) console.log(`skipping ${what}: no ../shared beside this checkout`);
  return shared === null;
};

/** A config small enough that whole checkpoints take microseconds. */
function miniConfig(overrides: Partial<DistilBertConfig> = {}): DistilBertConfig {
  return {
    ...presetConfig("tiny"),
    vocab_size: 50,
    max_position_embeddings: 16,
    dim: 8,
    n_heads: 2,
    hidden_dim: 12,
    n_layers: 2,
    ...overrides,
  };
}

function bytesOf(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Random values everywhere (unlike HF init's ones and zeros) so that a misplaced tensor is noticed. */
function randomTensors(config: DistilBertConfig, seed: number): Map<string, HostTensor> {
  let s = seed >>> 0;
  const out = new Map<string, HostTensor>();
  for (const spec of parameterSpecs(config)) {
    const data = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      data[i] = s / 2 ** 32 - 0.5;
    }
    out.set(spec.name, { dtype: "F32", shape: spec.shape, data });
  }
  return out;
}

/** A pre-trained checkpoint's tensors: the encoder plus the masked-LM head, as DistilBertForMaskedLM saves it. */
function maskedLmTensors(config: DistilBertConfig, seed: number): Map<string, HostTensor> {
  const all = randomTensors(config, seed);
  for (const name of HEAD_PARAM_NAMES) all.delete(name);
  const d = config.dim, v = config.vocab_size;
  const extra: [string, number[]][] = [
    ["vocab_transform.weight", [d, d]],
    ["vocab_transform.bias", [d]],
    ["vocab_layer_norm.weight", [d]],
    ["vocab_layer_norm.bias", [d]],
    ["vocab_projector.bias", [v]],
  ];
  for (const [name, shape] of extra) {
    all.set(name, {
      dtype: "F32",
      shape,
      data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5),
    });
  }
  return all;
}

function assertUserError(err: unknown, pattern: RegExp): true {
  assert.ok(err instanceof UserError, `expected a UserError, got ${err}`);
  assert.ok(!err.message.includes("\n"), `message is not one line: ${JSON.stringify(err.message)}`);
  assert.match(err.message, pattern);
  return true;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A tokenizer whose vocabulary fits miniConfig (50 tokens). */
function miniTokenizer(size = 50): BertTokenizer {
  const words = Array.from({ length: size - 5 }, (_, i) => `w${i}`);
  return new BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ...words], "mini", {
    modelMaxLength: 16,
  });
}

// ---- config ----

/** A masked-LM checkpoint's head (distilbert-base-uncased's), which a classifier does not use. */
const MLM_HEAD_KEYS = [
  "vocab_layer_norm.bias",
  "vocab_layer_norm.weight",
  "vocab_projector.bias",
  "vocab_transform.bias",
  "vocab_transform.weight",
];
/** The classification head, newly initialised when loading a checkpoint without one. */
const CLASSIFIER_HEAD_KEYS = [
  "classifier.bias",
  "classifier.weight",
  "pre_classifier.bias",
  "pre_classifier.weight",
];

Deno.test("presets: base is distilbert-base-uncased; small and tiny shrink it", () => {
  const base = presetConfig("base");
  assert.deepEqual(
    [
      base.dim,
      base.n_layers,
      base.n_heads,
      base.hidden_dim,
      base.dropout,
      base.attention_dropout,
      base.seq_classif_dropout,
    ],
    [768, 6, 12, 3072, 0.1, 0.1, 0.2],
  );
  const small = presetConfig("small"), tiny = presetConfig("tiny");
  assert.deepEqual([small.dim, small.n_layers, small.n_heads, small.hidden_dim], [256, 4, 4, 1024]);
  assert.deepEqual([tiny.dim, tiny.n_layers, tiny.n_heads, tiny.hidden_dim], [128, 2, 2, 512]);
  for (const c of [base, small, tiny]) {
    assert.deepEqual(
      [c.vocab_size, c.max_position_embeddings, c.pad_token_id, c.initializer_range, c.num_labels],
      [30522, 512, 0, 0.02, 2],
    );
    assert.deepEqual(c.id2label, { "0": "NEGATIVE", "1": "POSITIVE" });
  }
  // Copies: changing one must not change the next.
  base.id2label["0"] = "changed";
  assert.equal(presetConfig("base").id2label["0"], "NEGATIVE");
  assert.throws(
    () => presetConfig("huge"),
    (e) => assertUserError(e, /unknown model preset "huge".*base, small, tiny/),
  );
});

Deno.test({
  name: "config: the published distilbert-base-uncased config.json parses to the base preset",
  ignore: skipShared("the published config test"),
  fn: async () => {
    const config = await readConfigFile(join(shared!, "models", "distilbert-base-uncased", "config.json"));
    const { extra, ...rest } = config;
    assert.deepEqual(rest, presetConfig("base"));
    assert.deepEqual(extra, { tie_weights_: true });
    const exported = hfConfigJson(config);
    assert.equal(exported.tie_weights_, true);
    assert.equal(exported.qa_dropout, 0.1);
  },
});

Deno.test("config: invalid fields are one-line UserErrors naming the file and the field", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ sinusoidal_pos_embds: true }, /"sinusoidal_pos_embds" true is not supported/],
    [{ activation: "tanh" }, /"activation" "tanh" is not supported/],
    [{ dim: 100, n_heads: 12 }, /"dim" 100 is not a multiple of "n_heads" 12/],
    [{ dropout: 1.5 }, /"dropout" must be a probability in \[0, 1\], got 1.5/],
    [{ attention_dropout: -0.1 }, /"attention_dropout" must be a probability/],
    [{ seq_classif_dropout: "0.2" }, /"seq_classif_dropout" must be a probability in \[0, 1\], got "0.2"/],
    [{ vocab_size: "30522" }, /"vocab_size" must be a positive integer, got "30522"/],
    [{ n_layers: 0 }, /"n_layers" must be a positive integer, got 0/],
    [{ hidden_dim: 3.5 }, /"hidden_dim" must be a positive integer/],
    [{ model_type: "bert" }, /model_type "bert" is not supported/],
    [{ pad_token_id: null }, /"pad_token_id" must be a non-negative integer, got null/],
    [{ pad_token_id: 40000 }, /"pad_token_id" 40000 is outside the vocabulary/],
    [{ num_labels: 3, id2label: { "0": "a", "1": "b" } }, /"num_labels" 3 disagrees with the 2 labels/],
    [{ id2label: { "0": "a", "2": "b" } }, /"id2label" keys must be the label ids 0..1, got "2"/],
    [{ label2id: { NEGATIVE: 1 } }, /"label2id" maps "NEGATIVE" to 1/],
    [{ problem_type: "regression" }, /problem_type "regression" is not supported/],
  ];
  for (const [fields, pattern] of cases) {
    assert.throws(
      () => parseHfConfig({ ...hfConfigJson(presetConfig("tiny")), ...fields }, "run/config.json"),
      (e) => assertUserError(e, new RegExp(`^run/config\\.json: .*${pattern.source}`)),
      JSON.stringify(fields),
    );
  }
  assert.throws(
    () => parseHfConfig([1], "c.json"),
    (e) => assertUserError(e, /^c\.json: not a JSON object$/),
  );
});

Deno.test("config: labels default to NEGATIVE/POSITIVE, follow num_labels or id2label otherwise", () => {
  assert.deepEqual(parseHfConfig({}, "c").id2label, { "0": "NEGATIVE", "1": "POSITIVE" });
  const three = parseHfConfig({ num_labels: 3 }, "c");
  assert.equal(three.num_labels, 3);
  assert.deepEqual(three.id2label, { "0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2" });
  assert.deepEqual(three.label2id, { LABEL_0: 0, LABEL_1: 1, LABEL_2: 2 });
  const named = parseHfConfig({ id2label: { "1": "pos", "0": "neg" } }, "c");
  assert.equal(named.num_labels, 2);
  assert.deepEqual(named.label2id, { neg: 0, pos: 1 });
  assert.equal(parseHfConfig({ activation: "relu" }, "c").activation, "relu");
});

Deno.test("config: hfConfigJson is HF's classifier config, sorted, and reads back unchanged", () => {
  const config = parseHfConfig({
    ...hfConfigJson(presetConfig("small")),
    tie_weights_: true,
    custom_field: [1, 2],
  }, "c");
  const json = hfConfigJson(config);
  assert.deepEqual(Object.keys(json), [...Object.keys(json)].sort());
  assert.deepEqual(json.architectures, ["DistilBertForSequenceClassification"]);
  assert.equal(json.model_type, "distilbert");
  assert.equal(json.problem_type, "single_label_classification");
  assert.deepEqual(json.id2label, { "0": "NEGATIVE", "1": "POSITIVE" });
  assert.deepEqual(json.label2id, { NEGATIVE: 0, POSITIVE: 1 });
  assert.equal(json.tie_weights_, true);
  assert.deepEqual(json.custom_field, [1, 2]);
  for (
    const k of [
      "dim",
      "n_layers",
      "n_heads",
      "hidden_dim",
      "vocab_size",
      "max_position_embeddings",
      "pad_token_id",
    ]
  ) {
    assert.ok(k in json, k);
  }
  assert.equal("num_labels" in json, false, "HF derives num_labels from id2label and does not write it");
  assert.deepEqual(parseHfConfig(JSON.parse(JSON.stringify(json)), "c"), config);
});

// ---- parameters ----

Deno.test("parameters: base with 2 labels has 66,955,010; the encoder alone 66,362,880", () => {
  const base = presetConfig("base");
  assert.equal(countParameters(base), 66_955_010);
  const encoder = parameterSpecs(base).filter((s) => s.name.startsWith("distilbert."));
  assert.equal(encoder.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0), 66_362_880);
  assert.equal(countParameters({ ...base, num_labels: 3 }), 66_955_010 + 769);
});

Deno.test("parameters: HF state-dict names, order and shapes", () => {
  const specs = parameterSpecs(presetConfig("tiny"));
  assert.equal(specs.length, 4 + 2 * 16 + 4);
  assert.deepEqual(specs.slice(0, 4).map((s) => [s.name, s.shape]), [
    ["distilbert.embeddings.word_embeddings.weight", [30522, 128]],
    ["distilbert.embeddings.position_embeddings.weight", [512, 128]],
    ["distilbert.embeddings.LayerNorm.weight", [128]],
    ["distilbert.embeddings.LayerNorm.bias", [128]],
  ]);
  const layer1 = specs.slice(4 + 16, 4 + 32).map((s) => `${s.name} [${s.shape}]`);
  assert.deepEqual(layer1, [
    "distilbert.transformer.layer.1.attention.q_lin.weight [128,128]",
    "distilbert.transformer.layer.1.attention.q_lin.bias [128]",
    "distilbert.transformer.layer.1.attention.k_lin.weight [128,128]",
    "distilbert.transformer.layer.1.attention.k_lin.bias [128]",
    "distilbert.transformer.layer.1.attention.v_lin.weight [128,128]",
    "distilbert.transformer.layer.1.attention.v_lin.bias [128]",
    "distilbert.transformer.layer.1.attention.out_lin.weight [128,128]",
    "distilbert.transformer.layer.1.attention.out_lin.bias [128]",
    "distilbert.transformer.layer.1.sa_layer_norm.weight [128]",
    "distilbert.transformer.layer.1.sa_layer_norm.bias [128]",
    "distilbert.transformer.layer.1.ffn.lin1.weight [512,128]",
    "distilbert.transformer.layer.1.ffn.lin1.bias [512]",
    "distilbert.transformer.layer.1.ffn.lin2.weight [128,512]",
    "distilbert.transformer.layer.1.ffn.lin2.bias [128]",
    "distilbert.transformer.layer.1.output_layer_norm.weight [128]",
    "distilbert.transformer.layer.1.output_layer_norm.bias [128]",
  ]);
  assert.deepEqual(specs.slice(-4).map((s) => `${s.name} [${s.shape}]`), [
    "pre_classifier.weight [128,128]",
    "pre_classifier.bias [128]",
    "classifier.weight [2,128]",
    "classifier.bias [2]",
  ]);
});

Deno.test("parameters: no weight decay on biases and every LayerNorm weight", () => {
  const specs = parameterSpecs(presetConfig("tiny"));
  for (const s of specs) {
    const isLayerNorm = /(LayerNorm|layer_norm)\.weight$/.test(s.name);
    assert.equal(s.noDecay, s.name.endsWith(".bias") || isLayerNorm, s.name);
    assert.equal(s.init, s.name.endsWith(".bias") ? "zeros" : isLayerNorm ? "ones" : "normal", s.name);
  }
  assert.equal(specs.filter((s) => !s.noDecay).length, 2 + 2 * 6 + 2);
});

Deno.test({
  name: "parameters: the golden trajectory states the same no-decay rule",
  ignore: skipShared("the golden no-decay rule test"),
  fn: async () => {
    const expected = JSON.parse(
      await Deno.readTextFile(join(shared!, "golden", "train", "tiny-adamw", "expected.json")),
    );
    assert.equal(expected.hyperparameters.no_decay, "biases and LayerNorm weights");
  },
});

Deno.test({
  name: "parameters: golden model files hold exactly parameterSpecs' names and shapes",
  ignore: skipShared("the golden parameter-name test"),
  fn: async () => {
    for (const dir of ["model/tiny", "model/odd-shapes", "model/small", "train/tiny-adamw"]) {
      const path = join(shared!, "golden", dir);
      const config = await readConfigFile(join(path, "config.json"));
      const file = dir.startsWith("train") ? "init.safetensors" : "model.safetensors";
      const { tensors } = await readSafetensors(join(path, file));
      const specs = parameterSpecs(config);
      assert.deepEqual([...tensors.keys()].sort(), specs.map((s) => s.name).sort(), dir);
      for (const s of specs) assert.deepEqual(tensors.get(s.name)!.shape, s.shape, `${dir} ${s.name}`);
    }
  },
});

Deno.test("initHostParams: HF init, deterministic per seed, padding row zeroed", () => {
  const config = miniConfig({ vocab_size: 300, dim: 64, n_heads: 4, hidden_dim: 128, pad_token_id: 3 });
  const a = initHostParams(config, 7), b = initHostParams(config, 7), c = initHostParams(config, 8);
  assert.deepEqual([...a.keys()], parameterSpecs(config).map((s) => s.name));
  const word = a.get("distilbert.embeddings.word_embeddings.weight")!;
  assert.deepEqual(bytesOf(word), bytesOf(b.get("distilbert.embeddings.word_embeddings.weight")!));
  assert.notDeepEqual(bytesOf(word), bytesOf(c.get("distilbert.embeddings.word_embeddings.weight")!));
  assert.ok(word.data.subarray(3 * 64, 4 * 64).every((v) => v === 0), "padding row");
  assert.ok(word.data.subarray(2 * 64, 3 * 64).every((v) => v !== 0), "row before padding");

  // normal(0, 0.02): the sample of ~19k values has mean ≈ 0 and std ≈ 0.02 within a few standard errors.
  const values = [...word.data.subarray(4 * 64)];
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
  assert.ok(Math.abs(mean) < 0.001, `mean ${mean}`);
  assert.ok(Math.abs(std - 0.02) < 0.0005, `std ${std}`);
  const within1 = values.filter((v) => Math.abs(v) < 0.02).length / values.length;
  assert.ok(Math.abs(within1 - 0.6827) < 0.02, `fraction within one std ${within1}`);

  for (const spec of parameterSpecs(config)) {
    const t = a.get(spec.name)!;
    assert.deepEqual(t.shape, spec.shape);
    if (spec.init === "ones") assert.ok(t.data.every((v) => v === 1), spec.name);
    if (spec.init === "zeros") assert.ok(t.data.every((v) => v === 0), spec.name);
    if (spec.init === "normal") {
      assert.ok(t.data.some((v) => v !== 0) && t.data.every((v) => Math.abs(v) < 0.2), spec.name);
    }
  }
  // Each parameter has its own stream: the head does not depend on the size of the encoder.
  const bigger = initHostParams({ ...config, n_layers: 3, vocab_size: 500 }, 7);
  assert.deepEqual(bytesOf(bigger.get("pre_classifier.weight")!), bytesOf(a.get("pre_classifier.weight")!));
});

// ---- loading ----

Deno.test("load: a pre-trained (masked-LM) checkpoint gets a fresh head and reports the vocab_* keys", async () => {
  await withTempDir(async (dir) => {
    const config = miniConfig();
    const file = maskedLmTensors(config, 1);
    await writeSafetensors(join(dir, "model.safetensors"), file);
    const { id2label: _i, label2id: _l, problem_type: _p, ...common } = hfConfigJson(config);
    const mlmConfig = { ...common, architectures: ["DistilBertForMaskedLM"], tie_weights_: true };
    await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(mlmConfig));

    const loaded = await loadClassifierCheckpoint(dir, { seed: 3 });
    assert.equal(loaded.source, dir);
    assert.deepEqual(loaded.missingKeys, []);
    assert.deepEqual(loaded.unexpectedKeys, MLM_HEAD_KEYS);
    assert.deepEqual(loaded.newlyInitialized, CLASSIFIER_HEAD_KEYS);
    assert.deepEqual([...loaded.tensors.keys()], parameterSpecs(loaded.config).map((s) => s.name));
    for (const [name, t] of file) {
      if (!name.startsWith("vocab_")) assert.deepEqual(bytesOf(loaded.tensors.get(name)!), bytesOf(t), name);
    }
    // HF's head init: weights normal(0, 0.02), biases 0.
    const pre = loaded.tensors.get("pre_classifier.weight")!.data;
    assert.ok(pre.some((v) => v !== 0) && pre.every((v) => Math.abs(v) < 0.15));
    assert.ok(loaded.tensors.get("classifier.bias")!.data.every((v) => v === 0));
    assert.deepEqual(loaded.config.extra, { tie_weights_: true });
    assert.deepEqual(loaded.config.id2label, { "0": "NEGATIVE", "1": "POSITIVE" });

    const report = formatLoadReport(loaded);
    assert.equal(
      report.split("\n")[0],
      `Some weights of the model checkpoint at ${dir} were not used when initializing DistilBertForSequenceClassification: ` +
        "['vocab_layer_norm.bias', 'vocab_layer_norm.weight', 'vocab_projector.bias', 'vocab_transform.bias', 'vocab_transform.weight']",
    );
    assert.match(
      report,
      /\n- This IS expected if you are initializing DistilBertForSequenceClassification from the checkpoint of a model trained on another task/,
    );
    assert.match(
      report,
      /\n- This IS NOT expected if you are initializing DistilBertForSequenceClassification/,
    );
    assert.ok(report.includes(
      `Some weights of DistilBertForSequenceClassification were not initialized from the model checkpoint at ${dir} and are newly initialized: ` +
        "['classifier.bias', 'classifier.weight', 'pre_classifier.bias', 'pre_classifier.weight']\n" +
        "You should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference.",
    ));
    await assert.rejects(
      loadClassifierCheckpoint(dir, { strict: true }),
      (e) =>
        assertUserError(
          e,
          /model\.safetensors: not a complete DistilBertForSequenceClassification checkpoint: it lacks 4 parameters .* and has 5 unused tensors/,
        ),
    );
  });
});

Deno.test("load: a bare DistilBertModel checkpoint (keys without distilbert.) loads as HF does", () => {
  const config = miniConfig();
  const bare = new Map<string, HostTensor>();
  for (const [name, t] of randomTensors(config, 2)) {
    if (name.startsWith("distilbert.")) bare.set(name.slice("distilbert.".length), t);
  }
  const loaded = classifierFromTensors("bare-model", config, bare);
  assert.deepEqual(loaded.unexpectedKeys, []);
  assert.deepEqual(loaded.missingKeys, []);
  assert.deepEqual(loaded.newlyInitialized, [...HEAD_PARAM_NAMES].sort());
  assert.equal(
    loaded.tensors.get("distilbert.transformer.layer.1.ffn.lin2.weight"),
    bare.get("transformer.layer.1.ffn.lin2.weight"),
  );
});

Deno.test("load: a fine-tuned classifier loads completely; missing encoder keys are reported", () => {
  const config = miniConfig();
  const full = randomTensors(config, 3);
  const loaded = classifierFromTensors("ft", config, full, { strict: true });
  assert.deepEqual([loaded.missingKeys, loaded.unexpectedKeys, loaded.newlyInitialized], [[], [], []]);
  assert.equal(formatLoadReport(loaded), "");
  for (const [name, t] of full) assert.equal(loaded.tensors.get(name), t);

  const partial = new Map(full);
  partial.delete("distilbert.transformer.layer.0.ffn.lin1.bias");
  partial.delete("classifier.weight");
  const gappy = classifierFromTensors("ft", config, partial);
  assert.deepEqual(gappy.missingKeys, ["classifier.weight", "distilbert.transformer.layer.0.ffn.lin1.bias"]);
  assert.deepEqual(gappy.newlyInitialized, gappy.missingKeys);
  assert.ok(gappy.tensors.get("distilbert.transformer.layer.0.ffn.lin1.bias")!.data.every((v) => v === 0));
});

Deno.test("load: a shape mismatch names the key and both shapes", () => {
  const config = miniConfig();
  const file = randomTensors(config, 4);
  file.set("distilbert.transformer.layer.1.ffn.lin1.weight", {
    dtype: "F32",
    shape: [8, 12],
    data: new Float32Array(96),
  });
  assert.throws(
    () => classifierFromTensors("ckpt/model.safetensors", config, file),
    (e) =>
      assertUserError(
        e,
        /^ckpt\/model\.safetensors: tensor "distilbert\.transformer\.layer\.1\.ffn\.lin1\.weight" has shape \[8,12\] but the config needs \[12,8\]$/,
      ),
  );
  const ints = randomTensors(config, 4);
  ints.set("classifier.bias", { dtype: "I64", shape: [2], data: new Int32Array(2) });
  assert.throws(
    () => classifierFromTensors("c", config, ints),
    (e) => assertUserError(e, /"classifier\.bias" has dtype I64/),
  );
});

Deno.test("load: directories without model.safetensors are one-line UserErrors", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      loadClassifierCheckpoint(dir),
      (e) =>
        assertUserError(
          e,
          new RegExp(`^${dir}: no model\\.safetensors \\(expected a Hugging Face model directory\\)$`),
        ),
    );
    await Deno.writeFile(join(dir, "pytorch_model.bin"), new Uint8Array(4));
    await assert.rejects(
      loadClassifierCheckpoint(dir),
      (e) =>
        assertUserError(
          e,
          new RegExp(`^${dir}: no model\\.safetensors \\(pytorch_model\\.bin is not supported`),
        ),
    );
    await assert.rejects(
      loadClassifierCheckpoint(join(dir, "nope")),
      (e) => assertUserError(e, /nope: no such directory$/),
    );
    // A corrupt file reaches the caller as the parser's error, naming the file.
    await Deno.writeFile(join(dir, "model.safetensors"), new Uint8Array(3));
    await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(hfConfigJson(miniConfig())));
    await assert.rejects(
      loadClassifierCheckpoint(dir),
      (e) => assertUserError(e, /model\.safetensors: not a safetensors file/),
    );
  });
});

Deno.test("load: a directory without config.json is a one-line error, not a guessed base config", async () => {
  await withTempDir(async (dir) => {
    const config = miniConfig();
    await writeSafetensors(join(dir, "model.safetensors"), randomTensors(config, 5));
    await assert.rejects(
      loadClassifierCheckpoint(dir),
      (e) =>
        assertUserError(e, new RegExp(`^${dir}: no config\\.json \\(a Hugging Face model directory has one`)),
    );
  });
});

// ---- export ----

Deno.test("export → load round trip is bit-exact and writes an HF directory", async () => {
  await withTempDir(async (root) => {
    const tok = miniTokenizer();
    const config = parseHfConfig({ ...hfConfigJson(miniConfig()), tie_weights_: true }, "c");
    const tensors = randomTensors(config, 6);
    tensors.set("not.a.parameter", { dtype: "F32", shape: [1], data: new Float32Array(1) });
    const out = join(root, "exported");
    await exportClassifier(out, config, tensors, tok);

    assert.deepEqual(
      [...Deno.readDirSync(out)].map((e) => e.name).sort(),
      ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"],
    );
    assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["exported"]);
    assert.equal(
      await Deno.readTextFile(join(out, "vocab.txt")),
      tok.vocabTokens.map((t) => t + "\n").join(""),
    );
    assert.equal(await Deno.readTextFile(join(out, "tokenizer.json")), tokenizerJson(tok));
    const tokConfig = JSON.parse(await Deno.readTextFile(join(out, "tokenizer_config.json")));
    assert.equal(tokConfig.tokenizer_class, "BertTokenizer");
    assert.equal(tokConfig.do_lower_case, true);
    assert.equal(tokConfig.model_max_length, 16);
    const reread = (await loadTokenizerDir(out)).tokenizer;
    assert.equal(tokenizerJson(reread), tokenizerJson(tok));
    const configText = await Deno.readTextFile(join(out, "config.json"));
    assert.equal(configText, JSON.stringify(hfConfigJson(config), null, 2) + "\n");
    const configJson = JSON.parse(configText);
    assert.equal(configJson.dtype, "float32");
    assert.equal(configJson.transformers_version, "5.18.0");
    assert.equal("torch_dtype" in configJson, false, "4.x's torch_dtype is 5.x's dtype");

    const raw = await readSafetensors(join(out, "model.safetensors"));
    assert.deepEqual(raw.metadata, { format: "pt" });
    assert.deepEqual([...raw.tensors.keys()].sort(), parameterSpecs(config).map((s) => s.name).sort());

    const loaded = await loadClassifierCheckpoint(out, { strict: true });
    assert.deepEqual(loaded.config, config);
    for (const spec of parameterSpecs(config)) {
      const t = loaded.tensors.get(spec.name)!;
      assert.equal(t.dtype, "F32");
      assert.deepEqual(t.shape, spec.shape);
      assert.deepEqual(bytesOf(t), bytesOf(tensors.get(spec.name)!), spec.name);
    }
  });
});

Deno.test("export: a failing step leaves the existing directory untouched and nothing half-written", async () => {
  await withTempDir(async (root) => {
    const out = join(root, "model");
    await Deno.mkdir(out);
    await Deno.writeTextFile(join(out, "config.json"), "old");
    const config = miniConfig();
    await assert.rejects(
      exportClassifier(out, config, randomTensors(config, 8), miniTokenizer(51)),
      /the tokenizer has 51 tokens, vocab_size is 50/,
    );
    const incomplete = new Map(randomTensors(config, 8));
    incomplete.delete("classifier.bias");
    await assert.rejects(
      exportClassifier(out, config, incomplete, miniTokenizer()),
      /no tensor for parameter classifier\.bias/,
    );
    assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name), ["config.json"]);
    assert.equal(await Deno.readTextFile(join(out, "config.json")), "old");
    assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["model"]);
  });
});

// ---- the published checkpoint's layout ----

/** The name/shape table of the README, with {L} expanded for each layer. */
function readmeTensorTable(readme: string, nLayers: number): { name: string; shape: number[] }[] {
  const rows: { name: string; shape: number[] }[] = [];
  const section = readme.split("## Tensor names and shapes")[1].split("\n## ")[0];
  for (const m of section.matchAll(/^\| `([^`]+)` \| \[([\d, ]+)\] \|$/gm)) {
    const shape = m[2].split(",").map((d) => Number(d.trim()));
    if (m[1].includes("{L}")) {
      for (let l = 0; l < nLayers; l++) rows.push({ name: m[1].replace("{L}", String(l)), shape });
    } else rows.push({ name: m[1], shape });
  }
  return rows;
}

Deno.test({
  name: "load: a checkpoint with the published distilbert-base-uncased names and shapes",
  ignore: skipShared("the published checkpoint layout test"),
  fn: async () => {
    const modelDir = join(shared!, "models", "distilbert-base-uncased");
    const config = await readConfigFile(join(modelDir, "config.json"));
    const table = readmeTensorTable(await Deno.readTextFile(join(modelDir, "README.md")), config.n_layers);
    assert.equal(table.length, 105, "the README states 105 tensors");
    const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
    assert.equal(
      table.reduce((n, t) => n + numel(t.shape), 0),
      66_985_530,
      "the README states 66,985,530 parameters",
    );

    // Built as an F16 file in memory (half of the 268 MB F32 size); the zero bytes are never touched, so only
    // the decoded F32 tensors take real memory. Each tensor starts with a distinct value to check placement.
    const header: Record<string, unknown> = {};
    let offset = 0;
    for (const t of table) {
      header[t.name] = { dtype: "F16", shape: t.shape, data_offsets: [offset, offset + 2 * numel(t.shape)] };
      offset += 2 * numel(t.shape);
    }
    // Padded to a multiple of 8 as real files are, so the data section is aligned and decodes without copies.
    const headerText = JSON.stringify(header);
    const headerBytes = new TextEncoder().encode(headerText.padEnd(Math.ceil(headerText.length / 8) * 8));
    const bytes = new Uint8Array(8 + headerBytes.length + offset);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
    bytes.set(headerBytes, 8);
    const dataStart = 8 + headerBytes.length;
    const marks = new Map<string, number>();
    table.forEach((t, i) => {
      const half = 0x3c00 + i; // 1 + i/1024, exact in F16
      const at = dataStart + (header[t.name] as { data_offsets: number[] }).data_offsets[0];
      bytes[at] = half & 0xff;
      bytes[at + 1] = half >> 8;
      marks.set(t.name, 1 + i / 1024);
    });

    const { tensors } = parseSafetensors(bytes, "distilbert-base-uncased/model.safetensors");
    const loaded = classifierFromTensors("distilbert-base-uncased", config, tensors);
    assert.deepEqual(loaded.missingKeys, []);
    assert.deepEqual(loaded.unexpectedKeys, MLM_HEAD_KEYS);
    assert.deepEqual(loaded.newlyInitialized, CLASSIFIER_HEAD_KEYS);
    assert.equal(loaded.tensors.size, parameterSpecs(config).length);
    for (const [name, mark] of marks) {
      if (name.startsWith("vocab_")) continue;
      const t = loaded.tensors.get(name)!;
      assert.equal(t.data[0], mark, name);
      assert.equal(t.data[1], 0, name);
    }
    assert.match(
      formatLoadReport(loaded),
      /^Some weights of the model checkpoint at distilbert-base-uncased were not used/,
    );
  },
});
