/**
 * Safetensors files on disk (Deno). The format, bytes in and bytes out, is model/safetensors_format.ts,
 * re-exported here.
 */
import { UserError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import {
  type HostTensor,
  parseSafetensors,
  type SafetensorsContents,
  serializeSafetensors,
} from "./safetensors_format.ts";

export * from "./safetensors_format.ts";

export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`${path}: no such file`);
    if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.IsADirectory) {
      throw new UserError(`${path}: cannot read (${oneLine(String((err as Error).message))})`);
    }
    throw err;
  }
  return parseSafetensors(bytes, path);
}

/** Writes a safetensors file atomically (see serializeSafetensors for the layout). */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, HostTensor> | Record<string, HostTensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

const oneLine = (s: string) => s.replace(/\s*[\r\n]+\s*/g, " ");
