export { configStateFromFiles, formatProblem, readConfigDir, readConfigFiles } from "./config-dir.js";
export type { ConfigFile, ConfigProblem, ConfigState } from "./config-dir.js";
export { annotatedEndpointSlices, endpointsAnnotation } from "./endpoints.js";
export { watchFolder } from "./watch.js";
export type { FolderWatch } from "./watch.js";
