/**
 * ADS incremental (`api_type: DELTA_GRPC`) with a real Envoy: the scenarios in suite.ts, plus
 * removed_resources and initial_resource_versions on reconnect (nothing re-sent).
 */
import { adsSuite } from "./suite.js";

adsSuite("DELTA_GRPC");
