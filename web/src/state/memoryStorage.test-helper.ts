// A Storage in memory for the unit tests (node has no localStorage), with an optional size cap.
export class MemoryStorage implements Storage {
  private items = new Map<string, string>();
  constructor(private readonly capacity = Infinity) {}
  get length(): number { return this.items.size; }
  clear(): void { this.items.clear(); }
  getItem(key: string): string | null { return this.items.get(key) ?? null; }
  key(i: number): string | null { return [...this.items.keys()][i] ?? null; }
  removeItem(key: string): void { this.items.delete(key); }
  setItem(key: string, value: string): void {
    if (value.length > this.capacity) throw new DOMException('full', 'QuotaExceededError');
    this.items.set(key, String(value));
  }
}
