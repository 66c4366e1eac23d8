/**
 * Safetensors files on disk (Deno). The format, bytes in and bytes out, is model/safetensors_format.ts,
 * re-exported here.
 */
import { readInputFile, writeFileAtomic } from "../util/fs.ts";
import {
  type HostTensor,
  parseSafetensors,
  type SafetensorsContents,
  serializeSafetensors,
} from "./safetensors_format.ts";

export * from "./safetensors_format.ts";

export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  return parseSafetensors(await readInputFile(path, Deno.readFile), path);
}

/** Writes a safetensors file atomically (see serializeSafetensors for the layout). */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, HostTensor> | Record<string, HostTensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}
