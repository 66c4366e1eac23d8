/**
 * Files from the Hugging Face Hub (models and datasets alike), kept in huggingface_hub's own cache layout
 * (`cache.ts`): the cached file when it passes its checks, else a verified, resumable download
 * (`download.ts`) with huggingface_hub's timeouts and retries (`http.ts`).
 */
import { UserError } from "../../util/errors.ts";
import {
  checkedCachedHubFile,
  describeRef,
  type HubEnv,
  hubEnvFromProcess,
  type HubFileRef,
  isHubOffline,
  repoCacheFolder,
} from "./cache.ts";
import { downloadIntoCache } from "./download.ts";

export interface HubDownloadOptions {
  env?: HubEnv;
  /** Progress on stderr (default true): a live bar on a terminal, start and end lines otherwise. */
  progress?: boolean;
}

/**
 * One user of the hub (a task resolving its model or its data): the environment it reads, whether it shows
 * progress, and the origins that did not answer an earlier file, which later files skip the retries for.
 */
export class HubClient {
  readonly env: HubEnv;
  readonly progress: boolean;
  private readonly unreachable = new Set<string>();

  constructor(opts: HubDownloadOptions = {}) {
    this.env = opts.env ?? hubEnvFromProcess();
    this.progress = opts.progress ?? true;
  }

  /** The cached file, else a download into the cache; offline (HF_HUB_OFFLINE) a missing file is a UserError. */
  async file(ref: HubFileRef): Promise<string> {
    const cached = await checkedCachedHubFile(ref, this.env);
    if (cached) return cached;
    if (isHubOffline(this.env)) {
      throw new UserError(
        `offline (HF_HUB_OFFLINE=${this.env.HF_HUB_OFFLINE}) and ${
          describeRef(ref)
        } is not in the HF cache at ${repoCacheFolder(ref, this.env)}`,
      );
    }
    return await this.download(ref);
  }

  /** Downloads `ref` into the cache (resuming a partial download) and returns the snapshot path. */
  async download(ref: HubFileRef): Promise<string> {
    if (isHubOffline(this.env)) {
      throw new UserError(
        `offline (HF_HUB_OFFLINE=${this.env.HF_HUB_OFFLINE}): cannot download ${describeRef(ref)}`,
      );
    }
    return await downloadIntoCache(ref, this.env, this.progress, this.unreachable);
  }
}

/** `HubClient.file` for one file (a fresh client: its memo of unreachable origins lasts this one call). */
export async function hubFile(ref: HubFileRef, opts: HubDownloadOptions = {}): Promise<string> {
  return await new HubClient(opts).file(ref);
}

/** `HubClient.download` for one file. */
export async function downloadHubFile(ref: HubFileRef, opts: HubDownloadOptions = {}): Promise<string> {
  return await new HubClient(opts).download(ref);
}
