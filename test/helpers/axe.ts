import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

/**
 * axe-core (Deque's accessibility engine) run inside a real page: the script is injected from its npm
 * file (no network) through the DevTools protocol, which the pages' Content-Security-Policy does not
 * apply to (a script tag would be refused, as it should be), and the WCAG 2.0/2.1/2.2 A and AA rules run over the page as it is right now, so a
 * test calls it once per state worth checking (a button enabled, then disabled).
 */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeProblem {
  id: string;
  impact: string;
  help: string;
  /** Where: one CSS selector per offending element, with axe's explanation. */
  nodes: string[];
}

/** The serious and critical violations on the page (an empty list is a pass). */
export async function seriousViolations(page: Page): Promise<AxeProblem[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<any> } }).axe;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } });
    return (r.violations as any[]).map((v) => ({
      id: v.id as string,
      impact: (v.impact ?? '') as string,
      help: v.help as string,
      nodes: (v.nodes as any[]).map((n) => `${(n.target as string[]).join(' ')}: ${n.failureSummary ?? ''}`),
    }));
  });
  return results.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
