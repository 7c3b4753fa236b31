/**
 * A browser as far as HTTP goes, for driving single sign-on with fetch: a cookie jar (by name; Max-Age=0
 * deletes), manual redirects, and the IdP's login form submitted the way a person would.
 */
export class CookieBrowser {
  readonly jar = new Map<string, string>();

  private cookieHeader(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async fetch(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.jar.size) headers.cookie = this.cookieHeader();
    const res = await fetch(url, { method: init.method ?? 'GET', headers, body: init.body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [kv, ...attrs] = c.split(';');
      const i = kv!.indexOf('=');
      const name = kv!.slice(0, i).trim();
      const value = kv!.slice(i + 1).trim();
      const gone = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (gone || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return res;
  }

  /**
   * From the gateway's Authorize URL to the moment the IdP sends the browser back: returns the callback
   * URL (not yet opened). `tamperAuthorization` may change the request to the IdP (an attacker in the
   * front channel); `cancel` presses the IdP's Cancel button instead of signing in.
   */
  async throughIdp(
    authorizeUrl: string,
    who: { login: string; password: string } | 'cancel',
    opts: { callbackPrefix: string; tamperAuthorization?: (u: URL) => void },
  ): Promise<string> {
    let res = await this.fetch(authorizeUrl);
    if (res.status !== 302) throw new Error(`Authorize answered ${res.status}: ${await res.text()}`);
    const toIdp = new URL(res.headers.get('location')!);
    opts.tamperAuthorization?.(toIdp);
    let url = toIdp.href;
    for (let hops = 0; hops < 20; hops++) {
      if (url.startsWith(opts.callbackPrefix)) return url;
      res = await this.fetch(url);
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.get('location')!, url).href;
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) throw new Error(`the IdP answered ${res.status}: ${html.slice(0, 300)}`);
      const form = who === 'cancel' ? /action="([^"]+\/abort)"/.exec(html) : /action="([^"]+\/login)"/.exec(html);
      if (!form) throw new Error(`no form on the IdP's page: ${html.slice(0, 300)}`);
      res = await this.fetch(new URL(form[1]!, url).href, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: who === 'cancel' ? '' : new URLSearchParams({ login: who.login, password: who.password }).toString(),
      });
      if (res.status < 300 || res.status >= 400) throw new Error(`the IdP's form answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
      url = new URL(res.headers.get('location')!, url).href;
    }
    throw new Error('too many redirects');
  }
}
