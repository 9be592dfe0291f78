/**
 * diffusers' `scheduler/scheduler_config.json`, read and checked. Only the fields that change the
 * numbers of DDIM / Euler / Euler-ancestral are honoured; a field set to a value we do not
 * implement (karras sigmas, zero-SNR rescaling, thresholding, ...) is refused with one line naming
 * it, because silently ignoring it would give different pixels from every other implementation.
 */

export type SchedulerKind = "ddim" | "euler" | "euler_ancestral";
export type BetaSchedule = "linear" | "scaled_linear";
export type TimestepSpacing = "leading" | "trailing" | "linspace";
export type PredictionType = "epsilon" | "v_prediction";

export interface SchedulerConfig {
  kind: SchedulerKind;
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  predictionType: PredictionType;
  /** DDIM only: the "previous" alpha product past the last step is 1 (true) or alphas_cumprod[0]. */
  setAlphaToOne: boolean;
}

export class SchedulerConfigError extends Error {
  override name = "SchedulerConfigError";
}

const CLASS_KINDS: Record<string, SchedulerKind> = {
  DDIMScheduler: "ddim",
  EulerDiscreteScheduler: "euler",
  EulerAncestralDiscreteScheduler: "euler_ancestral",
};

/** Per-class defaults of diffusers' constructors (they differ between classes). */
const DEFAULT_SPACING: Record<SchedulerKind, TimestepSpacing> = { ddim: "leading", euler: "linspace", euler_ancestral: "linspace" };

/** Fields whose non-default values we refuse rather than ignore. */
const MUST_BE_OFF: [string, unknown][] = [
  ["use_karras_sigmas", false],
  ["use_exponential_sigmas", false],
  ["use_beta_sigmas", false],
  ["rescale_betas_zero_snr", false],
  ["thresholding", false],
  ["trained_betas", null],
];

function num(raw: Record<string, unknown>, key: string, dflt: number, where: string, integer = false): number {
  const v = raw[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new SchedulerConfigError(`${where}: ${key} must be a finite ${integer ? "integer" : "number"}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function oneOf<T extends string>(raw: Record<string, unknown>, key: string, allowed: readonly T[], dflt: T, where: string): T {
  const v = raw[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
    throw new SchedulerConfigError(`${where}: ${key} ${JSON.stringify(v)} is not supported (expected one of ${allowed.join(", ")})`);
  }
  return v as T;
}

/**
 * Parses the JSON object of a scheduler_config.json. `classOverride` picks a scheduler other than
 * the one the repo names (diffusers lets a pipeline swap schedulers over the same config).
 */
export function parseSchedulerConfig(raw: unknown, where = "scheduler_config.json", classOverride?: SchedulerKind): SchedulerConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new SchedulerConfigError(`${where}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  let kind = classOverride;
  if (!kind) {
    const cls = o._class_name;
    if (typeof cls !== "string" || !(cls in CLASS_KINDS)) {
      throw new SchedulerConfigError(`${where}: _class_name ${JSON.stringify(cls)} is not supported (expected ${Object.keys(CLASS_KINDS).join(", ")})`);
    }
    kind = CLASS_KINDS[cls]!;
  }
  for (const [key, off] of MUST_BE_OFF) {
    if (o[key] !== undefined && o[key] !== off) throw new SchedulerConfigError(`${where}: ${key}=${JSON.stringify(o[key])} is not supported (only ${JSON.stringify(off)})`);
  }
  if (o.clip_sample === true && kind === "ddim") throw new SchedulerConfigError(`${where}: clip_sample=true is not supported`);
  if (kind !== "ddim" && o.interpolation_type !== undefined && o.interpolation_type !== "linear") {
    throw new SchedulerConfigError(`${where}: interpolation_type ${JSON.stringify(o.interpolation_type)} is not supported (only "linear")`);
  }
  if (kind === "ddim" && o.eta !== undefined && o.eta !== 0) throw new SchedulerConfigError(`${where}: eta must be 0`);
  const numTrainTimesteps = num(o, "num_train_timesteps", 1000, where, true);
  if (numTrainTimesteps < 2 || numTrainTimesteps > 100_000) throw new SchedulerConfigError(`${where}: num_train_timesteps ${numTrainTimesteps} is outside 2..100000`);
  const betaStart = num(o, "beta_start", 0.0001, where);
  const betaEnd = num(o, "beta_end", 0.02, where);
  if (!(betaStart > 0 && betaEnd < 1 && betaStart <= betaEnd)) throw new SchedulerConfigError(`${where}: need 0 < beta_start <= beta_end < 1, got ${betaStart}, ${betaEnd}`);
  const stepsOffset = num(o, "steps_offset", 0, where, true);
  if (stepsOffset < 0 || stepsOffset >= numTrainTimesteps) throw new SchedulerConfigError(`${where}: steps_offset ${stepsOffset} is outside 0..${numTrainTimesteps - 1}`);
  const sa = o.set_alpha_to_one;
  if (sa !== undefined && typeof sa !== "boolean") throw new SchedulerConfigError(`${where}: set_alpha_to_one must be a boolean`);
  return {
    kind,
    numTrainTimesteps,
    betaStart,
    betaEnd,
    betaSchedule: oneOf(o, "beta_schedule", ["linear", "scaled_linear"] as const, "linear", where),
    timestepSpacing: oneOf(o, "timestep_spacing", ["leading", "trailing", "linspace"] as const, DEFAULT_SPACING[kind], where),
    stepsOffset,
    predictionType: oneOf(o, "prediction_type", ["epsilon", "v_prediction"] as const, "epsilon", where),
    setAlphaToOne: sa ?? true,
  };
}
