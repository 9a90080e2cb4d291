// Give the event loop one turn. Long loops of engine calls need it: Node-API runs the finalizers of garbage tensor
// wrappers in a later event-loop turn (not inside the GC), and a loop that only awaits already-resolved promises
// never lets them run — `clan eval` grew by 0.35 MB per image that way. Signals (Ctrl-C) and worker messages
// arrive as macrotasks too.
export function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
