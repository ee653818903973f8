/** ADS state of the world (`api_type: GRPC`) with a real Envoy: the scenarios in suite.ts. */
import { adsSuite } from "./suite.js";

adsSuite("GRPC");
