/**
 * Watches a config folder and its subfolders and calls back once per burst of changes: editors
 * save in several steps (truncate, write, rename a temporary file into place), and a reload per
 * step would compile half-written files.
 *
 * One non-recursive watch per folder (inotify on the directory sees writes to its files and
 * files renamed into it) rather than `recursive: true`, whose Linux implementation in Node 20
 * watches files one by one and stops reporting a file once an editor has replaced it.
 */
import { readdirSync, watch } from "node:fs";
import type { FSWatcher } from "node:fs";
import { join } from "node:path";

export interface FolderWatch {
  close(): void;
}

function folders(dir: string): string[] {
  const out = [dir];
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && !entry.name.startsWith(".")) out.push(...folders(join(dir, entry.name)));
    }
  } catch {
    // removed meanwhile: its watcher goes at the next sync
  }
  return out;
}

export function watchFolder(dir: string, onChange: () => void, options: { debounceMs?: number; onError?: (error: Error) => void } = {}): FolderWatch {
  const debounceMs = options.debounceMs ?? 150;
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const changed = (name: string | Buffer | null): void => {
    if (closed) return;
    if (typeof name === "string" && name.startsWith(".")) return; // editors' swap files
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      sync();
      onChange();
    }, debounceMs);
  };

  // Watch exactly the folders that exist now (subfolders come and go).
  const sync = (): void => {
    const wanted = new Set(folders(dir));
    for (const [path, watcher] of watchers) {
      if (!wanted.has(path)) {
        watcher.close();
        watchers.delete(path);
      }
    }
    for (const path of wanted) {
      if (watchers.has(path)) continue;
      try {
        const watcher = watch(path, { persistent: false }, (_event, name) => changed(name));
        watcher.on("error", (error) => {
          watcher.close();
          watchers.delete(path);
          if (path === dir) options.onError?.(error);
        });
        watchers.set(path, watcher);
      } catch (error) {
        if (path === dir) throw error;
      }
    }
  };
  sync();
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}
