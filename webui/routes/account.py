"""Logging in and out."""

from flask import Blueprint, flash, redirect, render_template, request

from .. import auth, csrf, forms
from ..backend import BackendError, ShopBackend
from ..rendering import explain

MAX_EMAIL, MAX_PASSWORD = 254, 200  # the contract's LoginRequest limits


def register(bp: Blueprint, backend: ShopBackend) -> None:
    """Add the login and logout routes."""

    @bp.get("/login")
    def login():
        next_path = auth.safe_next(request.args.get("next"))
        if auth.token():
            return redirect(next_path)
        return render_template("login.html", email="", next_path=next_path, error=None)

    @bp.post("/login")
    def login_submit():
        next_path = auth.safe_next(request.form.get("next"))
        email = forms.clean_text(request.form.get("email"), MAX_EMAIL)
        password = request.form.get("password", "")
        try:
            if not email or not password or len(password) > MAX_PASSWORD or "\x00" in password:
                # No stored credential looks like this: the answer is simply "wrong".
                raise BackendError("invalid_credentials", "wrong e-mail or password", 401)
            answer = backend.login(email, password)
        except BackendError as exc:
            error = ("Wrong e-mail or password." if exc.code == "invalid_credentials"
                     else explain(exc))
            return render_template("login.html", email=email, next_path=next_path,
                                   error=error), exc.status
        auth.remember(answer)
        csrf.renew()
        flash(f"Welcome back, {answer['customer']['name']}!", "success")
        return redirect(next_path)

    @bp.post("/logout")
    def logout():
        auth.forget()
        flash("You are logged out. See you soon!", "success")
        return redirect("/")
