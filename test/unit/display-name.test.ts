import { describe, expect, it } from 'vitest';
import { DisplayNameSchema } from '../../shared/api/stepup.ts';

/** Names of phones and passkeys are shown in change notices: they must not be able to rewrite one. */
describe('DisplayNameSchema', () => {
  it('takes out new lines, bidi overrides and zero-width marks', () => {
    expect(DisplayNameSchema.parse('My\u202Elaptop\nPhone')).toBe('My laptop Phone');
    expect(DisplayNameSchema.parse('  Pixel\u200B 9\r\n ')).toBe('Pixel 9');
  });

  it('cuts at 64 characters, never inside one', () => {
    expect(DisplayNameSchema.parse('😀'.repeat(70))).toBe('😀'.repeat(64));
    expect(DisplayNameSchema.parse('a'.repeat(200))).toHaveLength(64);
  });

  it('refuses a name with nothing left to show, and huge input', () => {
    expect(DisplayNameSchema.safeParse('\u200B\u2028\t').success).toBe(false);
    expect(DisplayNameSchema.safeParse('a'.repeat(5000)).success).toBe(false);
  });
});
