"""The tiny cruise's report in a real browser: headless Chromium, driven by Selenium.

The page must load without a console error, every figure must decode, every section of the
template must be there (with its heading and some content), every link of the navigation must
land on a section, and nothing may be fetched from outside the file (it is self-contained).

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``.ci/install-browser``) and
``selenium`` (the ``test`` extra). The test is skipped, with the reason, only where Chromium is
not installed or cannot start; with ``PLANKTONLM_REQUIRE_BROWSER=1`` (CI) it fails there instead.
"""

from __future__ import annotations

import os
import shutil
import warnings

import pytest

from planktonlm.report import SECTION_IDS

pytestmark = pytest.mark.workflow

#: the ids test_workflow.test_every_stage_writes_its_contract checks; the template renders every SECTION_IDS
CONTRACT_IDS = ("overview", "cruise", "read-accounting", "training", "dbrda", "predictions", "comparison", "provenance")
PAGE_TIMEOUT_S = 120


def _skip(reason: str) -> None:
    """Skip loudly: the reason goes to the skip summary (-ra) and to the warnings summary (CI: fail)."""
    if os.environ.get("PLANKTONLM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"PLANKTONLM_REQUIRE_BROWSER=1 but {reason}")
    warnings.warn(f"report browser test skipped: {reason}", stacklevel=2)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:  # selenium is in the test extra: a missing one is a broken install, not a skip
        pytest.fail(f"selenium is not installed ({error}): pip install -e '.[test]'")
    binary = next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        _skip(f"Chromium not installed (chromium: {binary}, chromedriver: {driver_path}); run .ci/install-browser")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,2000", "--allow-file-access-from-files"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
    except WebDriverException as error:
        _skip(f"Chromium ({binary}) did not start: {str(error).strip().splitlines()[0]}")
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    driver.set_script_timeout(PAGE_TIMEOUT_S)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(browser, tiny_full_run):
    """The report loaded (document complete), and the console messages of loading it."""
    report = tiny_full_run / "results" / "report.html"
    assert report.stat().st_size > 0
    browser.get_log("browser")  # drop anything from before this page
    browser.get(report.resolve().as_uri())
    ready = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (document.readyState === 'complete') { done(true); }"
        "else { window.addEventListener('load', () => done(true)); }")
    assert ready
    return browser, browser.get_log("browser")


def test_report_loads_without_console_errors(page):
    driver, console = page
    severe = [entry for entry in console if entry["level"] == "SEVERE"]
    assert not severe, "console errors:\n" + "\n".join(entry["message"] for entry in severe)
    assert driver.title, "the page has no title"
    assert driver.execute_script("return document.querySelectorAll('script').length") == 0, "the report carries a script"


def test_every_image_decodes(page):
    driver, _ = page
    images = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const images = Array.from(document.images);
        Promise.all(images.map((img, i) => img.decode().then(() => null, (e) => String(e)))).then((errors) => done(
            images.map((img, i) => ({index: i, alt: img.alt, complete: img.complete, width: img.naturalWidth,
                                     height: img.naturalHeight, data: img.currentSrc.startsWith('data:image/'),
                                     error: errors[i]}))));
    """)
    assert images, "the report has no figure"
    broken = [img for img in images if not (img["complete"] and img["width"] > 0 and img["height"] > 0) or img["error"]]
    assert not broken, f"{len(broken)} of {len(images)} images do not decode: {broken}"
    external = [img for img in images if not img["data"]]
    assert not external, f"images not embedded as data URIs: {external}"
    print(f"\n[browser] {len(images)} images decode")


def test_every_section_is_there(page):
    driver, _ = page
    sections = driver.execute_script("""
        return Array.from(document.querySelectorAll('section[id]')).map((s) => ({
            id: s.id, heading: (s.querySelector('h2') || {}).textContent || '',
            content: s.children.length - 1, shown: s.getBoundingClientRect().height > 0}));
    """)
    ids = [s["id"] for s in sections]
    assert len(ids) == len(set(ids)), f"duplicate section ids: {ids}"
    for wanted in (*CONTRACT_IDS, *SECTION_IDS):
        assert wanted in ids, f"section {wanted!r} missing from the page (has {ids})"
    assert ids == list(SECTION_IDS), "sections out of the template's order"
    empty = [s["id"] for s in sections if not s["heading"].strip() or s["content"] < 1 or not s["shown"]]
    assert not empty, f"sections without a heading, content or height: {empty}"
    links = driver.execute_script(
        "return Array.from(document.querySelectorAll('nav a')).map((a) => a.getAttribute('href'));")
    assert links == [f"#{section_id}" for section_id in SECTION_IDS], f"navigation links: {links}"
    print(f"\n[browser] {len(ids)} sections: {', '.join(ids)}")


def test_nothing_is_fetched_from_outside(page):
    driver, _ = page
    fetched = driver.execute_script(
        "return performance.getEntriesByType('resource').map((r) => r.name).filter((n) => !n.startsWith('data:'));")
    assert not fetched, f"the self-contained report fetched: {fetched}"
