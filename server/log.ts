/** A tiny logger. Never pass it a secret: tokens, passwords, codes and keys are not logged (principle 6). */
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string, err?: unknown): void;
}

export const consoleLogger: Logger = {
  info: (m) => console.log(`${new Date().toISOString()} info  ${m}`),
  warn: (m) => console.warn(`${new Date().toISOString()} warn  ${m}`),
  error: (m, e) => console.error(`${new Date().toISOString()} error ${m}`, e instanceof Error ? e.stack : (e ?? '')),
};

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };
