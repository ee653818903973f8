/**
 * Progress on stderr for CLI operations that can take more than a second (reading a cluster,
 * port-forwards, Envoy's start-up). What kubectl and istioctl users expect:
 * - on a terminal: nothing for a fast operation; after 1 s, one spinner line with the current
 *   phase and the time so far, rewritten in place and erased when the operation ends, so the
 *   terminal keeps only the result;
 * - not on a terminal (a pipe, CI, a log): nothing, unless --verbose asks for it; then one
 *   plain line per phase, with the time since the start (`[  1.2s] reading the cluster`);
 * - stdout is never touched: `-o json` stays parseable.
 * The clock and the timer are injected so tests drive the 1 s threshold without waiting.
 */

/** Where progress goes: stderr, or a test's capture. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  /** The terminal's width: the spinner line is cut to fit, since erasing a wrapped line erases only its last row. */
  columns?: number;
}

/** Time and a repeating timer; the real one unless a test gives its own. */
export interface ProgressClock {
  now(): number;
  every(ms: number, tick: () => void): { stop(): void };
}

export const systemClock: ProgressClock = {
  now: () => Date.now(),
  every(ms, tick) {
    const timer = setInterval(tick, ms);
    // A spinner must never keep the CLI alive after its work is done.
    timer.unref();
    return { stop: () => clearInterval(timer) };
  },
};

export interface ProgressOptions {
  stream: ProgressStream;
  /** --verbose: phase lines even when the stream is not a terminal. */
  verbose?: boolean;
  clock?: ProgressClock;
  /** How long an operation runs before a terminal shows anything (default 1 s). */
  thresholdMs?: number;
  /** Dim the elapsed time (only ever on a terminal; default: unless NO_COLOR is set). */
  color?: boolean;
}

export interface Progress {
  /** The operation entered a new phase ("reading the cluster at https://…"). */
  phase(text: string): void;
  /** Writes a message to the same stream (a diagnostic on stderr) without garbling the spinner line. */
  print(text: string): void;
  /** Erases the spinner line now (before writing to stdout on the same terminal); the next tick draws it again. */
  clear(): void;
  /** The operation ended (successfully or not): erase the spinner line. Idempotent. */
  done(): void;
}

const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const tickMs = 100;
const eraseLine = "\r\x1b[K";

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export function createProgress(options: ProgressOptions): Progress {
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  if (options.verbose === true) {
    // Plain lines, on a terminal too: --verbose asks for a record, not an animation.
    let ended = false;
    return {
      phase(text) {
        if (!ended) options.stream.write(`[${seconds(clock.now() - started).padStart(6)}] ${text}\n`);
      },
      print: (text) => options.stream.write(text),
      clear: () => undefined,
      done() {
        ended = true;
      },
    };
  }
  if (options.stream.isTTY !== true) return { phase: () => undefined, print: (text) => options.stream.write(text), clear: () => undefined, done: () => undefined };

  const threshold = options.thresholdMs ?? 1000;
  const color = options.color ?? !process.env.NO_COLOR;
  let current = "";
  let frame = 0;
  let shown = false;
  let timer: { stop(): void } | undefined;
  const render = (): void => {
    const elapsed = clock.now() - started;
    if (elapsed < threshold || current === "") return;
    const time = seconds(elapsed);
    const width = options.stream.columns ?? 80;
    // frame, space, text, space, time: the text is cut (with "…") so the whole line fits in one row.
    const room = Math.max(width - 1 - 2 - 1 - time.length, 8);
    const text = [...current].length > room ? `${[...current].slice(0, room - 1).join("")}…` : current;
    options.stream.write(`${eraseLine}${frames[frame % frames.length] ?? ""} ${text} ${color ? `\x1b[2m${time}\x1b[0m` : time}`);
    frame++;
    shown = true;
  };
  return {
    phase(text) {
      if (timer === undefined && current === "" && text !== "") timer = clock.every(tickMs, render);
      current = text;
      render();
    },
    clear() {
      if (shown) options.stream.write(eraseLine);
      shown = false;
    },
    print(text) {
      // Erased, the message printed, the spinner drawn again below it.
      if (shown) options.stream.write(eraseLine);
      options.stream.write(text);
      if (shown) render();
    },
    done() {
      timer?.stop();
      timer = undefined;
      current = "";
      if (shown) options.stream.write(eraseLine);
      shown = false;
    },
  };
}

/** The --verbose flag's help, the same on every verb that reports progress. */
export const verboseHelp = "print each phase of slow work (cluster reads, port-forwards, start-up) on stderr, also when it is not a terminal";

/** Runs `work` with a progress reporter on stderr, erased however `work` ends. */
export async function withProgress<T>(verbose: boolean | undefined, work: (progress: Progress) => Promise<T>): Promise<T> {
  const progress = createProgress({ stream: process.stderr, verbose: verbose === true });
  try {
    return await work(progress);
  } finally {
    progress.done();
  }
}
