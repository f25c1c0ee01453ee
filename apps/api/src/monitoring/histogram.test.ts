import { describe, expect, it } from 'vitest';
import {
  addHistogram,
  bucketIndex,
  emptyHistogram,
  LATENCY_BOUNDS_MS,
  quantile,
} from './histogram.js';

describe('latency histogram', () => {
  it('puts a duration in the first bucket whose bound covers it; beyond the last in overflow', () => {
    expect(bucketIndex(0)).toBe(0);
    expect(bucketIndex(5)).toBe(0);
    expect(bucketIndex(6)).toBe(1);
    expect(bucketIndex(500)).toBe(LATENCY_BOUNDS_MS.indexOf(500));
    expect(bucketIndex(60_000)).toBe(LATENCY_BOUNDS_MS.length);
  });

  it('estimates p95 by interpolating inside the bucket, clamped to the observed range', () => {
    const counts = emptyHistogram();
    counts[bucketIndex(100)] = 95;
    counts[bucketIndex(1_200)] = 5;
    expect(quantile(counts, 0.95, { min: 80, max: 1_400 })).toBe(100);
    expect(quantile(counts, 0.99, { min: 80, max: 1_400 })).toBe(1_320);
    expect(quantile(counts, 0.5, { min: 80, max: 1_400 })).toBeGreaterThanOrEqual(80);
  });

  it('returns null for no samples and the max for an overflow-only histogram', () => {
    expect(quantile(emptyHistogram(), 0.95, { min: 0, max: 0 })).toBeNull();
    const overflow = emptyHistogram();
    overflow[LATENCY_BOUNDS_MS.length] = 3;
    expect(quantile(overflow, 0.95, { min: 20_000, max: 30_000 })).toBe(29_500);
  });

  it('adds histograms element-wise, tolerating different lengths', () => {
    expect(addHistogram([1, 2], [1, 1, 5])).toEqual([2, 3, 5]);
  });
});
