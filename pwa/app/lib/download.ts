/** Save text as a file the user keeps (recovery codes). */
export function recoveryCodesText(userName: string, codes: string[], server: string, now = new Date()): string {
  return [
    'Jellyguard recovery codes',
    `Account: ${userName}`,
    `Server: ${server}`,
    `Created: ${now.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    'Each code works once, in place of your phone or authenticator app.',
    'Keep them somewhere safe, away from this phone.',
    '',
    ...codes,
    '',
  ].join('\n');
}

export function downloadText(filename: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
