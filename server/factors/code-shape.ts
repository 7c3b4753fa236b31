import { apiError } from '../errors.ts';
import { isEmailCodeShape } from './email.ts';
import { isRecoveryCodeShape } from './recovery.ts';
import { isTotpCodeShape } from './totp.ts';

/**
 * A code that cannot be one (too short, letters in a numeric code) is a slip of the finger, not a guess:
 * it is refused with what to type, and counts nowhere (not the challenge, the user, nor the address).
 */
const CODE_SHAPES: Record<'totp' | 'recovery' | 'email', { fits: (code: string) => boolean; message: string }> = {
  totp: { fits: isTotpCodeShape, message: 'Enter all 6 digits of the code your authenticator app shows.' },
  email: { fits: isEmailCodeShape, message: 'Enter all 6 digits of the code from the e-mail.' },
  recovery: { fits: isRecoveryCodeShape, message: 'A recovery code has 10 letters and digits. Check it and enter it again.' },
};

/** Refuse (400 incomplete_code) a code that does not have the form of a `method` code; nothing is counted. */
export function assertCodeShape(method: 'totp' | 'recovery' | 'email', code: string): void {
  const shape = CODE_SHAPES[method];
  if (!shape.fits(code)) throw apiError('incomplete_code', shape.message);
}
