import { describe, expect, it } from 'vitest';
import { PhysMem } from '../src/mm/memory.js';

// The word accessors keep the last frame they found; SLUB's free pointers go through them.
describe('PhysMem word accessors', () => {
  it('read zero from frames never written, and bring no bytes into being by reading', () => {
    const m = new PhysMem();
    expect(m.readLong(5 * 4096 + 8, true)).toBe(0);
    expect(m.readU32(5 * 4096)).toBe(0);
    expect(m.framesTouched).toBe(0);
  });

  it('keep 8-byte kernel addresses exact, at both ends of a frame and across frames', () => {
    const m = new PhysMem();
    const a = 0x888000000000 + 0x12345678 * 8;
    const b = 0x888000000000 + 4096 * 3 + 0xff8;
    m.writeLong(7 * 4096, a, true);
    m.writeLong(7 * 4096 + 4088, b, true);
    m.writeLong(8 * 4096, 0xdeadbeef, true); // the next frame, right after the last word of the previous
    expect(m.readLong(7 * 4096, true)).toBe(a);
    expect(m.readLong(7 * 4096 + 4088, true)).toBe(b);
    expect(m.readLong(8 * 4096, true)).toBe(0xdeadbeef);
    expect(m.readLong(7 * 4096 + 4088, true)).toBe(b);
    expect(m.framesTouched).toBe(2);
  });

  it('write only 4 bytes of a narrow (i386) word, even at the end of a 1 MiB chunk of frames', () => {
    const m = new PhysMem();
    const last = 255 * 4096 + 4092; // the last word of the 256th frame: the chunk's last word
    m.writeU32(256 * 4096, 0x11111111);
    m.writeLong(last, 0xc0001234, false);
    expect(m.readLong(last, false)).toBe(0xc0001234);
    expect(m.readU32(256 * 4096)).toBe(0x11111111);
  });

  it('forget a zeroed frame: a later read sees zero, a later write gets fresh bytes', () => {
    const m = new PhysMem();
    m.writeLong(3 * 4096 + 16, 42, true);
    m.zero(3, 1);
    expect(m.framesTouched).toBe(0);
    expect(m.readLong(3 * 4096 + 16, true)).toBe(0);
    m.writeU32(3 * 4096 + 20, 7);
    expect(m.readLong(3 * 4096 + 16, true)).toBe(7 * 0x100000000);
  });
});
