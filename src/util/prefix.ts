// Weight files keep several networks in one flat namespace ('G.conv1.weight', 'D.conv1.weight', 'optG.0.…').
/** The entries whose key starts with `prefix`, with the prefix removed. */
export function stripPrefix<V>(map: ReadonlyMap<string, V>, prefix: string): Map<string, V> {
  return new Map([...map].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
}
