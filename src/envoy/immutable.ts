/**
 * Deeply frozen Envoy JSON: objects the compiler reuses across compiles (memoised translations,
 * whole virtual hosts) are frozen all the way down and remembered here, so a consumer that would
 * mutate one fails loudly instead of corrupting the next compile, and the xDS store may cache work
 * per object identity (a deeply frozen object's content cannot change). See docs/adr/0019.
 */

const deeplyFrozen = new WeakSet<object>();

/** Freezes `value` and everything reachable from it; returns it. */
export function freezeDeep<T>(value: T): T {
  if (typeof value !== "object" || value === null || deeplyFrozen.has(value)) return value;
  for (const child of Object.values(value)) freezeDeep(child);
  Object.freeze(value);
  deeplyFrozen.add(value);
  return value;
}

/** Whether `value` went through freezeDeep (its content can never change). */
export function isFrozenDeep(value: unknown): boolean {
  return typeof value === "object" && value !== null && deeplyFrozen.has(value);
}
