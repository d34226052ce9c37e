/** A binary min-heap of (key, id) pairs over typed arrays: the workloads' expiry queue. */
export class MinHeap {
  private keys: Float64Array;
  private ids: Int32Array;
  size = 0;

  constructor(capacity = 1024) {
    this.keys = new Float64Array(capacity);
    this.ids = new Int32Array(capacity);
  }

  push(key: number, id: number): void {
    if (this.size === this.keys.length) {
      const k = new Float64Array(this.size * 2);
      k.set(this.keys);
      this.keys = k;
      const i = new Int32Array(this.size * 2);
      i.set(this.ids);
      this.ids = i;
    }
    let n = this.size++;
    while (n > 0) {
      const parent = (n - 1) >> 1;
      if (this.keys[parent] <= key) break;
      this.keys[n] = this.keys[parent];
      this.ids[n] = this.ids[parent];
      n = parent;
    }
    this.keys[n] = key;
    this.ids[n] = id;
  }

  peekKey(): number {
    return this.size ? this.keys[0] : Infinity;
  }

  /** Remove the smallest entry and return its id (-1 if empty). */
  pop(): number {
    if (!this.size) return -1;
    const top = this.ids[0];
    const key = this.keys[--this.size];
    const id = this.ids[this.size];
    let n = 0;
    for (;;) {
      let c = 2 * n + 1;
      if (c >= this.size) break;
      if (c + 1 < this.size && this.keys[c + 1] < this.keys[c]) c++;
      if (this.keys[c] >= key) break;
      this.keys[n] = this.keys[c];
      this.ids[n] = this.ids[c];
      n = c;
    }
    this.keys[n] = key;
    this.ids[n] = id;
    return top;
  }
}
