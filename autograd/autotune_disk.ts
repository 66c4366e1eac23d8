/**
 * The autotuner's disk cache (Deno only): $XDG_CACHE_HOME or ~/.cache, distilbert-webgpu/matmul-autotune.json.
 * Every Deno entry point (tasks' runMain, the training and inference jobs) installs it; a page does not.
 */
import type { AutotuneCacheFile, AutotuneStore } from "./autotune/cache.ts";
import { engineSettings } from "./runtime.ts";
import { writeJsonFile } from "../util/fs.ts";

/** The cache file's path, read from the environment at each use (tests move it); null without a home. */
function cachePath(): string | null {
  try {
    const base = Deno.env.get("XDG_CACHE_HOME") ||
      (Deno.env.get("HOME") ? `${Deno.env.get("HOME")}/.cache` : null);
    return base ? `${base}/distilbert-webgpu/matmul-autotune.json` : null;
  } catch {
    return null; // no env permission
  }
}

const diskAutotuneStore: AutotuneStore = {
  async read(): Promise<AutotuneCacheFile | null> {
    const path = cachePath();
    if (!path) return null;
    try {
      return JSON.parse(await Deno.readTextFile(path)) as AutotuneCacheFile;
    } catch {
      return null; // missing, unreadable or corrupt: retune
    }
  },
  async write(cache: AutotuneCacheFile): Promise<void> {
    const path = cachePath();
    if (!path) return;
    try {
      await writeJsonFile(path, cache);
    } catch (err) {
      console.error(`matmul autotune: could not write ${path}: ${(err as Error).message}`);
    }
  },
};

/** Tuned choices persist on disk from now on. */
export function useDiskAutotuneCache(): void {
  engineSettings().autotuneStore = diskAutotuneStore;
}
