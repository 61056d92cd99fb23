"""The invoice in a real browser: shown on the order page, delivered (printed or
e-mailed), e-mailed again on request; then logging out."""

import re
import time

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), pytest.mark.capability("invoice")]

DELIVERY_WAIT_SECONDS = 20


def test_invoice_delivery_email_and_logout(arch, shop):
    shop.open("/login")
    shop.log_in(4)
    shop.add_to_cart(5, 1)
    shop.open("/checkout")
    shop.fill_card("4242424242424242")
    shop.click_and_wait("#pay")
    assert shop.path.startswith("/orders/"), shop.alerts()

    number = shop.text("#invoice-number")
    assert re.fullmatch(r"RS-\d{4}-\d{6,}", number)
    invoice = shop.text("#invoice")
    assert number in invoice and "VAT 21%" in invoice

    deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
    while shop.find("#delivery-status").get_attribute("data-status") == "pending":
        assert time.monotonic() < deadline, "the invoice stayed pending"
        time.sleep(0.5)
        shop.driver.refresh()
    shop.shot("order-invoice")
    assert shop.text("#delivery-status") in ("Printed", "E-mailed")

    shop.click_and_wait("#email-invoice")
    shop.shot("invoice-emailed")
    assert "Invoice sent to customer4@rackshop.test." in shop.alerts()

    shop.click_and_wait("#logout")
    shop.shot("logged-out")
    assert shop.path == "/"
    assert shop.has("#login-link") and not shop.has("#customer-name")
    assert shop.text("#cart-count") == "0"
