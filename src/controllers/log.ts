/**
 * The operator's logger: winston, one line per event, JSON (for log pipelines) or text (for
 * people). Every line about a proxy or a resource carries it as a field (`proxy`, `resource`),
 * which text format prints in brackets right after the level.
 */
import winston from "winston";

export type LogFormat = "json" | "text";
export const logLevels = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof logLevels)[number];

export interface Logger {
  error(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

const textLine = winston.format.printf((info) => {
  const { level, message, timestamp, proxy, resource, ...rest } = info as Record<string, unknown>;
  const subject = [proxy ? `proxy=${String(proxy)}` : "", resource ? `resource=${String(resource)}` : ""].filter(Boolean).join(" ");
  const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : "";
  return `${String(timestamp)} ${String(level).padEnd(5)} ${subject ? `[${subject}] ` : ""}${String(message)}${extra}`;
});

export function createLogger(level: LogLevel, format: LogFormat, stream: NodeJS.WritableStream = process.stderr): Logger {
  const logger = winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), format === "json" ? winston.format.json() : textLine),
    transports: [new winston.transports.Stream({ stream })],
  });
  // One info object per line, never `logger.warn(message, fields)`: winston treats a message with
  // printf tokens (`%s`, `%d`, `%%` — e.g. Envoy's %VARIABLE% syntax quoted in a finding) as a
  // format string and then drops the fields, so the line would lose its proxy/resource keys.
  // A line below the level is dropped before winston sees it: winston would push it through its
  // stream pipeline (timestamp format included) only to drop it, ~15 µs per call (a debug line
  // per AdmissionReview on the webhook's hot path).
  const line = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (logger.isLevelEnabled(level)) logger.log({ ...(fields ?? {}), level, message });
  };
  return { error: line("error"), warn: line("warn"), info: line("info"), debug: line("debug") };
}

/**
 * A logger that adds `fields` to every line (a line's own fields win): how one reconcile's lines
 * all carry its `reconcile` id, so a log search for the id shows that run and nothing else.
 */
export function withFields(logger: Logger, fields: Record<string, unknown>): Logger {
  const merged = (own?: Record<string, unknown>) => ({ ...fields, ...(own ?? {}) });
  return {
    error: (message, own) => logger.error(message, merged(own)),
    warn: (message, own) => logger.warn(message, merged(own)),
    info: (message, own) => logger.info(message, merged(own)),
    debug: (message, own) => logger.debug(message, merged(own)),
  };
}
