/** `deno task info`'s adapter report. */
import { initGpu } from "./runtime.ts";

export async function adapterInfo(): Promise<string> {
  const rt = await initGpu();
  const s = rt.summary;
  const lines = [
    `adapter:     ${s.description}${
      s.vendor ? ` (vendor ${s.vendor}${s.architecture ? `, ${s.architecture}` : ""})` : ""
    }`,
    `fallback:    ${s.isFallback ? "yes (a CPU/software adapter)" : "no"}`,
    `shader-f16:  ${s.shaderF16 ? "yes" : "no"}`,
    `limits:      ${
      rt.options.limits === "default"
        ? "the WebGPU defaults, no optional feature (DISTILBERT_WEBGPU_LIMITS=default)"
        : "the adapter's own"
    }`,
    ...Object.entries(s.limits).map(([k, v]) => `  ${k.padEnd(36)} ${v.toLocaleString("en-US")}`),
  ];
  return lines.join("\n");
}
