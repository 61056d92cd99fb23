"""The invoice in a real browser: shown on the order page, delivered (printed or
e-mailed), e-mailed again on request and then listed among the customer's e-mails;
then logging out."""

import re
import time

import pytest
from selenium.webdriver.common.by import By

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), pytest.mark.capability("invoice")]

WAIT_SECONDS = 20


def buy_and_wait_for_delivery(shop, customer: int, product_id: int) -> str:
    """Log in, buy one product and wait on its order page until the invoice is
    delivered; returns the invoice number."""
    shop.open("/login")
    shop.log_in(customer)
    shop.add_to_cart(product_id, 1)
    shop.open("/checkout")
    shop.fill_card("4242424242424242")
    shop.click_and_wait("#pay")
    assert shop.path.startswith("/orders/"), shop.alerts()

    number = shop.text("#invoice-number")
    assert re.fullmatch(r"RS-\d{4}-\d{6,}", number)
    deadline = time.monotonic() + WAIT_SECONDS
    while shop.find("#delivery-status").get_attribute("data-status") == "pending":
        assert time.monotonic() < deadline, "the invoice stayed pending"
        time.sleep(0.5)
        shop.driver.refresh()
    return number


def test_invoice_delivery_email_and_logout(arch, shop):
    number = buy_and_wait_for_delivery(shop, 4, 5)
    invoice = shop.text("#invoice")
    assert number in invoice and "VAT 21%" in invoice
    shop.shot("order-invoice")
    assert shop.text("#delivery-status") in ("Printed", "E-mailed")

    shop.click_and_wait("#email-invoice")
    shop.shot("invoice-emailed")
    assert "Invoice sent to customer4@rackshop.test." in shop.alerts()

    shop.click_and_wait("#logout")
    shop.shot("logged-out")
    assert shop.path == "/"
    assert shop.has("#login-link") and not shop.has("#customer-name")
    assert not shop.has("#emails-link")
    assert shop.text("#cart-count") == "0"


def test_the_emailed_invoice_is_listed_among_the_customers_emails(arch, shop):
    number = buy_and_wait_for_delivery(shop, 8, 6)
    order_path = shop.path
    delivery = shop.text("#delivery-status")

    shop.click_and_wait("#email-invoice")
    assert "Invoice sent to customer8@rackshop.test." in shop.alerts()
    # A build may send the e-mail after answering: wait for the page to show it.
    deadline = time.monotonic() + WAIT_SECONDS
    while not shop.has("#emailed-at"):
        assert time.monotonic() < deadline, "the order page never showed the e-mail"
        time.sleep(0.5)
        shop.driver.refresh()
    assert shop.text("#emailed-at").startswith("E-mailed on ")
    assert shop.text("#delivery-status") == delivery  # a copy is no delivery

    shop.click_and_wait("#emails-link")
    assert shop.path == "/account/emails"
    while not shop.find_all('#email-list .email[data-kind="invoice_copy"]'):
        assert time.monotonic() < deadline, "the e-mail never showed on the e-mails page"
        time.sleep(0.5)
        shop.driver.refresh()
    newest = shop.find("#email-list .email")
    assert newest.get_attribute("data-kind") == "invoice_copy"
    assert number in newest.find_element(By.CSS_SELECTOR, ".email-subject").text
    assert newest.find_element(By.CSS_SELECTOR, ".email-kind").text == "Copy you asked for"
    body = newest.find_element(By.CSS_SELECTOR, ".email-body pre")
    assert not body.is_displayed()  # folded away until asked for
    newest.find_element(By.CSS_SELECTOR, ".email-body summary").click()
    shop.wait_for(lambda _: body.is_displayed())
    assert number in body.text and "VAT 21%" in body.text
    shop.shot("emails")

    link = newest.find_element(By.CSS_SELECTOR, ".email-order")
    assert link.get_attribute("href").endswith(order_path)
    shop.click_and_wait("#email-list .email .email-order")
    assert shop.path == order_path
    shop.click_and_wait("#order-emails-link")
    assert shop.path == "/account/emails"
