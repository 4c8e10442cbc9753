"""Open every page of the reports site in headless Chromium and fail on anything a reader would see broken.

    python tools/site_check.py [--reports reports] [--shots reports/.screenshots]

Pages: reports/index.html and reports/site/*.html. For each, at a 1280 px wide window: a console error or
an uncaught exception, a resource that failed to load, an image that did not decode, a link to a local
file that does not exist (or to an #anchor the target page lacks), a page wider than the window
(horizontal scrolling), a table wider than its column. A full-page screenshot of each goes to --shots.
Exit 1 with one line per problem.

Chromium is driven through its DevTools protocol (`--remote-debugging-port`, the `websocket-client`
package); it is Debian's `chromium` (`apt-get install chromium`). External (http) links are listed, not
fetched: the check runs offline. The executed notebooks (notebook.html) are linked and checked to exist,
not opened (nbconvert's pages load scripts from a CDN).
"""

import argparse
import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

WIDTH, HEIGHT = 1280, 900
MAX_SHOT_HEIGHT = 16000  # px; a taller page is cut (Chromium's texture limit is ~16k)
ROOT = Path(__file__).resolve().parents[1]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path
    return None


class Browser:
    """One headless Chromium, one tab, spoken to over the DevTools websocket."""

    def __init__(self, binary: str):
        import websocket  # websocket-client

        self.profile = tempfile.mkdtemp(prefix="avlab-chromium-")
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             "--disable-extensions", "--allow-file-access-from-files", f"--user-data-dir={self.profile}",
             "--remote-debugging-port=0", f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = self._port()
        deadline = time.time() + 30
        while True:
            try:
                tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5))
                ws_url = next(t["webSocketDebuggerUrl"] for t in tabs if t["type"] == "page")
                break
            except (OSError, StopIteration):
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id, self.events = 0, []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1,
                  mobile=False)

    def _port(self) -> int:
        deadline = time.time() + 30
        for line in self.proc.stderr:  # "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/..."
            if m := re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line):
                return int(m[1])
            if time.time() > deadline:
                break
        raise RuntimeError("chromium did not start its DevTools server")

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str, timeout: float = 30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i, msg in enumerate(self.events):
                if msg.get("method") == event:
                    del self.events[: i + 1]
                    return msg
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(event)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


PAGE_FACTS = """(async () => {
  await Promise.all([...document.images].map(i => i.decode().catch(() => null)));
  return {
    broken_images: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    wide_tables: [...document.querySelectorAll('table')].filter(t => t.parentElement.clientWidth > 0
      && t.getBoundingClientRect().width > t.parentElement.clientWidth + 1)
      .map(t => (t.closest('[id]') || {id: '?'}).id + ': ' + [...t.querySelectorAll('th')].length + ' columns'),
    scroll_width: document.documentElement.scrollWidth,
    window_width: window.innerWidth,
    height: document.documentElement.scrollHeight,
  };
})()"""


def _ids_of(path: Path) -> set[str]:
    return set(re.findall(r"""\bid=['"]([^'"]+)['"]""", path.read_text(errors="replace")))


def check_page(browser: Browser, page: Path, shots: Path | None) -> list[str]:
    """The problems on one page (empty: it reads fine); saves its screenshot."""
    browser.events.clear()
    browser.call("Page.navigate", url=page.resolve().as_uri())
    browser.wait_for("Page.loadEventFired")
    facts = browser.evaluate(PAGE_FACTS)
    problems = []
    for msg in browser.events:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            problems.append(f"console error: {text}")
        elif method == "Runtime.exceptionThrown":
            problems.append(f"uncaught exception: {params['exceptionDetails'].get('text')}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            problems.append(f"console error: {params['entry']['text']} {params['entry'].get('url', '')}".strip())
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            problems.append(f"failed to load ({params.get('errorText')}): request {params.get('requestId')}")
    problems += [f"broken image: {src}" for src in facts["broken_images"]]
    for href in facts["links"]:
        url = urlparse(href)
        if url.scheme != "file":
            continue  # http(s), mailto: not fetched offline
        target = Path(unquote(url.path))
        if not target.exists():
            problems.append(f"broken link: {href}")
        elif url.fragment and target.suffix == ".html":
            ids = set(facts["ids"]) if target.resolve() == page.resolve() else _ids_of(target)
            if unquote(url.fragment) not in ids:
                problems.append(f"broken anchor: {href}")
    problems += [f"table wider than its column (it scrolls inside its box): {t}" for t in facts["wide_tables"]]
    if facts["scroll_width"] > facts["window_width"]:
        problems.append(f"horizontal scrolling: the page is {facts['scroll_width']} px wide in a "
                        f"{facts['window_width']} px window")
    if shots is not None:
        height = min(max(facts["height"], HEIGHT), MAX_SHOT_HEIGHT)
        shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                            clip={"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1})
        shots.mkdir(parents=True, exist_ok=True)
        name = "index" if page.name == "index.html" else page.stem
        (shots / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
    return problems


def site_pages(reports: Path) -> list[Path]:
    return [reports / "index.html", *sorted((reports / "site").glob("*.html"))]


def check_site(reports: Path, shots: Path | None = None, binary: str | None = None) -> dict[str, list[str]]:
    """{page: problems} for every page of the site (a missing index.html is itself a problem)."""
    binary = binary or find_chromium()
    if binary is None:
        raise FileNotFoundError("no chromium on PATH: `apt-get install chromium` (Debian) and rerun")
    pages = site_pages(Path(reports))
    if not pages[0].exists():
        return {str(pages[0]): ["missing: build it with `python tools/build_index.py`"]}
    browser = Browser(binary)
    try:
        return {str(p): check_page(browser, p, shots) for p in pages}
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", default=str(ROOT / "reports"))
    parser.add_argument("--shots", default=str(ROOT / "reports" / ".screenshots"))
    args = parser.parse_args()
    results = check_site(Path(args.reports), Path(args.shots))
    bad = [f"{page}: {problem}" for page, problems in results.items() for problem in problems]
    print("\n".join(bad) if bad else f"{len(results)} pages open cleanly; screenshots in {args.shots}")
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
