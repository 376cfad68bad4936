"""Mortgage arithmetic: the CRM computes payments, never the model (demo README)."""


def monthly_payment(*, price: int, down_payment: int, rate_percent: float, term_years: int) -> int:
    principal = max(price - down_payment, 0)
    months = term_years * 12
    rate = rate_percent / 100 / 12
    if rate == 0:
        return round(principal / months)
    return round(principal * rate / (1 - (1 + rate) ** -months))


def mortgage_quote(
    *, price: int, down_payment: int, rate_percent: float = 6.5, term_years: int = 30
) -> dict:
    return {
        "price": price,
        "down_payment": down_payment,
        "rate_percent": rate_percent,
        "term_years": term_years,
        "monthly_payment": monthly_payment(
            price=price, down_payment=down_payment, rate_percent=rate_percent, term_years=term_years
        ),
    }
