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
  // cannot answer that, so this script does: it shows a dialog, gets a single-use grant for this session
  // from {BaseUrl}/JellyfinSecurity/StepUp, repeats the request exactly with the grant in
  // X-Jellyguard-StepUp, and hands jellyfin-web that answer as if it were the first. Cancel hands over
  // the original 401. Only non-GET/HEAD requests to this origin are watched (a GET never needs a grant),
  // so normal browsing runs on the browser's own fetch and XHR untouched.

  var STEP_UP_HEADER = 'X-Jellyguard-StepUp';
  var API = GATEWAY + '/JellyfinSecurity/';
  var PHONE_POLL_MS = 2000;

  function needsWatching(method, url) {
    var m = String(method || 'GET').toUpperCase();
    return m !== 'GET' && m !== 'HEAD' && sameOriginPath(url) !== null;
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

  /** A JSON call to the step-up API on the browser's own XHR; done(status, json) (status 0: unreachable). */
  function apiCall(method, path, auth, body, done) {
    var x = new XHR();
    x.__jellyguard = true;
    xhrOpen.call(x, method, API + path, true);
    if (auth) xhrSetHeader.call(x, auth.name, auth.value);
    if (body !== undefined) xhrSetHeader.call(x, 'Content-Type', 'application/json');
    x.onreadystatechange = function () {
      if (x.readyState !== 4) return;
      var json = null;
      try {
        json = JSON.parse(x.responseText);
      } catch (e) {
        json = null;
      }
      done(x.status, json || {});
    };
    xhrSend.call(x, body === undefined ? null : JSON.stringify(body));
  }

  // base64url ⇄ bytes for WebAuthn (the gateway speaks the JSON forms @simplewebauthn uses).
  function fromB64url(s) {
    var b64 = String(s).replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buf) {
    if (!buf) return undefined;
    var bytes = new Uint8Array(buf);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function passkeysAvailable() {
    return !!(window.PublicKeyCredential && navigator.credentials && navigator.credentials.get);
  }

  /** Sign the gateway's challenge with a passkey; done(error message or null, assertion JSON). */
  function signWithPasskey(options, done) {
    var publicKey = {
      challenge: fromB64url(options.challenge),
      timeout: options.timeout,
      rpId: options.rpId,
      userVerification: options.userVerification,
      allowCredentials: [],
    };
    var allow = options.allowCredentials || [];
    for (var i = 0; i < allow.length; i++) {
      publicKey.allowCredentials.push({ type: 'public-key', id: fromB64url(allow[i].id), transports: allow[i].transports });
    }
    navigator.credentials.get({ publicKey: publicKey }).then(
      function (cred) {
        if (!cred) return done('The passkey did not answer. Try again.');
        var r = cred.response;
        done(null, {
          id: cred.id,
          rawId: toB64url(cred.rawId),
          type: cred.type,
          response: {
            clientDataJSON: toB64url(r.clientDataJSON),
            authenticatorData: toB64url(r.authenticatorData),
            signature: toB64url(r.signature),
            userHandle: toB64url(r.userHandle),
          },
          clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
          authenticatorAttachment: cred.authenticatorAttachment || undefined,
        });
      },
      function (err) {
        var name = err && err.name;
        done(
          name === 'NotAllowedError' || name === 'AbortError'
            ? 'The passkey request was cancelled or timed out. Try again.'
            : name === 'SecurityError' || name === 'NotSupportedError'
              ? 'This browser cannot use a passkey here.'
              : 'The passkey did not work. Try again.'
        );
      }
    );
  }

  /** What went wrong, in words (the gateway's own message where it has one). */
  function problemOf(status, json, method) {
    var code = json && json.error;
    if (status === 0) return 'Jellyguard could not be reached. Check the connection and try again.';
    if (code === 'invalid_code') {
      return method === 'password' ? 'That password is not right. Try again.' : method === 'passkey' ? 'That passkey was not accepted. Try again.' : 'That code is not right. Check it and try again.';
    }
    if (code === 'step_up_denied') return 'It was denied on your phone.';
    if (code === 'step_up_expired') return 'That took too long and has expired. Try again.';
    if (json && typeof json.message === 'string' && json.message) return json.message;
    return 'That did not work (error ' + status + '). Try again.';
  }

  // ── The dialog (looks like Jellyfin's own: dark card, accent #00a4dc, its font) ──

  var CSS = [
    '.jg-su-back{position:fixed;inset:0;top:0;left:0;right:0;bottom:0;z-index:2147483000;background:rgba(0,0,0,.7);display:flex;align-items:center;justify-content:center;padding:1em;box-sizing:border-box;overflow-y:auto}',
    '.jg-su{font-family:"Noto Sans","Noto Sans Display",system-ui,-apple-system,"Segoe UI",Roboto,Ubuntu,Cantarell,"Helvetica Neue",Arial,sans-serif;font-size:16px;line-height:1.45;color:rgba(255,255,255,.9);background:#202020;border-radius:.3em;box-shadow:0 0 20px rgba(0,0,0,.6);width:100%;max-width:26em;padding:1.5em;box-sizing:border-box;margin:auto;text-align:left}',
    '.jg-su *{box-sizing:border-box;font-family:inherit}',
    '.jg-su h2{font-size:1.5em;font-weight:400;margin:0 0 .5em;color:#fff}',
    '.jg-su p{margin:0 0 1em}',
    '.jg-su .jg-su-what{font-weight:600;color:#fff;font-size:1.1em}',
    '.jg-su .jg-su-muted{color:rgba(255,255,255,.7);font-size:.9em}',
    '.jg-su .jg-su-problem{border-radius:.2em;background:#160b0b;color:#f4c7c3;padding:.7em .5em;margin:0 0 1em}',
    '.jg-su .jg-su-problem:empty{display:none}',
    '.jg-su button{display:block;width:100%;min-height:3em;margin:0 0 .75em;padding:.5em 1em;border:0;border-radius:.2em;font-size:1em;font-weight:600;cursor:pointer;background:#303030;color:#fff}',
    '.jg-su button:hover{background:#3a3a3a}',
    '.jg-su button.jg-su-primary{background:#00a4dc;color:#101010}',
    '.jg-su button.jg-su-primary:hover{background:#0cb0e8}',
    '.jg-su button.jg-su-quiet{background:none;color:rgba(255,255,255,.75);font-weight:500;margin:0}',
    '.jg-su button.jg-su-quiet:hover{background:rgba(255,255,255,.06);color:#fff}',
    '.jg-su button:focus-visible,.jg-su input:focus-visible{outline:3px solid #00a4dc;outline-offset:2px}',
    '.jg-su button:disabled{opacity:.55;cursor:default}',
    '.jg-su form{margin:0 0 .25em}',
    '.jg-su label{display:block;margin:0 0 .35em;color:rgba(255,255,255,.8);font-size:.9em}',
    '.jg-su input{display:block;width:100%;min-height:3em;margin:0 0 .5em;padding:.4em .6em;border:.07em solid #3a3a3a;border-radius:.2em;background:#292929;color:#fff;font-size:1.1em}',
    '.jg-su input:focus{border-color:#00a4dc}',
    '.jg-su .jg-su-or{display:flex;align-items:center;gap:.75em;margin:.25em 0 .75em;color:rgba(255,255,255,.6);font-size:.85em}',
    '.jg-su .jg-su-or:before,.jg-su .jg-su-or:after{content:"";flex:1;border-top:1px solid #3a3a3a}',
    '.jg-su .jg-su-wait{display:flex;align-items:center;gap:.9em;margin:0 0 1em}',
    '.jg-su .jg-su-spin{flex:none;width:1.8em;height:1.8em;border-radius:50%;border:.22em solid rgba(0,164,220,.25);border-top-color:#00a4dc;animation:jg-su-spin 1s linear infinite}',
    '@keyframes jg-su-spin{to{transform:rotate(360deg)}}',
    '@media (prefers-reduced-motion:reduce){.jg-su .jg-su-spin{animation-duration:3s}}',
  ].join('\n');

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text) e.appendChild(document.createTextNode(text));
    return e;
  }

  function has(list, m) {
    for (var i = 0; i < list.length; i++) if (list[i] === m) return true;
    return false;
  }

  /** One dialog at a time: two guarded requests at once are asked for one after the other. */
  var queue = [];
  var showing = null;

  /**
   * Ask for a proof of `needed` (the 401's body) for the session `auth`; `granted(grant)` when one is
   * given, `cancelled()` when the person gives up. Returns a handle whose dismiss() ends it silently
   * (the request was aborted).
   */
  function askForStepUp(needed, auth, granted, cancelled) {
    var item = { needed: needed, auth: auth, granted: granted, cancelled: cancelled, over: false };
    item.dismiss = function () {
      if (item.over) return;
      item.over = true;
      if (showing === item) closeDialog();
      else for (var i = 0; i < queue.length; i++) if (queue[i] === item) queue.splice(i, 1);
    };
    queue.push(item);
    if (!showing) showNext();
    return item;
  }

  function showNext() {
    var item = queue.shift();
    if (item) openDialog(item);
  }

  var dialogState = null;

  function closeDialog() {
    var d = dialogState;
    if (!d) return;
    dialogState = null;
    showing = null;
    d.stopPolling();
    document.removeEventListener('keydown', d.onKey, true);
    if (d.back.parentNode) d.back.parentNode.removeChild(d.back);
    if (d.returnFocus && d.returnFocus.focus) {
      try {
        d.returnFocus.focus();
      } catch (e) {
        /* the element left the page */
      }
    }
    // The next request waiting for a proof, once this one has handed over its answer.
    setTimeout(showNext, 0);
  }

  function openDialog(item) {
    showing = item;
    var needed = item.needed;
    var methods = needed.methods;
    if (!document.getElementById('jellyguard-stepup-style')) {
      var style = el('style', { id: 'jellyguard-stepup-style' });
      style.appendChild(document.createTextNode(CSS));
      (document.head || document.documentElement).appendChild(style);
    }
    var back = el('div', { class: 'jg-su-back' });
    var box = el('div', { class: 'jg-su', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'jg-su-title', 'aria-describedby': 'jg-su-what', 'data-jellyguard': 'step-up' });
    back.appendChild(box);
    box.appendChild(el('h2', { id: 'jg-su-title' }, "Confirm it's you"));
    box.appendChild(el('p', { id: 'jg-su-what', class: 'jg-su-what' }, needed.label));
    box.appendChild(el('p', { class: 'jg-su-muted' }, 'Jellyguard protects this server: an action like this one needs a fresh check that it is really you.'));
    var problem = el('p', { class: 'jg-su-problem', role: 'alert' });
    box.appendChild(problem);
    var choices = el('div', {});
    box.appendChild(choices);
    var wait = el('div', { class: 'jg-su-wait', role: 'status' });
    wait.style.display = 'none';
    wait.appendChild(el('div', { class: 'jg-su-spin', 'aria-hidden': 'true' }));
    var waitText = el('p', {}, 'Waiting for your phone… Open the notification from Jellyguard on your phone and approve it there.');
    waitText.style.margin = '0';
    wait.appendChild(waitText);
    box.appendChild(wait);

    var busy = false;
    var poll = null;
    var d = {
      back: back,
      returnFocus: document.activeElement,
      stopPolling: function () {
        if (poll) clearTimeout(poll);
        poll = null;
      },
      onKey: function (e) {
        var key = e.key;
        var code = e.keyCode;
        // jellyfin-web's own keyboard navigation (TV remotes, shortcuts) must not act behind the dialog.
        e.stopPropagation();
        if (key === 'Escape' || key === 'Esc' || code === 27 || code === 461 || code === 10009) {
          // Escape, and a TV remote's Back (webOS 461, Tizen 10009).
          e.preventDefault();
          cancel();
        } else if (key === 'Tab' || code === 9) {
          trapFocus(e);
        } else if (key === 'ArrowDown' || key === 'Down' || code === 40 || key === 'ArrowUp' || key === 'Up' || code === 38) {
          // A TV remote has no Tab: up and down move between the dialog's buttons and fields.
          e.preventDefault();
          moveFocus(key === 'ArrowUp' || key === 'Up' || code === 38 ? -1 : 1);
        }
      },
    };
    dialogState = d;

    function focusables() {
      var all = box.querySelectorAll('button,input');
      var out = [];
      for (var i = 0; i < all.length; i++) if (!all[i].disabled && all[i].offsetParent !== null) out.push(all[i]);
      return out;
    }

    function moveFocus(step) {
      var f = focusables();
      if (!f.length) return;
      var at = -1;
      for (var i = 0; i < f.length; i++) if (f[i] === document.activeElement) at = i;
      f[(at + step + f.length) % f.length].focus();
    }

    function trapFocus(e) {
      var f = focusables();
      if (!f.length) return;
      var first = f[0];
      var last = f[f.length - 1];
      if (e.shiftKey && (document.activeElement === first || !box.contains(document.activeElement))) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && (document.activeElement === last || !box.contains(document.activeElement))) {
        e.preventDefault();
        first.focus();
      }
    }

    function setBusy(on) {
      busy = on;
      var f = box.querySelectorAll('button,input');
      for (var i = 0; i < f.length; i++) if (f[i] !== cancelButton) f[i].disabled = on;
    }

    function showProblem(text) {
      problem.textContent = text || '';
    }

    function finish(grant) {
      if (item.over) return;
      item.over = true;
      closeDialog();
      item.granted(grant);
    }

    function cancel() {
      if (item.over) return;
      item.over = true;
      closeDialog();
      item.cancelled();
    }

    /** A proof that answers at once: POST StepUp, then the grant or the reason in words. */
    function send(body, method, afterProblem) {
      body.action = needed.action;
      body.target = needed.target;
      setBusy(true);
      showProblem('');
      apiCall('POST', 'StepUp', item.auth, body, function (status, json) {
        if (item.over) return;
        setBusy(false);
        if (status === 200 && json.status === 'granted' && json.grant) return finish(json.grant);
        showProblem(problemOf(status, json, method));
        if (afterProblem) afterProblem();
      });
    }

    function askPhone() {
      setBusy(true);
      showProblem('');
      apiCall('POST', 'StepUp', item.auth, { method: 'phone', action: needed.action, target: needed.target }, function (status, json) {
        if (item.over) return;
        if (status !== 200 || !json.stepUpId || !json.grant) {
          setBusy(false);
          return showProblem(problemOf(status, json, 'phone'));
        }
        choices.style.display = 'none';
        wait.style.display = '';
        cancelButton.focus();
        var grant = json.grant;
        var until = Date.parse(json.expiresAt) || new Date().getTime() + 120000;
        function stopWaiting(text) {
          wait.style.display = 'none';
          choices.style.display = '';
          setBusy(false);
          showProblem(text);
          var f = focusables();
          if (f.length) f[0].focus();
        }
        function check() {
          poll = null;
          apiCall('GET', 'StepUp/' + encodeURIComponent(json.stepUpId), item.auth, undefined, function (s, st) {
            if (item.over) return;
            if (s === 200 && st.status === 'granted') return finish(grant);
            if (s === 200 && st.status === 'denied') return stopWaiting('It was denied on your phone. Try again, or use another way.');
            if ((s === 200 && st.status !== 'pending') || new Date().getTime() > until) {
              return stopWaiting('Your phone did not answer in time. Try again, or use another way.');
            }
            if (s !== 200 && s !== 0) return stopWaiting(problemOf(s, st, 'phone'));
            poll = setTimeout(check, PHONE_POLL_MS);
          });
        }
        poll = setTimeout(check, PHONE_POLL_MS);
      });
    }

    function askPasskey() {
      setBusy(true);
      showProblem('');
      apiCall('POST', 'StepUp/Passkey/Options', item.auth, { action: needed.action, target: needed.target }, function (status, options) {
        if (item.over) return;
        if (status !== 200 || !options.challenge) {
          setBusy(false);
          return showProblem(problemOf(status, options, 'passkey'));
        }
        signWithPasskey(options, function (err, response) {
          if (item.over) return;
          if (err) {
            setBusy(false);
            return showProblem(err);
          }
          send({ method: 'passkey', response: response }, 'passkey');
        });
      });
    }

    var first = true;
    /** The first way offered is the highlighted one. */
    var primaryTaken = false;
    function primaryClass() {
      if (primaryTaken) return '';
      primaryTaken = true;
      return 'jg-su-primary';
    }
    function button(text, onClick) {
      var b = el('button', { type: 'button', class: primaryClass() }, text);
      b.addEventListener('click', function () {
        if (!busy) onClick();
      });
      choices.appendChild(b);
      return b;
    }

    function orLine() {
      if (first) {
        first = false;
        return;
      }
      choices.appendChild(el('div', { class: 'jg-su-or', 'aria-hidden': 'true' }, 'or'));
    }

    if (has(methods, 'phone')) {
      orLine();
      button('Approve on my phone', askPhone);
    }
    if (has(methods, 'passkey') && passkeysAvailable()) {
      orLine();
      button('Use a passkey', askPasskey);
    }
    var totp = has(methods, 'totp');
    var recovery = has(methods, 'recovery');
    if (totp || recovery) {
      orLine();
      var codeForm = el('form', { novalidate: 'novalidate' });
      var codeLabel = totp ? (recovery ? 'Code from your authenticator app, or a recovery code' : 'Code from your authenticator app') : 'One of your recovery codes';
      codeForm.appendChild(el('label', { for: 'jg-su-code' }, codeLabel));
      var codeInput = el('input', { id: 'jg-su-code', type: 'text', autocomplete: 'one-time-code', autocapitalize: 'off', spellcheck: 'false', maxlength: '64' });
      if (totp && !recovery) codeInput.setAttribute('inputmode', 'numeric');
      codeForm.appendChild(codeInput);
      codeForm.appendChild(el('button', { type: 'submit', class: primaryClass() }, 'Confirm with code'));
      codeForm.addEventListener('submit', function (e) {
        e.preventDefault();
        if (busy) return;
        var code = codeInput.value.replace(/[\s-]+/g, '');
        if (!code) return showProblem('Enter the code first.');
        // Six digits are a code from the app; anything longer is a recovery code (10 letters and digits).
        var short = /^\d{1,6}$/.test(code);
        var method = totp && (short || !recovery) ? 'totp' : 'recovery';
        if (method === 'totp' && !/^\d{6}$/.test(code)) return showProblem('The code from your authenticator app has 6 digits.');
        send({ method: method, code: method === 'recovery' ? codeInput.value.trim() : code }, method, function () {
          codeInput.value = '';
          codeInput.focus();
        });
      });
      choices.appendChild(codeForm);
    }
    if (has(methods, 'password')) {
      orLine();
      var pwForm = el('form', { novalidate: 'novalidate' });
      pwForm.appendChild(el('label', { for: 'jg-su-password' }, 'Your Jellyfin password'));
      var pwInput = el('input', { id: 'jg-su-password', type: 'password', autocomplete: 'current-password' });
      pwForm.appendChild(pwInput);
      pwForm.appendChild(el('button', { type: 'submit', class: primaryClass() }, 'Confirm with my password'));
      pwForm.addEventListener('submit', function (e) {
        e.preventDefault();
        if (busy) return;
        if (!pwInput.value) return showProblem('Enter your password first.');
        send({ method: 'password', password: pwInput.value }, 'password', function () {
          pwInput.value = '';
          pwInput.focus();
        });
      });
      choices.appendChild(pwForm);
    }
    if (!choices.firstChild) {
      choices.appendChild(
        el(
          'p',
          {},
          has(methods, 'passkey')
            ? 'This browser cannot use a passkey. Open this page in a browser that can, or use the Jellyguard Authenticator.'
            : 'This account has nothing to confirm it with yet. Set up a second factor in the Jellyguard Authenticator, or ask your administrator.'
        )
      );
    }
    var cancelButton = el('button', { type: 'button', class: 'jg-su-quiet' }, 'Cancel');
    cancelButton.addEventListener('click', cancel);
    box.appendChild(cancelButton);

    back.addEventListener('click', function (e) {
      // Keep clicks on the dialog from reaching jellyfin-web; a click beside it does nothing (no lost input).
      e.stopPropagation();
    });
    document.addEventListener('keydown', d.onKey, true);
    document.body.appendChild(back);
    var f = focusables();
    if (f.length) f[0].focus();
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
          var needed = stepUpOf(res.status, type, text);
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
        needed = stepUpOf(x.status, x.getResponseHeader('Content-Type'), rt === 'json' ? x.response : rt === '' || rt === 'text' ? x.responseText : null);
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
      // Only an asynchronous non-GET request to this origin can need a grant; for it, remember how to repeat it.
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
