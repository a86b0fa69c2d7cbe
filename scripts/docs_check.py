"""Open every page of the built site and the demo's report in headless chromium, and check them.

``make docs-check`` runs this after ``make docs``. For each page, opened from disk (file://,
as a reader who downloads the site would), it checks that:

* the page renders: it has a title and visible text;
* every image loads (``naturalWidth > 0`` once loaded, lazy images included);
* the browser logs no error (failed requests and JavaScript errors are logged as such);
* nothing is fetched from the network: every resource the page loads is a local file (or a
  data/blob URL), so the site reads the same offline;

and it saves a screenshot of the whole page to ``build/docs-check/`` (look at them). On the
home page it also types a query into the search box and expects results, which checks that
search works without a server. The demo's ``idgrad-demo/report.html`` is checked the same
way; when it does not exist, a small demo (4 steps, 64-pixel photos) is made for the check.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium
chromium-driver``) and selenium (the ``docs`` extra); says in one line what is missing.
Exit status: 0 when every page passes, 1 when one fails, 2 when something is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)
WIDTH, MAX_HEIGHT = 1280, 6000

# resolves once every <img> has loaded or failed (lazy ones are made eager first)
IMAGES_JS = """
const done = arguments[arguments.length - 1];
const imgs = Array.from(document.images);
imgs.forEach((img) => { img.loading = "eager"; });
Promise.all(imgs.map((img) => img.complete ? null :
    new Promise((ok) => { img.addEventListener("load", ok); img.addEventListener("error", ok); })))
  .then(() => done(imgs.map((img) => [img.currentSrc || img.src, img.naturalWidth])));
"""
RESOURCES_JS = "return performance.getEntriesByType('resource').map((e) => e.name);"


@dataclass
class PageResult:
    """What was found on one page."""

    name: str
    problems: list[str] = field(default_factory=list)
    found: str = ""  # what was seen: images loaded, search results
    screenshot: str = ""


def _missing_line() -> str | None:
    """One line naming what is missing, or None."""
    if not any(shutil.which(b) for b in BROWSERS) or not any(shutil.which(d) for d in DRIVERS):
        return (
            "docs-check needs Debian's chromium and chromium-driver: "
            "apt-get install -y chromium chromium-driver"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return 'docs-check needs selenium: pip install -c constraints.txt -e ".[docs]"'
    return None


def _driver() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # selenium must not try to fetch a driver
    options = webdriver.ChromeOptions()
    options.binary_location = next(str(shutil.which(b)) for b in BROWSERS if shutil.which(b))
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--window-size={WIDTH},900",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = next(str(shutil.which(d)) for d in DRIVERS if shutil.which(d))
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    return driver


def _local(url: str) -> bool:
    return url.startswith(("file:", "data:", "blob:", "about:"))


def check_page(driver: Any, path: Path, name: str, shots: Path) -> PageResult:
    """Load one page and collect its problems; save its screenshot."""
    result = PageResult(name)
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(path.resolve().as_uri())
    deadline = time.time() + 30
    while driver.execute_script("return document.readyState") != "complete":
        if time.time() > deadline:
            result.problems.append("did not finish loading in 30 s")
            break
        time.sleep(0.1)
    title = driver.title.strip()
    text = driver.execute_script("return document.body ? document.body.innerText : ''") or ""
    if not title:
        result.problems.append("no <title>")
    if len(text.strip()) < 20:
        result.problems.append(f"renders almost no text ({len(text.strip())} characters)")
    images = driver.execute_async_script(IMAGES_JS)
    result.found = f"{len(images)} images"
    for src, width in images:
        if not width:
            result.problems.append(f"image does not load: {src}")
    time.sleep(0.3)  # let late scripts log
    for entry in driver.get_log("browser"):
        if entry.get("level") == "SEVERE":
            result.problems.append(f"console error: {entry.get('message', '')[:300]}")
    for url in driver.execute_script(RESOURCES_JS):
        if not _local(url):
            result.problems.append(f"fetched from the network: {url}")
    height = int(driver.execute_script("return document.documentElement.scrollHeight") or 900)
    driver.set_window_size(WIDTH, min(max(height, 600), MAX_HEIGHT))
    shot = shots / (name.replace("/", "__").removesuffix(".html") + ".png")
    driver.save_screenshot(str(shot))
    driver.set_window_size(WIDTH, 900)
    result.screenshot = str(shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot)
    return result


def check_search(driver: Any, index: Path, query: str, shots: Path) -> PageResult:
    """Type ``query`` into the site's search box and expect at least one result."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    result = PageResult(f"search for {query!r}")
    driver.get_log("browser")
    driver.get(index.resolve().as_uri())
    try:
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(driver).send_keys("s").perform()  # the theme's search shortcut
        box = WebDriverWait(driver, 10).until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, "input.md-search__input"))
        )
        box.send_keys(query)
        WebDriverWait(driver, 20).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item")
        )
        hits = driver.find_elements(By.CSS_SELECTOR, ".md-search-result__item")
        result.found = f"{len(hits)} results"
    except Exception as err:  # noqa: BLE001 - any failure here is the finding
        result.problems.append(f"search shows no results: {type(err).__name__}: {err}"[:300])
    for entry in driver.get_log("browser"):
        if entry.get("level") == "SEVERE":
            result.problems.append(f"console error: {entry.get('message', '')[:300]}")
    shot = shots / "search.png"
    driver.save_screenshot(str(shot))
    result.screenshot = str(shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot)
    return result


