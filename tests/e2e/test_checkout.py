"""Checking out in a real browser: login on the way, paying, a declined card, and a
checkout form sent several times that still buys once."""

import pytest

from shop.seed import generate_products

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), pytest.mark.capability("checkout")]

PRODUCTS = {p.id: p for p in generate_products()}
APPROVED, DECLINED = "4242424242424242", "4000000000000002"

# Two POSTs of the checkout form in flight at once, as a double click that got through
# twice; resolves with what each answered (a redirect is "opaqueredirect").
SEND_FORM_TWICE = """
const done = arguments[arguments.length - 1];
const form = document.getElementById('checkout-form');
const send = () => fetch(form.action, {method: 'POST', credentials: 'same-origin',
                                      redirect: 'manual',
                                      body: new URLSearchParams(new FormData(form))});
Promise.all([send(), send()]).then(rs => done(rs.map(r => r.type)), e => done([String(e)]));
"""


def order_id_from(shop) -> int:
    assert shop.path.startswith("/orders/"), (shop.path, shop.alerts())
    return int(shop.path.rsplit("/", 1)[1])


def test_log_in_on_the_way_and_buy_two_products(arch, shop):
    shop.add_to_cart(3, 1)
    shop.add_to_cart(12, 2)
    shop.open("/checkout")
    shop.shot("login")
    assert shop.path == "/login?next=/checkout"
    shop.log_in(1)
    assert shop.path == "/checkout"
    shop.shot("checkout")
    assert "4242 4242 4242 4242" in shop.text("#test-cards")
    shop.fill_card(APPROVED)
    shop.click_and_wait("#pay")
    shop.shot("order")
    order_id = order_id_from(shop)
    assert "Thank you" in shop.alerts()
    assert shop.text(".order-head .order-status") == "PAID"
    lines = shop.text("#order-lines")
    assert PRODUCTS[3].name in lines and PRODUCTS[12].name in lines
    assert shop.text("#cart-count") == "0"

    shop.click_and_wait('.breadcrumb a[href="/orders"]')
    shop.shot("orders")
    rows = shop.find_all(".order-row")
    assert [r.get_attribute("data-order-id") for r in rows] == [str(order_id)]
    assert "PAID" in rows[0].text
    assert arch.stock(3)["sold"] == 1 and arch.stock(12)["sold"] == 2


def test_declined_card_sells_nothing(arch, shop):
    shop.open("/login")
    shop.log_in(2)
    shop.add_to_cart(11, 3)
    shop.open("/checkout")
    shop.fill_card(DECLINED)
    shop.click_and_wait("#pay")
    shop.shot("checkout-declined")
    assert shop.path == "/checkout"
    assert shop.text("#checkout-error") == "Your card was declined. Nothing was charged."
    assert shop.find("#holder").get_attribute("value") == "Ada Lovelace"
    assert shop.find("#card_number").get_attribute("value") == ""
    assert shop.text("#cart-count") == "3"
    assert arch.stock(11)["sold"] == 0
    assert arch.audit()["orders"]["PAID"] == 0


def test_a_checkout_form_sent_three_times_buys_once(arch, shop):
    shop.open("/login")
    shop.log_in(3)
    shop.add_to_cart(8, 1)
    shop.open("/checkout")
    shop.fill_card(APPROVED)
    answers = shop.driver.execute_async_script(SEND_FORM_TWICE)
    assert answers == ["opaqueredirect", "opaqueredirect"], answers
    # The same form once more, as after "back" and a click on Pay: the stored answer.
    shop.click_and_wait("#pay")
    shop.shot("order-after-resubmit")
    order_id = order_id_from(shop)
    assert shop.text(".order-head .order-status") == "PAID"
    shop.open("/orders")
    assert [r.get_attribute("data-order-id") for r in shop.find_all(".order-row")] == [
        str(order_id)]
    assert arch.audit()["orders"]["PAID"] == 1
    assert arch.stock(8)["sold"] == 1
