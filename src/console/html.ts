/** The console's page frame, its one stylesheet and its one script: all served by the gateway itself (no CDN, no fonts). */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text and attribute values into HTML: every value that reaches a page goes through here. */
export function esc(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** A fragment already escaped (built from esc() and literals): the type keeps raw strings out of the templates. */
export interface Html {
  readonly html: string;
}

export function raw(html: string): Html {
  return { html };
}

/** Tagged template: interpolated strings and numbers are escaped, Html fragments and arrays of them are not. */
export function h(strings: TemplateStringsArray, ...values: Array<string | number | Html | Html[] | undefined | false>): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    if (v === undefined || v === false) out += '';
    else if (Array.isArray(v)) out += v.map((x) => x.html).join('');
    else if (typeof v === 'object') out += v.html;
    else out += esc(v);
    out += strings[i + 1] ?? '';
  });
  return raw(out);
}


export function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

export const PAGES = [
  { path: '/', title: 'Overview' },
  { path: '/nodes', title: 'Nodes' },
  { path: '/tiers', title: 'Tiers' },
  { path: '/buckets', title: 'Buckets' },
  { path: '/requests', title: 'Requests' },
  { path: '/cost', title: 'Cost' },
] as const;

export type PagePath = (typeof PAGES)[number]['path'];

export interface Frame {
  title: string;
  path: PagePath | '/login';
  /** Absent on the sign-in page. */
  session?: { accessKey: string; csrf: string };
  body: Html;
  /** Shown above the page (an action's outcome, a refusal). */
  flash?: { kind: 'ok' | 'error'; text: string };
}

export function page(f: Frame): string {
  const nav = f.session
    ? h`<nav>${PAGES.map((p) => h`<a href="${p.path}"${p.path === f.path ? raw(' aria-current="page"') : raw('')}>${p.title}</a>`)}</nav>
      <form method="post" action="/logout" class="signout"><input type="hidden" name="csrf" value="${f.session.csrf}"><span>${f.session.accessKey}</span><button type="submit">Sign out</button></form>`
    : raw('');
  const flash = f.flash ? h`<p class="flash ${f.flash.kind}" role="status">${f.flash.text}</p>` : raw('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(f.title)} · Tessera</title><link rel="icon" href="/assets/icon.svg" type="image/svg+xml"><link rel="stylesheet" href="/assets/console.css"><script src="/assets/console.js" defer></script></head>
<body><header><a class="brand" href="/">Tessera</a>${nav.html}</header><main>${flash.html}<h1>${esc(f.title)}</h1>${f.body.html}</main></body></html>`;
}

/** Four tiles, the mosaic a tessera belongs to. */
export const CONSOLE_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="1" y="1" width="6" height="6" rx="1" fill="#2f5bd3"/><rect x="9" y="1" width="6" height="6" rx="1" fill="#7ea2ff"/><rect x="1" y="9" width="6" height="6" rx="1" fill="#7ea2ff"/><rect x="9" y="9" width="6" height="6" rx="1" fill="#1d8a4e"/></svg>`;

export const CONSOLE_CSS = `
:root { --fg: #1d2330; --muted: #5d6678; --bg: #f5f6f8; --card: #fff; --line: #dde1e8; --accent: #2f5bd3;
  --ok: #1d8a4e; --warn: #c47d00; --bad: #c62f2f; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font-size: 15px; }
header { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #1d2330; color: #fff; flex-wrap: wrap; }
header a { color: #cfd6e6; text-decoration: none; }
header .brand { font-weight: 700; color: #fff; font-size: 18px; letter-spacing: .5px; }
nav { display: flex; gap: 16px; flex: 1; flex-wrap: wrap; }
nav a[aria-current="page"] { color: #fff; border-bottom: 2px solid #7ea2ff; }
.signout { display: flex; gap: 10px; align-items: center; color: #cfd6e6; font-size: 13px; }
main { padding: 16px 24px 48px; max-width: 1200px; }
h1 { font-size: 22px; margin: 8px 0 16px; }
h2 { font-size: 16px; margin: 0 0 10px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 16px; }
figure { margin: 0 0 8px; } figcaption { font-weight: 600; font-size: 13px; margin-bottom: 6px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin-bottom: 16px; }
.big { font-size: 28px; font-weight: 600; }
.muted { color: var(--muted); font-size: 13px; }
.ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: right; padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .4px; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; }
.pill.ok { background: var(--ok); color: #fff; } .pill.warn { background: var(--warn); color: #fff; } .pill.bad { background: var(--bad); color: #fff; }
form.inline { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
input[type=text], input[type=password], select { padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
button { padding: 6px 14px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; font: inherit; cursor: pointer; }
header button { background: transparent; border-color: #7ea2ff; color: #cfd6e6; padding: 3px 10px; }
.flash { padding: 8px 12px; border-radius: 6px; } .flash.ok { background: #e3f5ea; } .flash.error { background: #fbe5e5; color: var(--bad); }
.login { max-width: 380px; margin: 60px auto; } .login label { display: block; margin: 10px 0 4px; font-size: 13px; color: var(--muted); }
.login input { width: 100%; } .login button { margin-top: 16px; width: 100%; }
progress { width: 160px; vertical-align: middle; }
svg text { font-family: system-ui, sans-serif; font-size: 11px; fill: #5d6678; }
.legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 12px; color: var(--muted); margin-top: 4px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
`;

/**
 * While a job runs, its row updates itself from /api/jobs; the page reloads once every job is done (so the figures
 * change with it). Without JavaScript the pages still work: forms post, links navigate.
 */
export const CONSOLE_JS = `
(function () {
  var rows = document.querySelectorAll('[data-job-running]');
  if (rows.length === 0) return;
  function poll() {
    fetch('/api/jobs', { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (jobs) {
        var running = 0;
        jobs.forEach(function (j) {
          var row = document.querySelector('[data-job="' + j.id + '"]');
          if (!row) return;
          var bar = row.querySelector('progress');
          if (bar) { bar.max = Math.max(1, j.total); bar.value = j.done; }
          var text = row.querySelector('[data-job-text]');
          if (text) text.textContent = j.done + ' / ' + j.total;
          if (j.state === 'running') running++;
        });
        if (running === 0) location.reload(); else setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
`;
