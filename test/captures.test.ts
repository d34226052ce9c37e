/**
 * Excerpts of three `mmlab capture` runs on this machine's kernel (test/fixtures/captures): every line
 * parses, `mmlab analyze`'s counts equal plain counts of the text, and each excerpt replays under every layer
 * with the same result twice.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { mmlab } from './helpers/cli.js';

const DIR = 'test/fixtures/captures';

describe.each(['ls', 'compile', 'net'])('capture excerpt %s', (name) => {
  const file = `${DIR}/${name}.txt.gz`;
  const text = gunzipSync(readFileSync(file)).toString().split('\n').filter((l) => l !== '');
  const count = (needle: string) => text.filter((l) => l.includes(needle)).length;

  it('parses without a malformed line, and analyze counts what a plain search counts', async () => {
    const r = await mmlab('analyze', file, '--json', '--kernel', readFileSync(`${DIR}/kernel`, 'utf8').trim());
    expect(r.code, r.err).toBe(0);
    const a = JSON.parse(r.out);
    expect(a.parse.malformed).toBe(0);
    expect(a.parse.records).toBe(text.length);
    expect(a.pages.allocs).toBe(count(' mm_page_alloc: '));
    expect(a.pages.frees).toBe(count(' mm_page_free: ') + count(' mm_page_free_batched: '));
    expect(a.slab.allocs).toBe(count(' kmalloc: ') + count(' kmem_cache_alloc: '));
    expect(a.slab.frees).toBe(count(' kfree: ') + count(' kmem_cache_free: '));
  });

  it('replays under every layer, the same twice', async () => {
    for (const layer of ['pages', 'slab', 'all']) {
      const a = await mmlab('replay', file, '--layer', layer, '--json');
      expect(a.code, a.err).toBe(0);
      expect((await mmlab('replay', file, '--layer', layer, '--json')).out).toBe(a.out);
      expect(JSON.parse(a.out).trace.parse.records).toBe(text.length);
    }
  });
});
