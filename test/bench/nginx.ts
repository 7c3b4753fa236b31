/**
 * nginx for the bench: as the static upstream (the Jellyfin stand-in) and as the reference proxy with a token
 * check made of two `map` blocks (PERFORMANCE.md's anchor: 1 worker, proxy_buffers 8 64k).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const NGINX = '/usr/sbin/nginx';
export const hasNginx = () => existsSync(NGINX);

export interface Nginx {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

function common(prefix: string): string {
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log error;
events { worker_connections 16384; } # the bench holds 3,000 idle connections, each with an upstream one
`;
}

function temps(prefix: string): string {
  return `client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;`;
}

/** nginx serving `root` as static files (sendfile), keep-alive without a request cap. */
export function upstreamConfig(prefix: string, root: string, port: number): string {
  return `${common(prefix)}
http {
  ${temps(prefix)}
  access_log off;
  sendfile on; tcp_nopush on;
  keepalive_requests 1000000; keepalive_timeout 120s;
  default_type application/octet-stream;
  types { application/json json; }
  server { listen 127.0.0.1:${port}; root ${root}; }
}
`;
}

/** nginx as a proxy: token from the MediaBrowser header (map 1), looked up among all tokens (map 2). */
export function proxyConfig(prefix: string, upstreamPort: number, port: number, tokens: string[]): string {
  const entries = tokens.map((t) => `    ${t} 1;`).join('\n');
  return `${common(prefix)}
http {
  ${temps(prefix)}
  access_log off;
  keepalive_requests 1000000; keepalive_timeout 120s;
  map_hash_max_size 32768; map_hash_bucket_size 128;
  map $http_authorization $mb_token {
    default "";
    "~Token=\\"(?<tok>[^\\"]+)\\"" $tok;
  }
  map $mb_token $token_ok {
    default 0;
    "" 1;
${entries}
  }
  upstream jellyfin { server 127.0.0.1:${upstreamPort}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location / {
      if ($token_ok = 0) { return 401; }
      proxy_pass http://jellyfin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_buffer_size 64k; proxy_buffers 8 64k;
    }
  }
}
`;
}

export async function startNginx(prefix: string, config: string, port: number): Promise<Nginx> {
  mkdirSync(prefix, { recursive: true });
  const file = path.join(prefix, 'nginx.conf');
  writeFileSync(file, config);
  const child: ChildProcess = spawn(NGINX, ['-p', prefix, '-c', file, '-e', path.join(prefix, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 5_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    try {
      await fetch(url + '/', { signal: AbortSignal.timeout(500) });
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`nginx did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    pid: child.pid ?? 0,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGQUIT');
        setTimeout(() => child.kill('SIGKILL'), 3_000).unref();
      }),
  };
}
