"""The catalogue (search, categories, paging) and the product page."""

from flask import Blueprint, render_template, request, session

from .. import cart, forms
from ..backend import BackendError, ShopBackend
from ..rendering import error_page, explain

PER_PAGE = 20


def register(bp: Blueprint, backend: ShopBackend) -> None:
    """Add the catalogue's routes."""

    @bp.get("/")
    def home():
        q = forms.clean_text(request.args.get("q"), forms.MAX_QUERY)
        category = forms.clean_text(request.args.get("category"), forms.MAX_CATEGORY)
        page = forms.page_number(request.args.get("page"))
        try:
            categories = backend.categories()["items"]
        except BackendError:
            categories = []  # the products still show without the category list
        try:
            result = backend.search(q or None, category or None, page, PER_PAGE)
        except BackendError as exc:
            return render_template("catalogue.html", q=q, category=category,
                                   categories=categories, result=None,
                                   error=explain(exc)), exc.status
        pages = max(1, -(-result["total"] // PER_PAGE))
        # A page number beyond the last page of a non-empty list (an old link, a typed
        # URL): said as such, with the way back, rather than as "No products found".
        past_the_end = bool(result["total"]) and not result["items"] and page > pages
        return render_template("catalogue.html", q=q, category=category,
                               categories=categories, result=result, page=page,
                               pages=pages, past_the_end=past_the_end, error=None)

    @bp.get("/products/<int:product_id>")
    def product(product_id: int):
        try:
            found = backend.product(product_id)
        except BackendError as exc:
            return error_page(exc)
        return render_template("product.html", product=found,
                               in_cart=cart.quantity_of(session, product_id))
