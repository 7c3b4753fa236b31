/*
 * The big-screen pairing page ({BaseUrl}/JellyfinSecurity/pair): sign this browser (a TV, a console, any
 * screen without a keyboard) in to Jellyfin with Quick Connect, approved from a phone.
 *
 *  1. Quick Connect is initiated through the gateway AS jellyfin-web (Client "Jellyfin Web", its DeviceId
 *     from localStorage `_deviceId2`), so the session that comes out is the one jellyfin-web continues.
 *  2. The code is shown in huge type with a QR code of the phone's approval page for it.
 *  3. Connect is polled; once the phone approved, the secret is exchanged for the session, which is saved
 *     where jellyfin-web looks (jellyfin_credentials, user-{UserId}-{ServerId}, enableAutoLogin), and the
 *     browser goes to {BaseUrl}/web/.
 * The session helpers mirror pwa/login/session.ts (the web login page's), kept dependency-free here.
 * Plain ES2017: TV browsers are old.
 */
(function () {
  'use strict';
  var body = document.body;
  var base = body.getAttribute('data-base-url') || '';
  var codeEl = document.getElementById('code');
  var statusEl = document.getElementById('status');
  var qrEl = document.getElementById('qr');
  var POLL_MS = 3000;
  /** Jellyfin forgets a Quick Connect request 10 minutes after it began: start a new one a little before. */
  var RENEW_MS = 9 * 60 * 1000;

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.className = 'status' + (kind ? ' ' + kind : '');
  }

  function generateDeviceId() {
    var text = navigator.userAgent + '|' + Date.now();
    var latin1 = unescape(encodeURIComponent(text));
    return btoa(latin1).replace(/=/g, '1');
  }

  function deviceId() {
    try {
      var stored = localStorage.getItem('_deviceId2');
      if (stored && stored.trim()) return stored;
      var id = generateDeviceId();
      localStorage.setItem('_deviceId2', id);
      return id;
    } catch (e) {
      return generateDeviceId();
    }
  }

  function deviceName(ua) {
    var name = 'Web Browser';
    if (/Tizen/i.test(ua)) name = 'Samsung Smart TV';
    else if (/Web0S|webOS/i.test(ua)) name = 'LG Smart TV';
    else if (/OPR\/|Opera/i.test(ua) && /TV/i.test(ua)) name = 'Opera TV';
    else if (/Xbox/i.test(ua)) name = 'Xbox One';
    else if (/PlayStation/i.test(ua)) name = 'Sony PS4';
    else if (/Edg\//.test(ua)) name = 'Edge Chromium';
    else if (/OPR\//.test(ua)) name = 'Opera';
    else if (/Chrome\/|CriOS\//.test(ua)) name = 'Chrome';
    else if (/Firefox\/|FxiOS\//.test(ua)) name = 'Firefox';
    else if (/Safari\//.test(ua)) name = 'Safari';
    if (/iPad/.test(ua)) name += ' iPad';
    else if (/iPhone/.test(ua)) name += ' iPhone';
    else if (/Android/.test(ua)) name += ' Android';
    return name;
  }

  function field(s) {
    return String(s).replace(/["\\,\r\n]/g, ' ').trim();
  }

  var identity = { deviceId: deviceId(), deviceName: deviceName(navigator.userAgent), version: '10.11.0' };

  function authorization() {
    return (
      'MediaBrowser Client="Jellyfin Web", Device="' + field(identity.deviceName) + '", DeviceId="' + field(identity.deviceId) +
      '", Version="' + (field(identity.version) || '10.11.0') + '"'
    );
  }

  function api(method, path, json) {
    var init = { method: method, headers: { Authorization: authorization(), Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' };
    if (json !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(json);
    }
    return fetch(base + path, init);
  }

  function prop(obj, name) {
    if (!obj || typeof obj !== 'object') return undefined;
    if (name in obj) return obj[name];
    return obj[name.charAt(0).toLowerCase() + name.slice(1)];
  }

  function same(a, b) {
    return typeof a === 'string' && typeof b === 'string' && a.toLowerCase() === b.toLowerCase();
  }

  /** Save the session where jellyfin-web finds it (as pwa/login/session.ts saveJellyfinSession does). */
  function saveSession(result, server) {
    var user = prop(result, 'User');
    var token = prop(result, 'AccessToken');
    var userId = prop(user, 'Id');
    var serverId = prop(result, 'ServerId') || prop(user, 'ServerId');
    if (!token || !userId || !serverId) throw new Error('unreadable sign-in answer');
    var address = location.origin + base;
    var creds;
    try {
      creds = JSON.parse(localStorage.getItem('jellyfin_credentials') || '{}');
    } catch (e) {
      creds = {};
    }
    if (!creds || typeof creds !== 'object' || Array.isArray(creds)) creds = {};
    var servers = Array.isArray(creds.Servers) ? creds.Servers : [];
    var existing = null;
    var others = [];
    for (var i = 0; i < servers.length; i++) {
      var s = servers[i];
      if (!s || typeof s !== 'object') continue;
      if (same(s.Id, serverId)) existing = s;
      else if (!same(s.ManualAddress, address) && !same(s.LocalAddress, address) && !same(s.RemoteAddress, address)) others.push(s);
    }
    var entry = {};
    if (existing) for (var k in existing) entry[k] = existing[k];
    entry.Id = serverId;
    if (server.ServerName || (existing && existing.Name)) entry.Name = server.ServerName || existing.Name;
    entry.ManualAddress = address;
    if (server.LocalAddress || (existing && existing.LocalAddress)) entry.LocalAddress = server.LocalAddress || existing.LocalAddress;
    entry.LastConnectionMode = 2;
    entry.DateLastAccessed = Date.now();
    entry.UserId = userId;
    entry.AccessToken = token;
    others.push(entry);
    creds.Servers = others;
    localStorage.setItem('jellyfin_credentials', JSON.stringify(creds));
    localStorage.setItem('user-' + userId + '-' + serverId, JSON.stringify(user));
    localStorage.setItem('enableAutoLogin', 'true');
    return prop(user, 'Name') || '';
  }

  var server = {};
  var current = null; // { code, secret, startedAt }
  var timer = null;

  function spaced(code) {
    return code.length === 6 ? code.slice(0, 3) + '\u2009' + code.slice(3) : code;
  }

  // How long the code on the screen lasts (it is renewed then): a countdown, so nobody types a dead code.
  var expiryEl = document.getElementById('expiry');
  setInterval(function () {
    if (!expiryEl) return;
    if (!current) {
      expiryEl.textContent = '';
      return;
    }
    var left = Math.max(0, Math.ceil((current.startedAt + RENEW_MS - Date.now()) / 1000));
    expiryEl.textContent = 'This code changes in ' + Math.floor(left / 60) + ':' + String(left % 60).padStart(2, '0');
  }, 1000);

  function later(fn, ms) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(fn, ms);
  }

  function start() {
    current = null;
    setStatus('Getting a code\u2026');
    api('POST', '/QuickConnect/Initiate')
      .then(function (res) {
        if (res.status === 401) throw { human: 'Quick Connect is turned off on this server. An administrator can turn it on in the Jellyfin dashboard.' };
        if (res.status === 429 || res.status === 403) {
          // A ban's own words say how long and what to do next; anything else gets the general ones.
          return res.json().catch(function () { return null; }).then(function (b) {
            var banned = b && b.error === 'address_banned' && typeof b.message === 'string';
            throw { human: banned ? b.message : 'Too many attempts from this network. Try again in a few minutes.', retry: 60000 };
          });
        }
        if (!res.ok) throw { human: 'The server did not answer. Retrying\u2026', retry: 10000 };
        return res.json();
      })
      .then(function (r) {
        var code = prop(r, 'Code');
        var secret = prop(r, 'Secret');
        if (!code || !secret) throw { human: 'The server gave no code. Retrying\u2026', retry: 10000 };
        current = { code: String(code), secret: String(secret), startedAt: Date.now() };
        codeEl.textContent = spaced(current.code);
        codeEl.setAttribute('data-code', current.code);
        qrEl.src = base + '/JellyfinSecurity/pair/qr.svg?code=' + encodeURIComponent(current.code);
        qrEl.hidden = false;
        setStatus('Waiting for your phone\u2026');
        later(poll, POLL_MS);
      })
      .catch(function (e) {
        setStatus(e && e.human ? e.human : 'Cannot reach the server. Retrying\u2026', 'error');
        later(start, (e && e.retry) || 10000);
      });
  }

  function poll() {
    if (!current) return start();
    if (Date.now() - current.startedAt > RENEW_MS) return start();
    api('GET', '/QuickConnect/Connect?secret=' + encodeURIComponent(current.secret))
      .then(function (res) {
        if (res.status === 404) return start(); // Jellyfin forgot it: a new code
        if (!res.ok) throw new Error('status ' + res.status);
        return res.json().then(function (r) {
          if (prop(r, 'Authenticated') === true) return exchange();
          later(poll, POLL_MS);
        });
      })
      .catch(function () {
        setStatus('Lost the server for a moment. Retrying\u2026', 'error');
        later(poll, POLL_MS * 2);
      });
  }

  function exchange() {
    setStatus('Approved. Signing in\u2026', 'ok');
    return api('POST', '/Users/AuthenticateWithQuickConnect', { Secret: current.secret })
      .then(function (res) {
        if (res.status === 403) throw { human: 'This code was not approved through your phone. Getting a new code\u2026' };
        if (!res.ok) throw { human: 'Signing in failed. Getting a new code\u2026' };
        return res.json();
      })
      .then(function (result) {
        var name = saveSession(result, server);
        setStatus('Welcome' + (name ? ', ' + name : '') + '!', 'ok');
        codeEl.classList.add('done');
        location.replace(base + '/web/');
      })
      .catch(function (e) {
        setStatus(e && e.human ? e.human : 'Signing in failed. Getting a new code\u2026', 'error');
        later(start, 5000);
      });
  }

  fetch(base + '/System/Info/Public', { cache: 'no-store' })
    .then(function (res) {
      return res.ok ? res.json() : {};
    })
    .catch(function () {
      return {};
    })
    .then(function (info) {
      server = info || {};
      if (typeof server.Version === 'string' && server.Version) identity.version = server.Version;
      var nameEl = document.getElementById('server-name');
      if (nameEl && server.ServerName) nameEl.textContent = server.ServerName;
      start();
    });
})();
