/*
 * Jellyguard's script in jellyfin-web (served at {BaseUrl}/JellyfinSecurity/inject.js, injected into
 * /web/index.html by server/login/web-index.ts).
 *
 * jellyfin-web's own sign-in form cannot show a second-factor prompt (JELLYFIN.md §6: it shows
 * "Invalid username or password" for any 401). So whenever jellyfin-web is about to show that form —
 * no token stored for this server in localStorage `jellyfin_credentials`, or its hash route is the login
 * or select-server page — this script sends the browser to the gateway's login page instead, with a
 * same-origin path to come back to. That page signs in (with the second factor), writes
 * `jellyfin_credentials` as jellyfin-web would, and comes back. Signed-in users are left alone.
 *
 * A 401 on a request of this page (the gateway refused a revoked or unknown token) is checked once with
 * `GET /Users/Me`; if the stored token really is dead it is cleared as jellyfin-web's own sign-out does
 * and the browser goes to the login page.
 *
 * Plain ES5 on purpose and without dependencies: it runs in every browser jellyfin-web supports, TVs
 * included, and must not depend on the Authenticator's bundle. It never loops: at most a few redirects
 * per minute per tab (sessionStorage), and the login page never sends the browser back on its own.
 */
(function () {
  'use strict';

  // document.currentScript is missing in some old TV browsers: find the tag by its name then.
  var script = document.currentScript || document.querySelector('script[src*="/JellyfinSecurity/inject.js"]');
  var src = script && script.src;
  if (!src || window.__jellyguardInjected) return;
  window.__jellyguardInjected = true;

  var MARKER = '/jellyfinsecurity/inject.js';
  var cut = src.toLowerCase().lastIndexOf(MARKER);
  if (cut === -1) return;
  /** The gateway's origin and BaseUrl, as the server wrote them into the script tag. */
  var GATEWAY = src.slice(0, cut);
  var LOGIN_PAGE = GATEWAY + '/JellyfinSecurity/login/';
  /** jellyfin-web's sign-in and server-selection routes (hash router; old builds used "#!/… .html"). */
  var LOGIN_ROUTE = /^#!?\/(?:login|selectserver)(?:\.html)?(?:[?\/#]|$)/i;
  /** Pages jellyfin-web shows without a token that are not a sign-in: the first-run wizard, password reset. */
  var NO_TOKEN_ROUTE = /^#!?\/(?:wizard|startup|forgotpassword)/i;
  /** Requests whose 401 means something else than "this token is dead". */
  var NOT_A_SESSION_CHECK = /\/(?:users\/authenticatebyname|users\/[^\/]+\/authenticate|users\/authenticatewithquickconnect|quickconnect\/[^\/]*|jellyfinsecurity\/.*)$/i;
  var REDIRECTS_KEY = 'jellyguard.redirects';
  var MAX_REDIRECTS_PER_MINUTE = 4;
  var redirecting = false;
  var lastCheck = 0;

  /** The address jellyfin-web uses for this server: everything before "/web" (its clientUtils does this). */
  function webAddress() {
    var path = location.pathname;
    var i = path.toLowerCase().lastIndexOf('/web');
    return location.protocol + '//' + location.host + (i === -1 ? '' : path.slice(0, i));
  }

  function sameText(a, b) {
    return typeof a === 'string' && a.toLowerCase() === b.toLowerCase();
  }

  function readCredentials() {
    try {
      var c = JSON.parse(localStorage.getItem('jellyfin_credentials') || '{}');
      if (c && typeof c === 'object' && Object.prototype.toString.call(c.Servers) === '[object Array]') return c;
    } catch (e) {
      /* unreadable: as if empty */
    }
    return { Servers: [] };
  }

  /** The saved servers jellyfin-web would use on this page (matched by address, as its ConnectionManager does). */
  function ourServers(credentials) {
    var addr = webAddress();
    var out = [];
    for (var i = 0; i < credentials.Servers.length; i++) {
      var s = credentials.Servers[i];
      if (s && (sameText(s.ManualAddress, addr) || sameText(s.LocalAddress, addr) || sameText(s.RemoteAddress, addr))) out.push(s);
    }
    return out;
  }

  function storedToken() {
    var servers = ourServers(readCredentials());
    for (var i = 0; i < servers.length; i++) {
      var s = servers[i];
      if (typeof s.AccessToken === 'string' && s.AccessToken && s.UserId) return s.AccessToken;
    }
    return null;
  }

  /** Forget the dead token, as jellyfin-web's sign-out does (the server entry stays). */
  function forgetToken() {
    try {
      var c = readCredentials();
      var servers = ourServers(c);
      for (var i = 0; i < servers.length; i++) {
        servers[i].AccessToken = null;
        servers[i].UserId = null;
      }
      localStorage.setItem('jellyfin_credentials', JSON.stringify(c));
    } catch (e) {
      /* storage unavailable: the login page will overwrite it */
    }
  }

  function safeDecode(s) {
    try {
      return decodeURIComponent(s);
    } catch (e) {
      return '';
    }
  }

  /** Where to come back after signing in: this page, or the route jellyfin-web's login wanted to show. */
  function returnPath() {
    var hash = location.hash;
    if (LOGIN_ROUTE.test(hash)) {
      var m = /[?&]url=([^&#]*)/.exec(hash);
      var target = m ? safeDecode(m[1]) : '';
      hash = target.charAt(0) === '/' && target.charAt(1) !== '/' && target.charAt(1) !== '\\' ? '#' + target : '';
    }
    return location.pathname + location.search + hash;
  }

  /** Never loop: a few redirects per minute per tab at most. */
  function redirectAllowed() {
    var now = new Date().getTime();
    var times = [];
    try {
      times = JSON.parse(sessionStorage.getItem(REDIRECTS_KEY) || '[]');
    } catch (e) {
      times = [];
    }
    var recent = [];
    for (var i = 0; i < times.length; i++) if (typeof times[i] === 'number' && now - times[i] < 60000) recent.push(times[i]);
    if (recent.length >= MAX_REDIRECTS_PER_MINUTE) return false;
    recent.push(now);
    try {
      sessionStorage.setItem(REDIRECTS_KEY, JSON.stringify(recent));
    } catch (e) {
      /* no storage: still bounded by the page reloads it takes */
    }
    return true;
  }

  function toLoginPage() {
    if (redirecting) return;
    if (!redirectAllowed()) {
      if (window.console) console.warn('Jellyguard: not redirecting to the login page again (too many redirects in a minute)');
      return;
    }
    redirecting = true;
    location.replace(LOGIN_PAGE + '?return=' + encodeURIComponent(returnPath()));
  }

  function checkRoute() {
    if (LOGIN_ROUTE.test(location.hash)) toLoginPage();
  }

  // ── A 401 from the gateway: is the stored token dead? ──

  var XHR = window.XMLHttpRequest;
  var xhrOpen = XHR && XHR.prototype.open;
  var xhrSend = XHR && XHR.prototype.send;

  function sameOriginPath(url) {
    var a = document.createElement('a');
    a.href = url;
    if (a.protocol !== location.protocol || a.host !== location.host) return null;
    return a.pathname.charAt(0) === '/' ? a.pathname : '/' + a.pathname;
  }

  function onUnauthorized(url) {
    if (redirecting || !url) return;
    var path = sameOriginPath(url);
    if (path === null || NOT_A_SESSION_CHECK.test(path)) return;
    var token = storedToken();
    var now = new Date().getTime();
    if (!token || now - lastCheck < 10000) return;
    lastCheck = now;
    var x = new XHR();
    x.__jellyguard = true;
    xhrOpen.call(x, 'GET', webAddress() + '/Users/Me', true);
    x.setRequestHeader('Authorization', 'MediaBrowser Token="' + token + '"');
    x.onload = function () {
      // 401: neither the gateway nor Jellyfin accepts it. Anything else (403 of a policy, 5xx): keep it.
      if (x.status === 401 && storedToken() === token) {
        forgetToken();
        toLoginPage();
      }
    };
    xhrSend.call(x);
  }

  if (XHR && xhrOpen && xhrSend) {
    XHR.prototype.open = function (method, url) {
      this.__jellyguardUrl = url;
      return xhrOpen.apply(this, arguments);
    };
    XHR.prototype.send = function () {
      var x = this;
      if (!x.__jellyguard && x.addEventListener) {
        x.addEventListener('loadend', function () {
          if (x.status === 401) onUnauthorized(x.responseURL || x.__jellyguardUrl);
        });
      }
      return xhrSend.apply(this, arguments);
    };
  }

  if (typeof window.fetch === 'function') {
    var fetchOriginal = window.fetch;
    window.fetch = function (input) {
      var answer = fetchOriginal.apply(this, arguments);
      try {
        var asked = typeof input === 'string' ? input : input && input.url;
        answer.then(
          function (res) {
            if (res && res.status === 401) onUnauthorized(res.url || asked);
          },
          function () {}
        );
      } catch (e) {
        /* never break jellyfin-web's requests */
      }
      return answer;
    };
  }

  // ── Routes: jellyfin-web navigates with hashchange and with the History API (React Router). ──

  function watchHistory(name) {
    var original = history[name];
    if (typeof original !== 'function') return;
    history[name] = function () {
      var result = original.apply(this, arguments);
      checkRoute();
      return result;
    };
  }
  watchHistory('pushState');
  watchHistory('replaceState');
  window.addEventListener('hashchange', checkRoute);
  window.addEventListener('popstate', checkRoute);

  if (LOGIN_ROUTE.test(location.hash) || (!storedToken() && !NO_TOKEN_ROUTE.test(location.hash))) toLoginPage();
})();
