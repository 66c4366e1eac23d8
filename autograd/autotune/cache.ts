/**
 * The autotuner's memory: the runtime's table of tuned choices (bucket → plan name or attention path), and
 * the store where they persist between runs, keyed by adapter (the settings' `autotuneStore`: under Deno,
 * autograd/autotune_disk.ts; a page may install its own, or none).
 */
import { gpu } from "../runtime.ts";
import { MATMUL_VARIANTS } from "../../kernels/matmul.ts";
import { envVar } from "../../util/host.ts";

/** Bumped when variants change meaning, so stale cached choices are not reused. */
const CACHE_VERSION = 5;
/** Interleaved timing passes per shape (see autotuneMatmul). */
export const TUNE_PASSES = 3;

/** The key of this process's adapter (and variant set) in the store. */
export function adapterKey(): string {
  const s = gpu().summary;
  const names = MATMUL_VARIANTS.map((v) => v.name).join(",");
  return `${s.description} | ${s.vendor} | ${s.architecture} | v${CACHE_VERSION} ${names}`;
}

/** The tuned choices of every adapter seen: bucket → plan name, by adapter key. */
export interface AutotuneCacheFile {
  version: number;
  adapters: Record<string, Record<string, string>>;
}

/**
 * Where tuned choices persist between runs. None by default (tuned once per process, as in a page); under
 * Deno, autograd/autotune_disk.ts installs `~/.cache/distilbert-webgpu/matmul-autotune.json`.
 */
export interface AutotuneStore {
  /** The stored choices; null when there are none or they cannot be read (then everything is retuned). */
  read(): Promise<AutotuneCacheFile | null>;
  /** Stores the choices (failures are the store's to report: tuning goes on without it). */
  write(cache: AutotuneCacheFile): Promise<void>;
}

/** Whether DISTILBERT_AUTOTUNE=0 turned timing off (the heuristic alone chooses). */
export const autotuneDisabled = () => envVar("DISTILBERT_AUTOTUNE") === "0";

/** The stored choices, or an empty cache when there are none (or they are stale or unreadable). */
export async function readCache(): Promise<AutotuneCacheFile> {
  const empty = { version: CACHE_VERSION, adapters: {} };
  const data = await gpu().settings.autotuneStore?.read().catch(() => null);
  return data && data.version === CACHE_VERSION && typeof data.adapters === "object" ? data : empty;
}

/** Adds `choices` to this adapter's stored ones, re-reading first so a concurrent tuner's other buckets stay. */
export async function storeChoices(key: string, choices: Record<string, string>): Promise<void> {
  const latest = await readCache();
  latest.adapters[key] = { ...(latest.adapters[key] ?? {}), ...choices };
  await gpu().settings.autotuneStore?.write(latest);
}
