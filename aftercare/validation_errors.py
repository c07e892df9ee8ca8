"""What a pydantic ``ValidationError`` says, told without the data that failed.

pydantic's own message quotes the offending input, and the input is a customer's (an
address, an email). These messages go to the store in a 422, to the inbox record an operator
reads, and to the logs, so they name each failing field and what is wrong with it, never its
value.
"""

from __future__ import annotations

from pydantic import ValidationError


def field_problems(error: ValidationError) -> str:
    """``order.currency: Value error, …; customer.email: …``: each field that failed, and why.

    A problem with the whole object (a model validator's) is named ``event``.
    """
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'event'}: {problem['msg']}"
        for problem in error.errors(include_input=False, include_url=False)
    )
