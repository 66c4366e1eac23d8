import { denoHost } from "../util/host.ts";

/**
 * Which backends Deno's WebGPU (wgpu) starts. Left alone it starts all it has: on Linux, Vulkan and also
 * OpenGL through EGL, which loads Mesa's EGL and opens a second, software (llvmpipe) device with its own
 * threads that we never use. When the WebGPU instance lives on a thread other than the main one (`deno test`
 * runs each test file on its own thread), that EGL state is torn down as the thread ends, racing the
 * process's exit: now and then glibc aborts after the test summary ("double free or corruption", "corrupted
 * size vs. prev_size", status 134). The same teardown race is wgpu's gfx-rs/wgpu#4285 (libglvnd's per-thread
 * EGL state freed at thread exit) and #7655 (a wgpu instance in a Rust test crashing in start_thread at exit).
 * `scripts/exit_abort.ts` reproduces it without our code.
 *
 * So on Linux, with a Vulkan driver installed and no choice made by the user (DENO_WEBGPU_BACKEND), we ask
 * for Vulkan only. Deno reads the variable when the first adapter is requested, so this runs before that.
 */

/** Sets DENO_WEBGPU_BACKEND=vulkan on Linux when a Vulkan driver is installed and the variable is unset. */
export function preferVulkanBackend(): void {
  // The runtime also runs in browsers, where there is no Deno (and no choice to make).
  const deno = denoHost;
  if (deno === undefined || deno.build?.os !== "linux") return;
  try {
    if (deno.env.get("DENO_WEBGPU_BACKEND") !== undefined) return;
    if (!hasVulkanDriver(deno)) return;
    deno.env.set("DENO_WEBGPU_BACKEND", "vulkan");
  } catch {
    // Without env permission Deno's default (every backend) stays.
  }
}

/** True when the Vulkan loader will find a driver: VK_ICD_FILENAMES / VK_DRIVER_FILES, or an ICD manifest. */
function hasVulkanDriver(deno: typeof Deno): boolean {
  if (deno.env.get("VK_ICD_FILENAMES") || deno.env.get("VK_DRIVER_FILES")) return true;
  const dataDirs = (deno.env.get("XDG_DATA_DIRS") || "/usr/local/share:/usr/share").split(":");
  const dirs = [...dataDirs.map((d) => `${d}/vulkan/icd.d`), "/etc/vulkan/icd.d", "/usr/share/vulkan/icd.d"];
  for (const dir of dirs) {
    try {
      for (const e of deno.readDirSync(dir)) if (e.name.endsWith(".json")) return true;
    } catch { /* no such folder */ }
  }
  return false;
}
