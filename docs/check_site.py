"""Open every page of the built documentation in headless Chromium and check it.

Usage (after ``sphinx-build -q -W --keep-going -b html docs docs/_build/html``)::

    python docs/check_site.py [docs/_build/html] [--chromium chromium] [--timeout 30]
                              [--screenshots DIR]

The site is served by Python's ``http.server`` on 127.0.0.1 (a free port) and driven
through the Chrome DevTools protocol (``pip install websocket-client``). Chromium is
Debian's ``chromium`` package (``apt-get install chromium``), started headless with a
fresh profile and no background networking. For every HTML page the script checks that

* the page loads (HTTP 200, the load event fires) without a JavaScript exception;
* every request the page makes to the site succeeds (no 404 for a stylesheet, script,
  image or download, no failed load);
* every image on the page renders: it finishes loading with a natural width > 0 (lazy
  images are switched to eager loading first);

that, in a 1280x800 window, the top navigation holds one line, no left sidebar is
shown empty and no code block (printed output aside) is cut off behind a scrollbar;
and that each gallery example page holds the figures it should (every
``sphx-glr-*-img`` image rendered) and offers its ``.py`` and ``.ipynb`` downloads.
Requests to other hosts (none are expected) are reported but blocked.

Prints one line per problem and a summary; exits 1 if anything failed.
"""
from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]

# Evaluated in each page once it has loaded: make lazy images load, wait for them, and
# report every image with its natural size.
IMAGES_JS = """
(async () => {
  const images = Array.from(document.images);
  for (const img of images) { if (img.loading === 'lazy') img.loading = 'eager'; }
  await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
      img.addEventListener('load', done); img.addEventListener('error', done);
      setTimeout(done, 10000); })));
  await Promise.all(images.map(img => img.decode ? img.decode().catch(() => null) : null));
  return {
    title: document.title,
    images: images.map(img => ({src: img.currentSrc || img.src, complete: img.complete,
                                width: img.naturalWidth, height: img.naturalHeight,
                                cls: img.className})),
    downloads: Array.from(document.querySelectorAll('a.download, a.reference.download'))
                    .map(a => a.getAttribute('href')),
  };
})()
"""


#: the window every page is laid out in (a laptop screen; the theme's wide layout)
WINDOW = (1280, 800)

