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
 * A 401 `step_up_required` (an action the gateway guards: Quick Connect Authorize, an admin change) is
 * answered here, since jellyfin-web cannot: a "Confirm it's you" dialog gets a grant for this session and
 * the request is sent again with it; Cancel hands jellyfin-web the original 401 (see "Step-up" below).
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
  var xhrSetHeader = XHR && XHR.prototype.setRequestHeader;

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

  // ── Step-up: "Confirm it's you" before an action the gateway guards ──
  //
  // An action the gateway guards (Quick Connect Authorize, a Jellyfin admin change) answers 401
  // {"error":"step_up_required","action","label","target","methods"} (shared/api/stepup.ts). jellyfin-web
  // cannot answer that, so this script does: a dialog (pwa/login/stepup.js, loaded on first need) gets a
  // grant for this session from {BaseUrl}/JellyfinSecurity/StepUp, the request is repeated exactly with
  // the grant in X-Jellyguard-StepUp, and jellyfin-web gets that answer as if it were the first. Cancel
  // hands over the original 401. Only non-GET/HEAD requests to this origin are watched, and the one GET
  // that can ask (the list of API keys), so normal browsing runs on the browser's own fetch and XHR untouched.

  var STEP_UP_HEADER = 'X-Jellyguard-StepUp';
  var API = GATEWAY + '/JellyfinSecurity/';

  /** The one read the gateway asks a proof for: Jellyfin's list of API keys (each key acts as an administrator). */
  var GUARDED_READ = /\/auth\/keys\/?$/i;

  function needsWatching(method, url) {
    var m = String(method || 'GET').toUpperCase();
    var path = sameOriginPath(url);
    if (path === null || m === 'HEAD') return false;
    return m !== 'GET' || GUARDED_READ.test(path);
  }

  /** Whether an answer came from this origin (the gateway); an empty URL is the request's own, checked before sending. */
  function answeredHere(url) {
    return !url || sameOriginPath(url) !== null;
  }

  /** The step-up 401's body, or null if this is any other answer. */
  function stepUpOf(status, contentType, body) {
    if (status !== 401 || !/json/i.test(contentType || '')) return null;
    var b = body;
    if (typeof b === 'string') {
      try {
        b = JSON.parse(b);
      } catch (e) {
        return null;
      }
    }
    if (!b || b.error !== 'step_up_required' || typeof b.action !== 'string') return null;
    var methods = Object.prototype.toString.call(b.methods) === '[object Array]' ? b.methods : [];
    return {
      action: b.action,
      label: typeof b.label === 'string' && b.label ? b.label : typeof b.message === 'string' ? b.message : 'This change',
      target: typeof b.target === 'string' ? b.target : null,
      methods: methods,
    };
  }

  /**
   * How the step-up calls sign in: as the request being repeated did (the grant is bound to that token),
   * else with jellyfin-web's stored token for this server.
   */
  function authFrom(header) {
    var auth = header('Authorization') || header('X-Emby-Authorization');
    if (auth && /Token="?[^",]/i.test(auth)) return { name: 'Authorization', value: auth };
    var token = header('X-Emby-Token') || header('X-MediaBrowser-Token') || storedToken();
    return token ? { name: 'Authorization', value: 'MediaBrowser Token="' + token + '"' } : null;
  }

  // The dialog itself (pwa/login/stepup.js) is loaded the first time it is needed: most pages never are.
  var waitingForDialog = null;

  function withDialog(then) {
    if (window.__jellyguardStepUpDialog) return then(window.__jellyguardStepUpDialog);
    if (waitingForDialog) return waitingForDialog.push(then);
    waitingForDialog = [then];
    var tag = document.createElement('script');
    tag.src = API + 'stepup.js';
    tag.onload = tag.onerror = function () {
      var waiting = waitingForDialog;
      waitingForDialog = null;
      if (tag.parentNode) tag.parentNode.removeChild(tag);
      for (var i = 0; i < waiting.length; i++) waiting[i](window.__jellyguardStepUpDialog || null);
    };
    (document.head || document.documentElement).appendChild(tag);
  }

  /**
   * Ask for a proof of `needed` (the 401's body) for the session `auth`; `granted(grant)` when one is
   * given, `cancelled()` when the person gives up — or when the dialog cannot be loaded (jellyfin-web then
   * shows its own error). Returns a handle whose dismiss() ends it silently (the request was aborted).
   */
  function askForStepUp(needed, auth, granted, cancelled) {
    var handle = {
      dismissed: false,
      shown: null,
      dismiss: function () {
        handle.dismissed = true;
        if (handle.shown) handle.shown.dismiss();
      },
    };
    withDialog(function (dialog) {
      if (handle.dismissed) return;
      if (!dialog) {
        if (window.console) console.warn('Jellyguard: the step-up dialog could not be loaded from ' + API + 'stepup.js');
        return cancelled();
      }
      handle.shown = dialog.ask(needed, auth, granted, cancelled);
    });
    return handle;
  }

  // ── fetch (the legacy jellyfin-apiclient): repeat with the grant, or hand over the original 401 ──

  /** Whether a fetch body can be sent twice (a stream cannot). */
  function replayableBody(body) {
    return !(body && typeof window.ReadableStream === 'function' && body instanceof window.ReadableStream);
  }

  function guardedFetch(self, input, init, first) {
    // A Request's body can be read once: keep a copy for the repeat before the browser takes it.
    var spare = typeof input === 'string' || !input || typeof input.clone !== 'function' ? null : input.clone();
    var headersOf = function () {
      return new Headers((init && init.headers) || (spare ? spare.headers : undefined));
    };
    return first(input, init).then(function (res) {
      if (res.status !== 401) return res;
      var type = res.headers.get('content-type');
      if (!/json/i.test(type || '')) {
        onUnauthorized(res.url);
        return res;
      }
      return res
        .clone()
        .text()
        .then(
          function (text) {
            return text;
          },
          function () {
            return '';
          }
        )
        .then(function (text) {
          // Only the gateway asks (a redirect elsewhere must not get this session's grant): same origin only.
          var needed = answeredHere(res.url) ? stepUpOf(res.status, type, text) : null;
          if (!needed) {
            onUnauthorized(res.url);
            return res;
          }
          var h = headersOf();
          var auth = authFrom(function (n) {
            return h.get(n);
          });
          return new Promise(function (resolve, reject) {
            var item = askForStepUp(
              needed,
              auth,
              function (grant) {
                var headers = headersOf();
                headers.set(STEP_UP_HEADER, grant);
                var again = {};
                for (var k in init) if (Object.prototype.hasOwnProperty.call(init, k)) again[k] = init[k];
                again.headers = headers;
                var retry = spare ? fetchOriginal.call(self, new Request(spare, again)) : fetchOriginal.call(self, input, again);
                retry.then(resolve, reject);
              },
              function () {
                resolve(res);
              }
            );
            // jellyfin-web gave up on the request (AbortController): so does the dialog.
            var signal = (init && init.signal) || (spare && spare.signal);
            if (signal && signal.addEventListener) {
              signal.addEventListener('abort', function () {
                item.dismiss();
                resolve(res);
              });
            }
          });
        });
    });
  }

  // ── XMLHttpRequest (the @jellyfin/sdk's axios): a stand-in request behind the page's object ──
  //
  // The page's XHR object is opened but never sent; a second, native XHR does the work and every event
  // it fires is re-fired on the page's object, whose readyState, status, response… read from it. When
  // that answer is a step-up 401, its last events are held back while the dialog asks; then either a
  // third XHR repeats the request with the grant (its events and values take over), or the held events
  // are fired (Cancel: the page sees the original 401 and its JSON).

  var XHR_EVENTS = ['readystatechange', 'loadstart', 'progress', 'load', 'error', 'abort', 'timeout', 'loadend'];
  var UPLOAD_EVENTS = ['loadstart', 'progress', 'load', 'error', 'abort', 'timeout', 'loadend'];
  var READ_FROM_CURRENT = ['status', 'statusText', 'response', 'responseText', 'responseURL', 'responseXML'];

  function fire(target, type, from) {
    var ev;
    try {
      ev =
        type === 'readystatechange'
          ? new Event(type)
          : new ProgressEvent(type, { lengthComputable: !!(from && from.lengthComputable), loaded: (from && from.loaded) || 0, total: (from && from.total) || 0 });
    } catch (e) {
      ev = document.createEvent('Event');
      ev.initEvent(type, false, false);
    }
    target.dispatchEvent(ev);
  }

  /** Make the page's object read from `call` (own properties shadow XMLHttpRequest.prototype's). */
  function standIn(face, call) {
    function value(name) {
      var o = call.override;
      if (o && Object.prototype.hasOwnProperty.call(o, name)) return o[name];
      return call.current[name];
    }
    var props = {
      readyState: { get: function () { return value('readyState'); } },
      timeout: {
        get: function () { return call.current.timeout; },
        set: function (v) { call.current.timeout = v; },
      },
      withCredentials: {
        get: function () { return call.current.withCredentials; },
        set: function (v) { call.current.withCredentials = v; },
      },
      getResponseHeader: { value: function (name) { return call.override && call.override.status === 0 ? null : call.current.getResponseHeader(name); } },
      getAllResponseHeaders: { value: function () { return call.override && call.override.status === 0 ? '' : call.current.getAllResponseHeaders(); } },
      abort: { value: function () { abortCall(call); } },
    };
    for (var i = 0; i < READ_FROM_CURRENT.length; i++) {
      (function (name) {
        props[name] = { get: function () { return value(name); } };
      })(READ_FROM_CURRENT[i]);
    }
    var names = [];
    for (var k in props) {
      if (!Object.prototype.hasOwnProperty.call(props, k)) continue;
      props[k].configurable = true;
      Object.defineProperty(face, k, props[k]);
      names.push(k);
    }
    call.undo = function () {
      for (var j = 0; j < names.length; j++) delete face[names[j]];
    };
  }

  function startRequest(call, grant) {
    var x = new XHR();
    x.__jellyguard = true;
    xhrOpen.call(x, call.method, call.url, true, call.user, call.password);
    for (var i = 0; i < call.headers.length; i++) xhrSetHeader.call(x, call.headers[i][0], call.headers[i][1]);
    if (grant) xhrSetHeader.call(x, STEP_UP_HEADER, grant);
    if (call.mime) x.overrideMimeType(call.mime);
    x.responseType = call.responseType;
    x.timeout = call.current ? call.current.timeout : call.timeout;
    x.withCredentials = call.current ? call.current.withCredentials : call.withCredentials;
    for (var e = 0; e < XHR_EVENTS.length; e++) {
      (function (type) {
        x.addEventListener(type, function (ev) {
          relayEvent(call, x, type, ev);
        });
      })(XHR_EVENTS[e]);
    }
    // The page's upload listeners hear the first upload only (a repeat uploads the same bytes again).
    // Listening on the upload of a cross-origin request would force a preflight: only same-origin is here.
    if (!grant && call.face.upload && x.upload) {
      for (var u = 0; u < UPLOAD_EVENTS.length; u++) {
        (function (type) {
          x.upload.addEventListener(type, function (ev) {
            if (call.current === x && !call.finished) fire(call.face.upload, type, ev);
          });
        })(UPLOAD_EVENTS[u]);
      }
    }
    call.current = x;
    xhrSend.call(x, call.body);
  }

  function relayEvent(call, x, type, ev) {
    if (call.current !== x || call.finished) return;
    if (type === 'readystatechange' && x.readyState === 4 && !call.repeated) {
      var needed = null;
      try {
        var rt = x.responseType;
        if (answeredHere(x.responseURL)) needed = stepUpOf(x.status, x.getResponseHeader('Content-Type'), rt === 'json' ? x.response : rt === '' || rt === 'text' ? x.responseText : null);
      } catch (e) {
        needed = null;
      }
      if (needed) return holdForStepUp(call, x, needed);
    }
    if (call.holding) return; // the held answer's load and loadend
    if (call.repeated) {
      // The page saw loadstart and the states up to LOADING already; the repeat takes over once it has headers.
      if (type === 'loadstart' || (type === 'readystatechange' && x.readyState < 3)) return;
      if (x.readyState >= 2) call.override = null;
    }
    if (type === 'loadend') call.finished = true;
    fire(call.face, type, ev);
  }

  function holdForStepUp(call, x, needed) {
    call.holding = true;
    call.override = { readyState: 3 };
    var auth = authFrom(function (n) {
      for (var i = call.headers.length - 1; i >= 0; i--) if (call.headers[i][0].toLowerCase() === n.toLowerCase()) return call.headers[i][1];
      return null;
    });
    call.prompt = askForStepUp(
      needed,
      auth,
      function (grant) {
        call.prompt = null;
        call.holding = false;
        call.repeated = true;
        try {
          startRequest(call, grant);
        } catch (e) {
          // The repeat could not even be sent: the page gets the original answer, as after Cancel.
          call.current = x;
          call.repeated = false;
          handOver();
        }
      },
      handOver
    );

    /** Cancel: the page gets the original answer, 401 and its JSON, as the server sent it. */
    function handOver() {
      call.prompt = null;
      call.holding = false;
      call.override = null;
      call.face.__jellyguardStepUp = true;
      var size = { lengthComputable: true, loaded: 0, total: 0 };
      try {
        size.loaded = size.total = (x.responseText || '').length;
      } catch (e) {
        /* a JSON response type has no responseText */
      }
      fire(call.face, 'readystatechange');
      fire(call.face, 'load', size);
      call.finished = true;
      fire(call.face, 'loadend', size);
    }
  }

  /** The page aborts: the request in flight is aborted (its events pass), or the waiting dialog goes. */
  function abortCall(call) {
    if (call.finished) {
      // After the end, abort() only resets the object (no events), as a native one does.
      if (!call.override) call.current.abort();
      return;
    }
    if (!call.holding) {
      call.current.abort();
      return;
    }
    if (call.prompt) call.prompt.dismiss();
    call.prompt = null;
    call.holding = false;
    call.override = { readyState: 4, status: 0, statusText: '', response: call.responseType === '' || call.responseType === 'text' ? '' : null, responseText: '', responseURL: '' };
    call.finished = true;
    fire(call.face, 'readystatechange');
    fire(call.face, 'abort');
    fire(call.face, 'loadend');
    call.override.readyState = 0;
  }

  function guardedSend(face, body) {
    var call = {
      face: face,
      method: face.__jgMethod,
      url: face.__jellyguardUrl,
      user: face.__jgUser,
      password: face.__jgPassword,
      headers: face.__jgHeaders.slice(),
      mime: face.__jgMime,
      body: body === undefined ? null : body,
      responseType: face.responseType,
      timeout: face.timeout,
      withCredentials: face.withCredentials,
      current: null,
      override: null,
      holding: false,
      repeated: false,
      finished: false,
      prompt: null,
      undo: null,
    };
    standIn(face, call);
    face.__jgCall = call;
    try {
      startRequest(call, null);
    } catch (e) {
      call.undo();
      face.__jgCall = null;
      throw e;
    }
  }

  if (XHR && xhrOpen && xhrSend && xhrSetHeader) {
    XHR.prototype.open = function (method, url, async, user, password) {
      var call = this.__jgCall;
      if (call) {
        // Reopened: the old stand-in request ends without events, as open() ends a native one.
        call.finished = true;
        if (call.prompt) call.prompt.dismiss();
        if (call.current) call.current.abort();
        call.undo();
        this.__jgCall = null;
      }
      this.__jellyguardUrl = url;
      this.__jellyguardStepUp = false;
      // Only an asynchronous request this script watches (needsWatching) can need a grant; remember how to repeat it.
      var watch = !this.__jellyguard && async !== false && needsWatching(method, url);
      this.__jgHeaders = watch ? [] : null;
      this.__jgMethod = method;
      this.__jgUser = user;
      this.__jgPassword = password;
      this.__jgMime = null;
      return xhrOpen.apply(this, arguments);
    };
    XHR.prototype.setRequestHeader = function (name, value) {
      var result = xhrSetHeader.apply(this, arguments);
      if (this.__jgHeaders) this.__jgHeaders.push([String(name), String(value)]);
      return result;
    };
    var xhrMime = XHR.prototype.overrideMimeType;
    if (xhrMime) {
      XHR.prototype.overrideMimeType = function (mime) {
        if (this.__jgHeaders) this.__jgMime = mime;
        return xhrMime.apply(this, arguments);
      };
    }
    XHR.prototype.send = function (body) {
      var x = this;
      if (!x.__jellyguard && x.addEventListener) {
        x.addEventListener('loadend', function () {
          if (x.status === 401 && !x.__jellyguardStepUp) onUnauthorized(x.responseURL || x.__jellyguardUrl);
        });
      }
      // A response read as a Blob, ArrayBuffer or document cannot be looked into synchronously: not guarded.
      var rt = x.responseType;
      if (x.__jgHeaders && x.readyState === 1 && !x.__jgCall && (rt === '' || rt === 'text' || rt === 'json') && canStandIn(x)) {
        return guardedSend(x, body);
      }
      return xhrSend.apply(this, arguments);
    };
  }

  /** Old engines whose XHR properties cannot be shadowed keep the native request (and the original 401). */
  function canStandIn(x) {
    try {
      Object.defineProperty(x, '__jgProbe', { value: 1, configurable: true });
      delete x.__jgProbe;
      return true;
    } catch (e) {
      return false;
    }
  }

  // A fetch polyfill (whatwg-fetch on old TVs) runs on XHR, which is guarded already.
  var fetchOriginal = typeof window.fetch === 'function' ? window.fetch : null;
  if (fetchOriginal) {
    var nativeFetch = !fetchOriginal.polyfill;
    window.fetch = function (input, init) {
      var self = this;
      var method = (init && init.method) || (input && typeof input !== 'string' && input.method) || 'GET';
      var url = typeof input === 'string' ? input : input && (input.url || input.href);
      if (nativeFetch && needsWatching(method, url) && replayableBody(init && init.body) && typeof Headers === 'function') {
        try {
          return guardedFetch(self, input, init, function (i, n) {
            return init === undefined ? fetchOriginal.call(self, i) : fetchOriginal.call(self, i, n);
          });
        } catch (e) {
          /* never break jellyfin-web's requests: send it as it was */
        }
      }
      var answer = fetchOriginal.apply(this, arguments);
      try {
        answer.then(
          function (res) {
            if (res && res.status === 401) onUnauthorized(res.url || url);
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
