/*
 * Jellyguard's "Confirm it's you" dialog in jellyfin-web (served at {BaseUrl}/JellyfinSecurity/stepup.js).
 * inject.js loads it the first time one of jellyfin-web's requests is answered 401 step_up_required, so
 * most pages never download it, and calls
 *
 *   window.__jellyguardStepUpDialog.ask(needed, auth, granted, cancelled) → { dismiss() }
 *
 * needed: the 401's {action, label, target, methods}; auth: the header the step-up calls sign in with
 * (the session of the request being repeated); granted(grant) once a proof became a grant for this
 * session; cancelled() when the person gives up. The dialog looks like Jellyfin's own (dark card, accent
 * #00a4dc with dark text on it, Jellyfin's font), and talks to {BaseUrl}/JellyfinSecurity/StepUp
 * (shared/api/stepup.ts): the phone (then GET StepUp/{id} until it is granted), a code from the
 * authenticator app (6 digits) or a recovery code (longer), a passkey, or — only for an account with no
 * second factor — the password again. Errors are said in words, to try again.
 *
 * Plain ES5 without dependencies, like inject.js: it runs in every browser jellyfin-web supports.
 */
(function () {
  'use strict';

  if (window.__jellyguardStepUpDialog) return;
  // Where this file was loaded from is where the step-up API is: {origin}{BaseUrl}/JellyfinSecurity/.
  var script = document.currentScript || document.querySelector('script[src*="/JellyfinSecurity/stepup.js"]');
  var src = (script && script.src) || '';
  var API = src.slice(0, src.toLowerCase().lastIndexOf('stepup.js'));
  var PHONE_POLL_MS = 2000;

  /** A JSON call to the step-up API on the browser's own XHR; done(status, json) (status 0: unreachable). */
  function apiCall(method, path, auth, body, done) {
    var x = new XMLHttpRequest();
    x.__jellyguard = true; // inject.js leaves requests with this mark alone
    x.open(method, API + path, true);
    if (auth) x.setRequestHeader(auth.name, auth.value);
    if (body !== undefined) x.setRequestHeader('Content-Type', 'application/json');
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
    x.send(body === undefined ? null : JSON.stringify(body));
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
    var waitText = el('p', {}, 'Waiting for your phone… Approve the request in the Jellyguard Authenticator: from its notification, or under Requests.');
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

  window.__jellyguardStepUpDialog = { ask: askForStepUp };
})();
