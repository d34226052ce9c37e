/**
 * Reads the zone geometry out of a real /proc/zoneinfo (as printed by mm/vmstat.c zoneinfo_show_print), so
 * that `--zoneinfo FILE` can boot a model of that machine. Only what the boot needs is taken: the zone name,
 * spanned, present and managed pages, and start_pfn; the watermarks are recomputed by the model and can be
 * compared with the file's (see test/zoneinfo.test.ts).
 */
export interface ZoneinfoZone {
  node: number;
  name: string;
  spanned: number;
  present: number;
  managed: number;
  startPfn: number;
  min: number;
  low: number;
  high: number;
  protection: number[];
}

export function parseZoneinfo(text: string, file = 'zoneinfo'): ZoneinfoZone[] {
  const zones: ZoneinfoZone[] = [];
  let cur: ZoneinfoZone | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const head = /^Node (\d+), zone\s+(\S+)\s*$/.exec(line);
    if (head) {
      cur = { node: Number(head[1]), name: head[2], spanned: -1, present: -1, managed: -1, startPfn: 0, min: 0, low: 0, high: 0, protection: [] };
      zones.push(cur);
      continue;
    }
    if (!cur) continue;
    const kv = /^\s+(spanned|present|managed|min|low|high|start_pfn:)\s+(\d+)\s*$/.exec(line);
    if (kv) {
      const v = Number(kv[2]);
      switch (kv[1]) {
        case 'spanned': cur.spanned = v; break;
        case 'present': cur.present = v; break;
        case 'managed': cur.managed = v; break;
        case 'min': cur.min = v; break;
        case 'low': cur.low = v; break;
        case 'high': cur.high = v; break;
        case 'start_pfn:': cur.startPfn = v; break;
      }
      continue;
    }
    const prot = /^\s+protection: \(([\d, ]*)\)\s*$/.exec(line);
    if (prot) cur.protection = prot[1].split(',').map((s) => Number(s.trim()));
  }
  if (zones.length === 0) throw new Error(`${file}: no 'Node N, zone NAME' line found: expected a /proc/zoneinfo file`);
  for (const z of zones) {
    for (const f of ['spanned', 'present', 'managed'] as const) {
      if (z[f] < 0) throw new Error(`${file}: zone ${z.name}: field '${f}' missing: expected '        ${f} N'`);
    }
    if (z.node !== 0) throw new Error(`${file}: zone ${z.name} is on node ${z.node}: the model has one node (node 0)`);
    if (z.present > z.spanned || z.managed > z.present) {
      throw new Error(`${file}: zone ${z.name}: expected managed <= present <= spanned, got ${z.managed}, ${z.present}, ${z.spanned}`);
    }
  }
  return zones;
}
