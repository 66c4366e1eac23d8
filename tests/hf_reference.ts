/**
 * The Hugging Face reference for the tests: the venv that scripts/hf_reference.sh sets up (real torch,
 * transformers, tokenizers, safetensors, accelerate). Tests that need it use `ignore: !hf`. One message per
 * `deno test` run says whether it is there: test files run in workers of one process, and the process's
 * environment is shared between them, so the first file to load this module marks it said.
 */
import { fileURLToPath } from "node:url";
import { describeHfReference, type HfReference, hfReference, hfReferenceVenv } from "../util/python.ts";

export const hf: HfReference | null = await hfReference();

const ANNOUNCED = "DISTILBERT_WEBGPU_HF_REFERENCE_ANNOUNCED";
if (!Deno.env.get(ANNOUNCED)) {
  Deno.env.set(ANNOUNCED, "1");
  if (hf) console.log(`HF reference: ${hf.python} (${describeHfReference(hf)})`);
  else {
    console.log(
      `skipping the Hugging Face reference tests (hf: ...): no reference venv at ${hfReferenceVenv()} ` +
        "(set it up with scripts/hf_reference.sh); the golden files are the reference instead",
    );
  }
}

export const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Runs tests/hf/<script> with the reference python; its stdout, or an error with its stderr. */
export async function runHf(script: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  if (!hf) throw new Error("runHf: no HF reference");
  const out = await new Deno.Command(hf.python, {
    args: [`${ROOT}tests/hf/${script}`, ...args],
    cwd: opts.cwd ?? ROOT,
    stdout: "piped",
    stderr: "piped",
    env: {
      PYTHONHASHSEED: "0",
      TOKENIZERS_PARALLELISM: "true",
      HF_HUB_OFFLINE: "1",
      TRANSFORMERS_VERBOSITY: "error",
    },
  }).output();
  const stdout = new TextDecoder().decode(out.stdout), stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`tests/hf/${script} failed (exit ${out.code}):\n${stderr.slice(-4000)}`);
  return stdout;
}

/** Reads a tests/hf/encode_texts.py id file: int32 n, n lengths, then the ids. */
export async function readIdRows(path: string): Promise<Int32Array[]> {
  const bytes = await Deno.readFile(path);
  const all = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const n = all[0];
  const rows: Int32Array[] = [];
  let at = 1 + n;
  for (let i = 0; i < n; i++) {
    rows.push(all.subarray(at, at + all[1 + i]));
    at += all[1 + i];
  }
  return rows;
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "hf-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