def _demo_report(report: Path, out: Path) -> Path:
    """``report`` if it exists, else a small demo's report made in ``out``."""
    if report.exists():
        return report
    print(f"{report} does not exist: making a small demo in {out} (4 steps, 64-pixel photos)")
    idgrad = Path(sys.executable).with_name("idgrad")
    command = [str(idgrad)] if idgrad.exists() else [sys.executable, "-m", "idgrad.cli"]
    small = ["--steps", "4", "--image-size", "64", "--no-progress", "--out", str(out)]
    subprocess.run(
        [*command, "demo", *small],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out / "report.html"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "site", help="the built site")
    parser.add_argument(
        "--report",
        type=Path,
        default=ROOT / "idgrad-demo" / "report.html",
        help="the demo's report (default: idgrad-demo/report.html; made small if missing)",
    )
    parser.add_argument("--no-report", action="store_true", help="check the site only")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "build" / "docs-check", help="screenshots go here"
    )
    args = parser.parse_args(argv)

    missing = _missing_line()
    if missing:
        print(missing)
        return 2
    if not (args.site / "index.html").exists():
        print(f"no site at {args.site}: run `make docs` first")
        return 2
    shots = args.out / "screenshots"
    if shots.exists():
        shutil.rmtree(shots)
    shots.mkdir(parents=True)

    pages = sorted(
        p for p in args.site.rglob("*.html") if p.name != "404.html" and "assets" not in p.parts
    )
    targets = [(p, str(p.relative_to(args.site))) for p in pages]
    if not args.no_report:
        report = _demo_report(args.report, args.out / "demo")
        targets.append((report, "demo-report/report.html"))

    driver = _driver()
    results: list[PageResult] = []
    try:
        for path, name in targets:
            results.append(check_page(driver, path, name, shots))
        results.append(check_search(driver, args.site / "index.html", "insertion", shots))
    finally:
        driver.quit()

    failed = [r for r in results if r.problems]
    for r in results:
        status = "FAIL" if r.problems else "ok  "
        print(f"{status} {r.name:38s} {r.found:11s} {r.screenshot}")
        for problem in r.problems:
            print(f"       {problem}")
    summary = {r.name: {"problems": r.problems, "found": r.found} for r in results}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(
        f"{len(results) - len(failed)} passed, {len(failed)} failed "
        f"({len(targets)} pages + search; screenshots in {shots})"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
