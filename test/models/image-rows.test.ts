import { expect, test } from "bun:test";
import { registryRow } from "../../src/models/registry.ts";
import { rowBlocker } from "../../src/models/status.ts";

test("models list: every stable_diffusion row converts and runs (pullable, no blocker)", () => {
  for (const m of ["stable_diffusion_v1-5", "stable_diffusion_v2-1", "stable_diffusion_xl", "stable_diffusion_turbo"]) expect(rowBlocker(registryRow(m)!)).toBeUndefined();
});