# Evaluated in each page once it has loaded: the layout at WINDOW. The top links in how
# many rows, whether a visible left sidebar lists anything, and the code blocks (not the
# printed output of gallery examples) wider than their column, cut off behind a scrollbar.
LAYOUT_JS = """
(() => {
  const shown = el => el !== null && el.getClientRects().length > 0
                      && getComputedStyle(el).visibility !== 'hidden';
  const links = Array.from(document.querySelectorAll(
      '.bd-header .navbar-header-items .bd-navbar-elements > li')).filter(shown);
  // a new row starts where a link's top lies below the row's top by more than half a line
  let rows = 0, rowTop = -Infinity;
  for (const top of links.map(li => li.getBoundingClientRect().top).sort((a, b) => a - b)) {
    if (top > rowTop + 12) { rows += 1; rowTop = top; }
  }
  const sidebar = document.querySelector('.bd-sidebar-primary');
  const sidebarShown = shown(sidebar) && sidebar.getBoundingClientRect().width > 0;
  const cut = Array.from(document.querySelectorAll('.bd-article div.highlight pre'))
      .filter(pre => !pre.closest('.sphx-glr-script-out')
                     && pre.scrollWidth > pre.clientWidth + 2)
      .map(pre => pre.textContent.split('\\n')
                     .reduce((a, b) => (b.length > a.length ? b : a), '').trim());
  return {navRows: rows, sidebarShown: sidebarShown,
          sidebarLinks: sidebarShown ? sidebar.querySelectorAll('.bd-links a').length : 0,
          cut: cut};
})()
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D102 - keep the output to the checks
        pass


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``site`` on 127.0.0.1 (free port) in a daemon thread; (server, base URL)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class Browser:
    """Headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(self, executable: str, timeout: float):
        import websocket  # websocket-client

        self.timeout = timeout
        self.profile = Path(tempfile.mkdtemp(prefix="dendrinet-check-site-"))
        self.process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
             "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.process.poll() is not None:
                raise RuntimeError(f"{executable} exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{executable} did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self.version = json.load(urlopen(f"http://127.0.0.1:{port}/json/version",
                                         timeout=timeout))["Browser"]
        target = json.load(urlopen(Request(f"http://127.0.0.1:{port}/json/new?about:blank",
                                           method="PUT"), timeout=timeout))
        self.ws = websocket.create_connection(target["webSocketDebuggerUrl"],
                                              timeout=timeout, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=WINDOW[0], height=WINDOW[1],
                  deviceScaleFactor=1, mobile=False)

    def screenshot(self, path: Path) -> None:
        """Save what the window shows now (WINDOW, PNG)."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def call(self, method: str, **params):
        """Send a command and wait for its reply; events met meanwhile are kept."""
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str) -> bool:
        """Wait until event ``method`` arrives (or the timeout passes)."""
        deadline = time.monotonic() + self.timeout
        while not any(e["method"] == method for e in self.events):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.ws.settimeout(remaining)
            try:
                message = json.loads(self.ws.recv())
            except Exception:  # noqa: BLE001 - a timeout ends the wait
                return False
            if "method" in message:
                self.events.append(message)
        return True

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


def check_page(browser: Browser, base: str, page: str, problems: list[str]) -> dict:
    """Load one page and append its problems; the image report of the page."""
    url = base + page
    browser.events.clear()
    result = browser.call("Page.navigate", url=url)
    if result.get("errorText"):
        problems.append(f"{page}: navigation failed ({result['errorText']})")
        return {}
    if not browser.wait_for("Page.loadEventFired"):
        problems.append(f"{page}: no load event within {browser.timeout:g} s")
    report = browser.call("Runtime.evaluate", expression=IMAGES_JS, awaitPromise=True,
                          returnByValue=True, timeout=int(browser.timeout * 1000))
    if "exceptionDetails" in report:
        problems.append(f"{page}: image check failed: {report['exceptionDetails']}")
        return {}
    info = report["result"]["value"]
    requests = {}
    for event in browser.events:
        params = event.get("params", {})
        if event["method"] == "Network.requestWillBeSent":
            requests[params["requestId"]] = params["request"]["url"]
        elif event["method"] == "Network.responseReceived":
            response = params["response"]
            if response["url"] == base + "favicon.ico":
                continue  # asked for by the browser itself, not by the page
            if response["status"] >= 400:
                problems.append(f"{page}: HTTP {response['status']} for {response['url']}")
        elif event["method"] == "Network.loadingFailed":
            if params.get("canceled"):
                continue
            problems.append(f"{page}: failed to load "
                            f"{requests.get(params['requestId'], '?')} ({params['errorText']})")
        elif event["method"] == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            problems.append(f"{page}: JavaScript exception: {text}")
    foreign = sorted({u for u in requests.values()
                      if urlsplit(u).scheme in ("http", "https") and not u.startswith(base)})
    for u in foreign:
        problems.append(f"{page}: request to another host: {u}")
    for img in info["images"]:
        if not img["complete"] or img["width"] <= 0:
            problems.append(f"{page}: image does not render: {img['src']} "
                            f"(complete={img['complete']}, natural width {img['width']})")
    check_layout(browser, page, problems)
    return info


def check_layout(browser: Browser, page: str, problems: list[str]) -> None:
    """Append the layout problems of the loaded page at WINDOW: top links wrapping, an
    empty left sidebar, code cut off."""
    report = browser.call("Runtime.evaluate", expression=LAYOUT_JS, returnByValue=True)
    if "exceptionDetails" in report:
        problems.append(f"{page}: layout check failed: {report['exceptionDetails']}")
        return
    layout = report["result"]["value"]
    size = f"{WINDOW[0]}x{WINDOW[1]}"
    if layout["navRows"] > 1:
        problems.append(f"{page}: the top navigation wraps to {layout['navRows']} lines "
                        f"at {size}")
    if layout["sidebarShown"] and layout["sidebarLinks"] == 0:
        problems.append(f"{page}: the left sidebar is shown but empty at {size}")
    for line in layout["cut"]:
        problems.append(f"{page}: code cut off at {size}, its longest line: {line[:60]!r}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?",
                        default=str(Path(__file__).resolve().parent / "_build" / "html"),
                        help="the built HTML site (default docs/_build/html)")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "chromium"),
                        help="Chromium executable (default chromium, or $CHROMIUM)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds allowed per page (default 30)")
    parser.add_argument("--screenshots", metavar="DIR", default=None,
                        help="also save the window's view of the index, the API page and "
                             "every gallery page as PNG files in DIR")
    args = parser.parse_args(argv)

    site = Path(args.site).resolve()
    if not (site / "index.html").is_file():
        print(f"check_site: no index.html in {site}; build the site first", file=sys.stderr)
        return 2
    executable = shutil.which(args.chromium)
    if executable is None:
        print(f"check_site: {args.chromium!r} not found (apt-get install chromium)",
              file=sys.stderr)
        return 2
    # the site's pages (the theme's _static/ holds HTML templates that are no pages)
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                   if not p.relative_to(site).as_posix().startswith("_static/"))
    server, base = serve(site)
    browser = Browser(executable, args.timeout)
    problems: list[str] = []
    n_images = 0
    gallery: dict[str, int] = {}
    started = time.monotonic()
    try:
        print(f"check_site: {browser.version}, {len(pages)} pages from {site} at {base}")
        shots = Path(args.screenshots) if args.screenshots else None
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
        for page in pages:
            info = check_page(browser, base, page, problems)
            if shots is not None and (page in ("index.html", "api.html")
                                      or page.startswith("auto_examples/")):
                browser.screenshot(shots / (page[:-len(".html")].replace("/", "_") + ".png"))
            images = info.get("images", [])
            n_images += len(images)
            if page.startswith("auto_examples/") and page != "auto_examples/index.html":
                figures = [i for i in images if "sphx-glr" in i["cls"] and i["width"] > 0]
                gallery[page] = len(figures)
                downloads = " ".join(info.get("downloads", []))
                for suffix in (".py", ".ipynb"):
                    if suffix not in downloads:
                        problems.append(f"{page}: no {suffix} download link")
            if page == "auto_examples/index.html":
                thumbs = [i for i in images if "_thumb" in i["src"] and i["width"] > 0]
                gallery[page] = len(thumbs)
    finally:
        browser.close()
        server.shutdown()
    # the gallery pages of examples that draw figures must show them
    for page, count in sorted(gallery.items()):
        print(f"  gallery  {page}: {count} rendered "
              f"{'thumbnail' if page.endswith('index.html') else 'figure'}(s)")
    for page in gallery:
        source = Path(page).stem
        script = Path(__file__).resolve().parent.parent / "examples" / f"{source}.py"
        if script.is_file() and "plt." in script.read_text(encoding="utf-8") \
                and gallery[page] == 0:
            problems.append(f"{page}: the example draws figures but the page shows none")
    for problem in problems:
        print(f"  FAIL  {problem}")
    elapsed = time.monotonic() - started
    print(f"check_site: {len(pages)} pages, {n_images} images "
          f"({sum(v for k, v in gallery.items() if not k.endswith('index.html'))} gallery "
          f"figures), {len(problems)} problem(s), {elapsed:.1f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
