/** Image model rows in `[[inference.models]]`: the per-model request limits (docs/images.md#serving). */
import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/load.ts";
import { fixtures, merged } from "./helpers.ts";

const { tomlFile } = fixtures();
const env = { env: {}, cwd: "/work" };
const file = (models: string) => tomlFile(merged({ inference: `cache_dir = "/cache"\njrpc_port = 3000\n${models}\n`, subscriber: null, client: null }));

function errorOf(models: string): string {
  const f = file(models);
  try {
    loadConfig({ config: f }, env);
  } catch (e) {
    return (e as Error).message.slice(f.length + 2);
  }
  throw new Error("expected an error");
}

const SD = `[[inference.models]]\nmodel_id = "stable_diffusion_v1-5"\ndtype = "f32"\npath = "/models/sd15"\n`;

describe("image model entries", () => {
  test("a stable_diffusion row with a folder and limits", () => {
    const [m] = loadConfig({ config: file(`${SD}max_image_size = 768\nmax_steps = 50\nmax_samples = 4`) }, env).inference.models;
    expect(m).toMatchObject({ modelId: "stable_diffusion_v1-5", path: "/models/sd15", local: true, image: { maxSize: 768, maxSteps: 50, maxSamples: 4 } });
    const [plain] = loadConfig({ config: file(SD) }, env).inference.models;
    expect(plain!.image).toBeUndefined();
  });

  test.each([
    [`${SD}max_image_size = 1020`, "inference.models[0].max_image_size: 1020 is not a multiple of 8, expected a pixel size 8 … 16384, a multiple of 8"],
    [`${SD}max_image_size = 0`, "inference.models[0].max_image_size: 0 is out of range, expected a pixel size 8 … 16384, a multiple of 8"],
    [`${SD}max_steps = 0`, "inference.models[0].max_steps: 0 is out of range, expected an integer 1 … 10000"],
    [`${SD}max_samples = "4"`, `inference.models[0].max_samples: got string "4", expected an integer 1 … 256`],
  ])("%s", (toml, message) => {
    expect(errorOf(toml)).toBe(message);
  });
});
