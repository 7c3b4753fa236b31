/**
 * The login challenge as both front-ends read it (shared/api/factors.ts). Methods are read as plain
 * strings: a method this version does not know yet is simply not offered, instead of failing the sign-in.
 */
import { z } from 'zod';
import { ChallengeInfoSchema, SecondFactorRequiredSchema } from '../../shared/api/factors.ts';

/** The 401 of a password login that needs a second factor. */
export const ChallengeSchema = SecondFactorRequiredSchema.extend({ methods: z.array(z.string()) });
export type Challenge = z.infer<typeof ChallengeSchema>;

/** `GET Challenge/:challengeId`. */
export const ChallengeStateSchema = ChallengeInfoSchema.extend({ methods: z.array(z.string()) });
export type ChallengeState = z.infer<typeof ChallengeStateSchema>;
