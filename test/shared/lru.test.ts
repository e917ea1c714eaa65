// The byte-bounded LRU that keeps trained heads per isolate.
import { describe, expect, it } from 'vitest';
import { SizedLru } from '../../src/shared/lru.js';

describe('SizedLru', () => {
  it('evicts the least recently used entries once the sizes exceed the limit', () => {
    const lru = new SizedLru<string>(100);
    lru.set('a', 'A', 40);
    lru.set('b', 'B', 40);
    expect(lru.get('a')).toBe('A'); // a is now the most recent
    lru.set('c', 'C', 40);
    expect(lru.keys()).toEqual(['a', 'c']);
    expect(lru.get('b')).toBeUndefined();
    expect(lru.size).toBe(80);
  });

  it('accounts for sizes set after insertion and keeps an entry larger than the limit alone', () => {
    const lru = new SizedLru<number>(100);
    lru.set('a', 1);
    lru.set('b', 2);
    lru.resize('a', 30);
    lru.resize('b', 30);
    expect(lru.size).toBe(60);
    lru.set('big', 3, 150);
    expect(lru.keys()).toEqual(['big']);
    expect(lru.size).toBe(150);
    lru.resize('gone', 10); // evicted keys are ignored
    expect(lru.delete('big')).toBe(true);
    expect(lru.size).toBe(0);
  });

  it('replaces an existing key without double counting', () => {
    const lru = new SizedLru<string>(100);
    lru.set('a', 'x', 60);
    lru.set('a', 'y', 70);
    expect(lru.size).toBe(70);
    expect(lru.get('a')).toBe('y');
  });

  it('tells onEvict what the limit pushed out (not what was deleted), and peeks without reordering', () => {
    const evicted: string[] = [];
    const lru = new SizedLru<string>(100, (key, value) => evicted.push(`${key}=${value}`));
    lru.set('a', 'x', 40);
    lru.set('b', 'y', 40);
    expect(lru.peek('a')).toBe('x');
    lru.set('c', 'z', 40); // 'a' is still the least recently used: peek did not touch it
    expect(evicted).toEqual(['a=x']);
    lru.delete('b');
    expect(evicted).toEqual(['a=x']);
    lru.set('d', 'w', 50);
    lru.setLimit(60);
    expect(evicted).toEqual(['a=x', 'c=z']);
    expect(lru.keys()).toEqual(['d']);
    expect(lru.limit).toBe(60);
  });
});
