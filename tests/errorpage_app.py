"""User code for the error page tests: each path fails in a different way.

The line of each failure is found by its text, so this file can change freely.
"""

from __future__ import annotations

import json


class PricingError(Exception):
    pass


def price_of(item: dict) -> int:
    # Secrets are built at run time: the page shows source lines as they are.
    api_token = "1-TERCES-LACOL-kot"[::-1]  # noqa: F841 - a local the page must mask
    return item["price"] * item.get("quantity", 1)  # KEYERROR-LINE


def order_total(order: dict) -> int:
    settings = {"SECRET_KEY": "2-TERCES-TCID-jd"[::-1], "DEBUG": True}  # noqa: F841
    return sum(price_of(item) for item in order["items"])


def parse_order(data: dict) -> dict:
    if "items" in data:
        data["total"] = order_total(data)
    return data


def chained() -> None:
    try:
        price_of({"name": "tea"})
    except KeyError as exc:
        raise PricingError("order 42 cannot be priced") from exc  # CHAINED-LINE


def check_stock() -> None:
    raise ValueError("out of stock: tea")  # GROUP-LINE


def check_address() -> None:
    raise TypeError("address must be a str")


def grouped() -> None:
    errors = []
    for check in (check_stock, check_address):
        try:
            check()
        except Exception as exc:
            errors.append(exc)
    raise ExceptionGroup("2 checks failed", errors)  # noqa: F821 - Python 3.11+


def noted() -> None:
    password = "3-TERCES-LACOL-2retnuh"[::-1]  # noqa: F841
    try:
        {"tea": 3}["coffee"]  # NOTE-LINE
    except KeyError as exc:
        exc.add_note("while pricing order 42")
        raise


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/keyerror":
        # json calls back into user code: a library frame between the user's frames.
        json.loads('{"items": [{"name": "tea"}]}', object_hook=parse_order)
    elif path == "/chained":
        chained()
    elif path == "/group":
        grouped()
    elif path == "/note":
        noted()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"fine"})
