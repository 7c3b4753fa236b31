/** The current page, from the URL's fragment (see routes.ts); pages change it with `navigate`. */
import { hrefOf, parseHash, type Route } from './routes.ts';
import { toasts } from './toast.svelte.ts';

class Router {
  route = $state<Route>(parseHash(location.hash));

  constructor() {
    addEventListener('hashchange', () => {
      this.route = parseHash(location.hash);
      toasts.clear();
      scrollTo(0, 0);
    });
  }

  navigate(r: Route, opts: { replace?: boolean } = {}): void {
    const href = hrefOf(r);
    if (opts.replace) history.replaceState(history.state, '', href);
    else if (location.hash !== href) history.pushState(history.state, '', href);
    this.route = r;
    toasts.clear();
    scrollTo(0, 0);
  }
}

export const router = new Router();
