import { configuredCap, describeCap, loadConfig } from '../src';

describe('describeCap', () => {
  it('states a one-minute window per minute', () => {
    expect(describeCap(6000, 60_000)).toEqual({ perWindow: 6000, windowMs: 60_000, perMinute: 6000, text: '6000 per minute' });
  });

  it('states a 10 s window in seconds, and derives the rate per minute from it', () => {
    expect(describeCap(20, 10_000)).toEqual({ perWindow: 20, windowMs: 10_000, perMinute: 120, text: '20 per 10 s' });
  });

  it('names windows of whole minutes, an hour, fractions of a second and odd milliseconds in their own unit', () => {
    expect(describeCap(100, 120_000).text).toBe('100 per 2 min');
    expect(describeCap(100, 3_600_000).text).toBe('100 per hour');
    expect(describeCap(1, 1_500).text).toBe('1 per 1.5 s');
    expect(describeCap(3, 1_250).text).toBe('3 per 1250 ms');
  });

  it('rounds the rate per minute to two decimals when the window does not divide a minute', () => {
    expect(describeCap(20, 45_000).perMinute).toBe(26.67);
    expect(describeCap(7, 7_000).perMinute).toBe(60);
  });

  it('counts whole calls: a fractional effective cap is the calls it allows', () => {
    expect(describeCap(12.8, 10_000)).toMatchObject({ perWindow: 12, perMinute: 72, text: '12 per 10 s' });
  });

  it('refuses a window that is not positive and a negative cap', () => {
    expect(() => describeCap(10, 0)).toThrow('positive window');
    expect(() => describeCap(-1, 1000)).toThrow('at least 0');
    expect(() => describeCap(Number.NaN, 1000)).toThrow('at least 0');
  });
});

describe('configuredCap', () => {
  it('is PER_MINUTE_MAX per GOVERNOR_WINDOW_MS for MAILGUN_DOMAIN (PER_MINUTE_MAX is per window, whatever its name)', () => {
    const config = loadConfig({ PER_MINUTE_MAX: '20', GOVERNOR_WINDOW_MS: '10000', GOVERNOR_SLICE_MS: '200', GOVERNOR_MARGIN_MS: '150' });
    expect(configuredCap(config)).toEqual({ perWindow: 20, windowMs: 10_000, perMinute: 120, text: '20 per 10 s' });
  });

  it("is a listed domain's own cap, and the first domain's for a domain not listed", () => {
    const config = loadConfig({ SENDING_DOMAINS: 'mg.a.com=600,news.a.com=60' });
    expect(configuredCap(config, 'NEWS.a.com').text).toBe('60 per minute');
    expect(configuredCap(config, 'other.example.com').text).toBe('600 per minute');
    expect(configuredCap(config).perWindow).toBe(600);
  });
});
