/**
 * The media and web-client bits: a fake video served like ASP.NET's file results with range
 * processing (RangeHelper: one range only, 206 + Content-Range, 416 when unsatisfiable), and a
 * jellyfin-web-like index.html (static files under /web, DefaultFiles for /web/).
 */
import type { ServerResponse } from 'node:http';
import type { Reply } from './wire.ts';

/** Byte i of the fake video. Deterministic so a test can check any slice. */
export function mediaByte(i: number): number {
  return i % 251;
}

/** The expected bytes [start, end] inclusive, for assertions. */
export function expectedMedia(start: number, endInclusive: number): Buffer {
  const b = Buffer.alloc(endInclusive - start + 1);
  for (let i = 0; i < b.length; i++) b[i] = mediaByte(start + i);
  return b;
}

const CHUNK = 64 * 1024;
/** One 251-periodic block, so chunks are cut from it instead of computed byte by byte. */
const PERIOD = (() => {
  const b = Buffer.alloc(251 + CHUNK);
  for (let i = 0; i < b.length; i++) b[i] = i % 251;
  return b;
})();

/** Streams [start, end] in 64 KiB chunks with backpressure; never holds the whole file. */
function streamRange(res: ServerResponse, start: number, endInclusive: number): void {
  let pos = start;
  const pump = (): void => {
    while (pos <= endInclusive) {
      const len = Math.min(CHUNK, endInclusive - pos + 1);
      const off = pos % 251;
      const chunk = PERIOD.subarray(off, off + len);
      pos += len;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  res.on('close', () => {
    pos = endInclusive + 1;
  });
  pump();
}

/**
 * RangeHelper.ParseRange: a single `bytes=` range; several ranges or a malformed header mean the
 * whole file (200); a range that starts past the end is 416.
 */
export function mediaReply(size: number, rangeHeader: string | undefined, contentType: string): Reply {
  const base = { 'Content-Type': contentType, 'Accept-Ranges': 'bytes', 'Last-Modified': new Date(0).toUTCString() };
  const m = rangeHeader ? /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(rangeHeader) : null;
  if (m && (m[1] !== '' || m[2] !== '')) {
    let start: number;
    let end: number;
    if (m[1] === '') {
      const suffix = Number(m[2]);
      start = Math.max(0, size - suffix);
      end = size - 1;
      if (suffix === 0) return { status: 416, headers: { ...base, 'Content-Range': `bytes */${size}` } };
    } else {
      start = Number(m[1]);
      end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
      if (m[2] !== '' && Number(m[2]) < start) return fullMedia(size, base);
    }
    if (start >= size) return { status: 416, headers: { ...base, 'Content-Range': `bytes */${size}` } };
    return {
      status: 206,
      headers: { ...base, 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': String(end - start + 1) },
      stream: (res) => streamRange(res, start, end),
    };
  }
  return fullMedia(size, base);
}

function fullMedia(size: number, base: Record<string, string>): Reply {
  return {
    status: 200,
    headers: { ...base, 'Content-Length': String(size) },
    stream: (res) => (size > 0 ? streamRange(res, 0, size - 1) : res.end()),
  };
}

/**
 * A small stand-in for jellyfin-web's index.html: a <head> (where an injected script would go), no
 * CSP meta tag, deferred scripts by relative path, as JELLYFIN.md §6 describes the real one.
 */
export function webIndexHtml(opts: { standIn?: boolean } = {}): string {
  return [
    '<!DOCTYPE html>',
    '<html class="preload" dir="ltr">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">',
    '<meta name="application-name" content="Jellyfin">',
    '<link rel="manifest" href="manifest.json">',
    '<title>Jellyfin</title>',
    '<script defer="defer" src="runtime.bundle.js"></script>',
    '<script defer="defer" src="main.jellyfin.bundle.js"></script>',
    '<link href="main.jellyfin.css" rel="stylesheet">',
    '</head>',
    '<body dir="ltr">',
    '<div class="backdropContainer"></div>',
    '<div class="backgroundContainer"></div>',
    '<div class="mainDrawer hide"><div class="mainDrawer-scrollContainer scrollY"></div></div>',
    '<div class="skinHeader focuscontainer-x"></div>',
    '<div class="mainAnimatedPages skinBody"></div>',
    '<div class="mainDrawerHandle"></div>',
    ...(opts.standIn ? STAND_IN_BODY : []),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/**
 * What the demo's /web/ shows instead of jellyfin-web (the emulator has no web client): that it is a
 * stand-in, and who the stored jellyfin_credentials sign in as (asked of Users/Me, through the gateway).
 */
const STAND_IN_BODY = [
  '<main style="font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#111">',
  '<h1>Jellyfin stand-in</h1>',
  '<p>This page stands in for jellyfin-web: the demo\'s Jellyfin emulator has no web client. With a real Jellyfin, its home screen would be here.</p>',
  '<p id="who" role="status">Checking who is signed in…</p>',
  '<button id="signout" type="button" hidden>Sign out</button>',
  '</main>',
  '<script>',
  '(function () {',
  '  var who = document.getElementById("who"), out = document.getElementById("signout");',
  '  var base = location.pathname.replace(/\\/web(\\/.*)?$/i, "");',
  '  var creds = {}; try { creds = JSON.parse(localStorage.getItem("jellyfin_credentials") || "{}"); } catch (e) {}',
  '  var server = (creds.Servers || []).filter(function (s) { return s.AccessToken; })[0];',
  '  if (!server) { who.textContent = "Nobody is signed in."; return; }',
  '  var auth = "MediaBrowser Client=\\"Jellyfin Web\\", Device=\\"Demo\\", DeviceId=\\"" + (localStorage.getItem("_deviceId2") || "demo") + "\\", Version=\\"10.11.11\\", Token=\\"" + server.AccessToken + "\\"";',
  '  fetch(base + "/Users/Me", { headers: { Authorization: auth } }).then(function (r) {',
  '    if (!r.ok) throw new Error(String(r.status));',
  '    return r.json();',
  '  }).then(function (me) {',
  '    who.textContent = "Signed in as " + me.Name + (me.Policy && me.Policy.IsAdministrator ? " (administrator)." : ".");',
  '    out.hidden = false;',
  '  }).catch(function (e) { who.textContent = "The stored sign-in was refused (" + e.message + "). Reload to sign in again."; });',
  '  out.onclick = function () {',
  '    fetch(base + "/Sessions/Logout", { method: "POST", headers: { Authorization: auth } }).finally(function () {',
  '      server.AccessToken = null; server.UserId = null;',
  '      localStorage.setItem("jellyfin_credentials", JSON.stringify(creds));',
  '      location.reload();',
  '    });',
  '  };',
  '})();',
  '</script>',
];
