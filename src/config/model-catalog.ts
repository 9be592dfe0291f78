/**
 * The seed's `model_type` table moved to data (models/registry.json) with its reader in
 * src/models/registry.ts. This module keeps the names config/ and other modules import.
 */
export { catalogEntry, isKnownModelType, MODEL_CATALOG, type CatalogEntry, type ModelFamily } from "../models/registry.ts";
