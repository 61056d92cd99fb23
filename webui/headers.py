"""Security headers every answer of both builds carries, defined once here.

The pages use no inline script or style and load nothing from elsewhere (one stylesheet,
one icon, forms that post to the shop itself), so the policy allows only the shop's own
origin, and no site may frame a page (clickjacking).
"""

from flask import Response

CONTENT_SECURITY_POLICY = ("default-src 'self'; object-src 'none'; base-uri 'self'; "
                           "form-action 'self'; frame-ancestors 'none'")

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # Browsers take the declared Content-Type, never a guess from the body.
    "X-Content-Type-Options": "nosniff",
    # Other sites learn the shop's origin from a link, never a page's path or search.
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def add_security_headers(response: Response) -> Response:
    """Give `response` each security header it does not set itself."""
    headers = response.headers
    # The names present, read once: werkzeug's setdefault looks each name up by raising
    # and catching a KeyError when it is missing, ~5 us a header on every answer
    # (docs/profiling.md).
    present = {name.lower() for name, _ in headers.items()}
    for name, value in SECURITY_HEADERS.items():
        if name.lower() not in present:
            headers.add(name, value)
    return response
