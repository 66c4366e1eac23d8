/**
 * Finding the optional Python references: the Hugging Face reference venv (torch, transformers, tokenizers,
 * safetensors, accelerate; `scripts/hf_reference.sh` sets it up) and any python3 with PyTorch.
 */
import { join } from "node:path";

/** The reference venv's packages and the versions found. */
export interface HfReference {
  python: string;
  versions: Record<"python" | "torch" | "transformers" | "tokenizers" | "safetensors" | "accelerate", string>;
}

/** Where scripts/hf_reference.sh puts the venv: $HF_REFERENCE_VENV, else ~/.cache/distilbert-webgpu/hf-venv. */
export function hfReferenceVenv(): string {
  const explicit = Deno.env.get("HF_REFERENCE_VENV");
  if (explicit) return explicit;
  const cache = Deno.env.get("XDG_CACHE_HOME") || join(Deno.env.get("HOME") ?? ".", ".cache");
  return join(cache, "distilbert-webgpu", "hf-venv");
}

// Installed versions from package metadata: importing torch and transformers would take seconds per run
// (scripts/hf_reference.sh imports them once, when it sets the venv up).
const PROBE = `
import importlib.metadata as md, json, platform
mods = ["torch", "transformers", "tokenizers", "safetensors", "accelerate"]
print(json.dumps({"python": platform.python_version(), **{m: md.version(m) for m in mods}}))
`;

/**
 * The reference venv's interpreter and versions, or null when it is missing or incomplete. Each call probes
 * (one python start reading package metadata): callers that ask more than once keep the answer.
 * `HF_REFERENCE_PYTHON` names an interpreter directly (it must import the same five packages).
 */
export async function hfReference(): Promise<HfReference | null> {
  const python = Deno.env.get("HF_REFERENCE_PYTHON") || join(hfReferenceVenv(), "bin", "python");
  const out = await run(python, ["-c", PROBE]);
  if (!out?.success) return null;
  return { python, versions: JSON.parse(new TextDecoder().decode(out.stdout)) };
}

/** "torch 2.13.0+cpu, transformers 5.18.0, ..." for logs. */
export function describeHfReference(ref: HfReference): string {
  return Object.entries(ref.versions).map(([k, v]) => `${k} ${v}`).join(", ");
}

/** The command's output, or null when it cannot even start (Deno throws synchronously for a missing binary). */
async function run(python: string, args: string[]): Promise<Deno.CommandOutput | null> {
  try {
    return await new Deno.Command(python, { args, stdout: "piped", stderr: "null" }).output();
  } catch {
    return null;
  }
}

/** The interpreter's sys.prefix when it can `import torch` (a venv and its base interpreter differ here). */
async function torchPrefix(python: string): Promise<string | null> {
  const probe = await run(python, ["-c", "import sys, torch; print(sys.prefix)"]);
  return probe?.success ? new TextDecoder().decode(probe.stdout).trim() : null;
}

/**
 * Every distinct interpreter that can `import torch`: the reference venv first, then Debian's
 * `/usr/bin/python3` (its python3-torch, with OpenBLAS), then `python3` on PATH.
 */
export async function torchPythons(): Promise<string[]> {
  const found: string[] = [];
  const prefixes = new Set<string>();
  const ref = await hfReference();
  for (const python of [ref?.python, "/usr/bin/python3", "python3"]) {
    if (!python) continue;
    const prefix = await torchPrefix(python);
    if (prefix === null || prefixes.has(prefix)) continue;
    prefixes.add(prefix);
    found.push(python);
  }
  return found;
}

/** A python3 that can `import torch` (the reference venv first), or null. */
export async function torchPython(): Promise<string | null> {
  return (await torchPythons())[0] ?? null;
}
