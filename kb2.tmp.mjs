import { Machine, GFP } from '/work/main/dist/src/index.js';
import { MemPool } from '@thi.ng/malloc';
import { measureAll } from '/work/main/dist/bench/harness.js';
const mix = process.argv[2] === 'mix';
const m = Machine.boot({ arch: 'x86_64', mem: '4G' });
function bare(m, size, iters) { const gfp = GFP.KERNEL; for (let i = 0; i < iters; i++) { const p = m.kmalloc(size, gfp); if (p===0) throw 1; m.kfree(p);} return iters; }
function cbare(m, c, iters) { const gfp = GFP.KERNEL; for (let i = 0; i < iters; i++) { const p = m.kmemCacheAlloc(c, gfp); if (p===0) throw 1; m.kmemCacheFree(c, p);} return iters; }
const pool = new MemPool({ size: 1<<24 });
function tb(pool, iters){ for(let i=0;i<iters;i++){ const a=pool.malloc(64); if(a===0) throw 1; pool.free(a);} return iters; }
const tasks = [{id:'km', run: it=>bare(m,64,it)}, {id:'tb', run: it=>tb(pool,it)}];
if (mix) { const m2 = Machine.boot({ arch: 'x86_64', mem: '4G' }); const c = m2.kmemCacheCreate('dentry', 192, {}); tasks.push({id:'cache', run: it=>cbare(m2,c,it)}); tasks.push({id:'km2', run: it=>bare(m2,1000,it)}); }
const r = measureAll(tasks, { budgetMs: 1000 });
for (const [k,v] of r) console.log(k, v.nsPerOp.toFixed(1));
console.log('ratio', (r.get('km').nsPerOp / r.get('tb').nsPerOp).toFixed(2));
