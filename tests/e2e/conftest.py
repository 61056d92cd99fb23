"""Browser tests' fixtures: one headless Chromium for the session, driven by Selenium
through the system's chromedriver, and a `shop` helper per test that starts with no
cookies and saves a full-page screenshot of every page it visits to
test-output/screenshots/<arch>/<NN>-<page>.png."""

import base64
import os
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from shop.seed import LOADTEST_PASSWORD, generate_customers

CHROMIUM = os.environ.get("ARCHLAB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ARCHLAB_CHROMEDRIVER", "/usr/bin/chromedriver")
WINDOW = (1366, 900)
WAIT_SECONDS = 15
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
# The network is closed and nothing here needs it: no updates, sync or first-run pages.
CHROMIUM_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}")


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


@pytest.fixture(scope="session")
def driver(tmp_path_factory):
    """A headless Chromium, 1366x900; skips when Chromium or chromedriver is absent."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not _executable(p)]
    if missing:
        pytest.skip(f"browser tests need {' and '.join(missing)} (apt install chromium "
                    "chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    # An explicit driver path keeps Selenium Manager from looking for one online.
    browser = webdriver.Chrome(options=options,
                               service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    browser.set_window_size(*WINDOW)
    browser.set_page_load_timeout(30)
    browser.set_script_timeout(30)
    yield browser
    browser.quit()


@pytest.fixture(scope="session")
def shot_numbers():
    """Per architecture, the number of the next screenshot (its folder emptied first)."""
    return {}


class Shop:
    """The shop as a person sees it in the browser, plus screenshots of each page."""

    def __init__(self, driver, base_url: str, arch_name: str, numbers: dict):
        self.driver = driver
        self.base_url = base_url
        self.arch_name = arch_name
        self.numbers = numbers

    # -- looking ---------------------------------------------------------------
    def find(self, css: str):
        """The first element matching a CSS selector."""
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list:
        """Every element matching a CSS selector."""
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        """The visible text of the first match."""
        return self.find(css).text

    def has(self, css: str) -> bool:
        """True when something matches."""
        return bool(self.find_all(css))

    @property
    def path(self) -> str:
        """The current URL without the base: path and query."""
        return self.driver.current_url.removeprefix(self.base_url)

    def alerts(self) -> str:
        """The text of the page's messages (flashes and inline errors)."""
        return " ".join(a.text for a in self.find_all(".alert"))

    # -- acting ----------------------------------------------------------------
    def open(self, path: str) -> None:
        """Load a page of the shop."""
        self.driver.get(self.base_url + path)

    def type(self, css: str, value: str) -> None:
        """Replace a field's value."""
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def click_and_wait(self, css: str) -> None:
        """Click something that loads a new page, and wait until it has."""
        # Mark the current document and wait for one without the mark. (Waiting for the
        # old <html> element to go stale races chromedriver: it sometimes reports the
        # vanished node as an inspector error instead of a stale element.)
        self.driver.execute_script("window.__archlabOldPage = true")
        self.find(css).click()
        # A script may fail while the page is being replaced; that is "not yet".
        WebDriverWait(self.driver, WAIT_SECONDS, ignored_exceptions=(WebDriverException,)
                      ).until(lambda d: d.execute_script(
            "return !window.__archlabOldPage && document.readyState === 'complete'"))

    def wait_for(self, condition, seconds: float = WAIT_SECONDS):
        """Wait until condition(driver) is truthy; return its value."""
        return WebDriverWait(self.driver, seconds).until(condition)

    def log_in(self, n: int) -> str:
        """Log in as seeded customer n from the page the browser is on (the login page)."""
        self.type("#email", f"customer{n}@rackshop.test")
        self.type("#password", LOADTEST_PASSWORD)
        self.click_and_wait("#login-submit")
        name = generate_customers()[n - 1].name
        assert self.text("#customer-name") == name
        return name

    def add_to_cart(self, product_id: int, quantity: int) -> None:
        """Add from the product page, landing on the cart."""
        self.open(f"/products/{product_id}")
        self.type("#quantity", str(quantity))
        self.click_and_wait("#add-to-cart")
        assert self.path == "/cart", self.alerts()

    def fill_card(self, number: str) -> None:
        """Fill the checkout form with a card that expires in the future."""
        self.type("#card_number", number)
        self.type("#holder", "Ada Lovelace")
        self.type("#exp_month", "12")
        self.type("#exp_year", "2035")
        self.type("#cvc", "123")

    def shot(self, page: str) -> Path:
        """Save a full-page screenshot as <NN>-<page>.png."""
        folder = SCREENSHOTS / self.arch_name
        if self.arch_name not in self.numbers:
            shutil.rmtree(folder, ignore_errors=True)
            self.numbers[self.arch_name] = 1
        folder.mkdir(parents=True, exist_ok=True)
        number = self.numbers[self.arch_name]
        self.numbers[self.arch_name] += 1
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        png = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip})["data"]
        target = folder / f"{number:02d}-{page}.png"
        target.write_bytes(base64.b64decode(png))
        return target


@pytest.fixture
def shop(driver, arch, shot_numbers) -> Shop:
    """The browser on a freshly reseeded architecture, with no cookies from earlier tests."""
    s = Shop(driver, arch.base_url, arch.name, shot_numbers)
    s.open("/static/shop/shop.css")  # any page of the site, so its cookies can be dropped
    driver.delete_all_cookies()
    return s
