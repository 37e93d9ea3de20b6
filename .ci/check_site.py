"""Open every page of the built site in headless Chromium with all outside requests blocked.

Fails (exit 1) when a page has a MathJax error or an undefined macro, a formula left untypeset, a
request that failed or tried to leave the machine, a script error or a console error.

    python .ci/check_site.py [_build/html] [--chromium /usr/bin/chromium]
"""
import argparse
import functools
import http.server
import pathlib
import shutil
import sys
import threading

from playwright.sync_api import sync_playwright

SKIP = {"search.html", "genindex.html"}

PROBE = """() => {
  const math = [...document.querySelectorAll('.math')];
  const untypeset = math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80));
  const errors = [...document.querySelectorAll('mjx-merror')].map(e =>
      (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120));
  const tracebacks = (document.body.innerText.match(/Traceback \(most recent call last\)/g) || []).length;
  return {math: math.length, containers: document.querySelectorAll('mjx-container').length, untypeset, errors,
          tracebacks};
}"""


def serve(root):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("site", nargs="?", default="_build/html")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args()
    root = pathlib.Path(args.site).resolve()
    pages = sorted(p for p in root.rglob("*.html") if p.name not in SKIP and "_static" not in p.parts
                   and "_sources" not in p.parts and 'http-equiv="refresh"' not in p.read_text()[:2000].lower())
    if not pages:
        sys.exit(f"no HTML pages under {root}: build the site first (make html)")
    httpd = serve(root)
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    problems, total_math = [], 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        for path in pages:
            rel = path.relative_to(root).as_posix()
            page = browser.new_page()
            issues = []

            def route(r, issues=issues):
                if r.request.url.startswith(base) or r.request.url.startswith("data:"):
                    r.continue_()
                else:
                    issues.append(f"request leaving the machine blocked: {r.request.url}")
                    r.abort()

            page.route("**/*", route)
            page.on("requestfailed", lambda req, issues=issues: issues.append(f"failed request: {req.url}")
                    if req.url.startswith(base) else None)
            page.on("response", lambda resp, issues=issues: issues.append(f"HTTP {resp.status}: {resp.url}")
                    if resp.status >= 400 else None)
            page.on("pageerror", lambda exc, issues=issues: issues.append(f"script error: {exc}"))
            page.on("console", lambda msg, issues=issues: issues.append(f"console {msg.type}: {msg.text}")
                    if msg.type == "error" else None)
            page.goto(base + rel, wait_until="load")
            has_math = page.evaluate("() => document.querySelectorAll('.math').length > 0")
            if has_math:
                page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                       timeout=20000)
                page.evaluate("() => MathJax.startup.promise")
            result = page.evaluate(PROBE)
            total_math += result["math"]
            issues += [f"MathJax error: {e}" for e in result["errors"]]
            issues += [f"formula not typeset: {t}" for t in result["untypeset"][:5]]
            if result["tracebacks"]:
                issues.append(f"{result['tracebacks']} Python traceback(s) shown on the page")
            page.close()
            print(f"{'FAIL' if issues else 'ok  '} {rel}: {result['math']} formulas")
            problems += [f"{rel}: {i}" for i in issues]
            for i in issues[:8]:
                print("     ", i)
        browser.close()
    httpd.shutdown()
    print(f"{len(pages)} pages, {total_math} formulas checked")
    if problems:
        print("\n".join(problems))
        sys.exit(1)


if __name__ == "__main__":
    main()
