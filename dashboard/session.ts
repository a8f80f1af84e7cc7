/**
 * The browser session: the `sluice_session` cookie carries the dashboard token (HttpOnly, SameSite=Strict,
 * so page scripts cannot read it and other sites cannot send it), and the login page that sets it.
 * The login page is self-contained (inline style, no script) because it is served without a session.
 */

export const SESSION_COOKIE = 'sluice_session';

/** A week: operators keep the dashboard open; logging out clears it sooner. */
export const SESSION_MAX_AGE_SEC = 7 * 24 * 3600;

export function sessionCookieOptions(secure: boolean) {
  return { path: '/', httpOnly: true, sameSite: 'strict' as const, secure, maxAge: SESSION_MAX_AGE_SEC };
}

/** Headers for every HTML page: no framing, no referrer (a `?token=` URL must not leak), same-origin only. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
});

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

export function loginPage(error?: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sluice · sign in</title>
<style>
  :root { color-scheme: light dark; --bg: #f5f6f8; --card: #fff; --text: #1b1f24; --muted: #5f6b7a; --line: #d9dee5; --accent: #2563eb; --bad: #c2410c; }
  @media (prefers-color-scheme: dark) { :root { --bg: #0f1216; --card: #171b21; --text: #e6e9ee; --muted: #96a1b0; --line: #2a313b; --accent: #5b8def; --bad: #f0883e; } }
  * { box-sizing: border-box; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: var(--bg); color: var(--text);
         font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; padding: 16px; }
  form { width: 100%; max-width: 360px; background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 28px; }
  h1 { font-size: 20px; margin: 0 0 4px; letter-spacing: -0.01em; }
  h1 span { color: var(--accent); }
  p { margin: 0 0 20px; color: var(--muted); font-size: 14px; }
  label { display: block; font-size: 13px; font-weight: 600; margin-bottom: 6px; }
  input { width: 100%; font: inherit; padding: 9px 11px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--text); }
  input:focus { outline: 2px solid var(--accent); outline-offset: -1px; }
  button { margin-top: 16px; width: 100%; font: inherit; font-weight: 600; padding: 9px; border: 0; border-radius: 6px; background: var(--accent); color: #fff; cursor: pointer; }
  .error { color: var(--bad); font-size: 14px; margin: 12px 0 0; }
</style>
</head>
<body>
<form method="post" action="/login">
  <h1><span>≋</span> Sluice</h1>
  <p>Enter the dashboard token to open the live fleet view.</p>
  <label for="token">Dashboard token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
  ${error ? `<p class="error" role="alert" id="login-error">${escapeHtml(error)}</p>` : ''}
  <button type="submit">Sign in</button>
</form>
</body>
</html>
`;
}
