// The last step of single sign-on, in the browser: collect the Jellyfin session as jellyfin-web (its
// DeviceId from localStorage `_deviceId2`, created the way jellyfin-web creates it when absent), save it
// where jellyfin-web looks (`jellyfin_credentials`, `user-{UserId}-{ServerId}`, `enableAutoLogin`), then
// open jellyfin-web. Mirrors pwa/lib/login-session.ts and login-return.ts, which the login page uses
// for password sign-ins (JELLYFIN.md §6). No build step: it is served as it is.
(function () {
  'use strict';
  var body = document.body;
  var base = body.getAttribute('data-base') || '';
  var returnPath = body.getAttribute('data-return') || base + '/web/';
  var status = document.getElementById('status');

  function show(text) {
    status.textContent = text;
    status.setAttribute('role', 'alert');
    var again = document.getElementById('again');
    if (again) again.hidden = false;
  }

  function deviceId() {
    var stored = localStorage.getItem('_deviceId2');
    if (stored && stored.trim()) return stored;
    var bytes = new TextEncoder().encode(navigator.userAgent + '|' + Date.now());
    var latin1 = '';
    for (var i = 0; i < bytes.length; i++) latin1 += String.fromCharCode(bytes[i]);
    var id = btoa(latin1).replace(/=/g, '1');
    localStorage.setItem('_deviceId2', id);
    return id;
  }

  function deviceName(ua) {
    var name = 'Web Browser';
    if (/Edg\//.test(ua)) name = 'Edge Chromium';
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
    return String(s).replace(/["\\,=\r\n]/g, ' ').trim();
  }

  function prop(obj, name) {
    if (!obj || typeof obj !== 'object') return undefined;
    if (name in obj) return obj[name];
    return obj[name[0].toLowerCase() + name.slice(1)];
  }

  function same(a, b) {
    return typeof a === 'string' && a.toLowerCase() === b.toLowerCase();
  }

  // The address jellyfin-web uses for this server: the page URL before its last "/web".
  function address() {
    var path = returnPath.split(/[?#]/)[0];
    var i = path.toLowerCase().lastIndexOf('/web');
    return location.origin + (i === -1 ? base : path.slice(0, i));
  }

  function save(result, info) {
    var user = prop(result, 'User');
    var session = {
      accessToken: prop(result, 'AccessToken'),
      userId: prop(user, 'Id'),
      serverId: prop(result, 'ServerId') || prop(user, 'ServerId'),
    };
    if (!session.accessToken || !session.userId || !session.serverId) throw new Error('unreadable');
    var addr = address();
    var credentials;
    try {
      credentials = JSON.parse(localStorage.getItem('jellyfin_credentials') || '{}') || {};
    } catch (e) {
      credentials = {};
    }
    var servers = Array.isArray(credentials.Servers) ? credentials.Servers.filter(function (s) { return s && typeof s === 'object'; }) : [];
    var existing = servers.find(function (s) { return same(s.Id, session.serverId); }) || {};
    var others = servers.filter(function (s) {
      return !same(s.Id, session.serverId) && !same(s.ManualAddress, addr) && !same(s.LocalAddress, addr) && !same(s.RemoteAddress, addr);
    });
    var entry = Object.assign({}, existing, {
      Id: session.serverId,
      ManualAddress: addr,
      LastConnectionMode: 2,
      DateLastAccessed: Date.now(),
      UserId: session.userId,
      AccessToken: session.accessToken,
    });
    if (info.ServerName || existing.Name) entry.Name = info.ServerName || existing.Name;
    if (info.LocalAddress || existing.LocalAddress) entry.LocalAddress = info.LocalAddress || existing.LocalAddress;
    credentials.Servers = others.concat([entry]);
    localStorage.setItem('jellyfin_credentials', JSON.stringify(credentials));
    localStorage.setItem('user-' + session.userId + '-' + session.serverId, JSON.stringify(user));
    localStorage.setItem('enableAutoLogin', 'true');
  }

  async function run() {
    var info = {};
    try {
      var r = await fetch(base + '/System/Info/Public', { headers: { accept: 'application/json' } });
      if (r.ok) info = await r.json();
    } catch (e) {
      /* the session does not need it */
    }
    var header = 'MediaBrowser Client="Jellyfin Web", Device="' + field(deviceName(navigator.userAgent)) + '", DeviceId="' +
      field(deviceId()) + '", Version="' + (field(info.Version || '') || '10.11.0') + '"';
    var res = await fetch(base + '/JellyfinSecurity/OIDC/Session', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { authorization: header, 'content-type': 'application/json', accept: 'application/json' },
      body: '{}',
    });
    var json = await res.json().catch(function () { return {}; });
    if (!res.ok) return show(json.message || 'Signing in did not work. Please start again.');
    save(json.AuthenticationResult, info);
    status.textContent = 'Signed in. Opening Jellyfin…';
    location.replace(json.returnPath || returnPath);
  }

  run().catch(function () {
    show('Signing in did not work. Please start again.');
  });
})();
