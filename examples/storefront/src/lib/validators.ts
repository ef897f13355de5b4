/** Last (ETag, body) per URL, least recently used evicted first. */
export interface Validator {
  etag: string;
  body: string;
}

export class ValidatorCache {
  private readonly entries = new Map<string, Validator>();

  constructor(private readonly capacity: number) {}

  get(url: string): Validator | undefined {
    const found = this.entries.get(url);
    if (found) {
      // Map keeps insertion order: re-inserting marks the entry as the most recent.
      this.entries.delete(url);
      this.entries.set(url, found);
    }
    return found;
  }

  set(url: string, value: Validator): void {
    this.entries.delete(url);
    this.entries.set(url, value);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }
}
