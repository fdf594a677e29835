"""The base of every schema that reads input: request bodies, query strings and messages.

``Strict`` refuses unknown fields and, for every field it declares (inside lists, tuples
and dictionaries too), refuses what PostgreSQL cannot hold, with a 422 naming the field
instead of a 500 from the database: a NUL character in a string, an integer outside the
32-bit range of an ``integer`` column, a date or time outside the years the system works
with. A new endpoint whose schema derives from ``Strict`` is safe without thinking of it.
Path segments are guarded by the URL converters in ``shared.web``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MAX = 2**63 - 1
# Birth dates, outcome dates, report ranges: all within these years. Python's own limits
# (year 1 to 9999) are where a day more, or a time-zone shift, overflows.
YEAR_MIN, YEAR_MAX = 1900, 2999


class NoNul(validate.Validator):
    """PostgreSQL text cannot hold U+0000."""

    error = "must not contain a NUL character (U+0000)"

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValidationError(self.error)
        return value


class Int32(validate.Range):
    """The range of PostgreSQL's ``integer``."""

    def __init__(self) -> None:
        super().__init__(min=INT32_MIN, max=INT32_MAX)


class YearRange(validate.Validator):
    """A date or date-time whose year lies in [YEAR_MIN, YEAR_MAX]."""

    error = f"must be between the years {YEAR_MIN} and {YEAR_MAX}"

    def __call__(self, value: Any) -> Any:
        if not YEAR_MIN <= value.year <= YEAR_MAX:
            raise ValidationError(self.error)
        return value


def guard(field: fields.Field) -> None:
    """Add the storage guards to ``field`` and to the fields it holds."""
    if isinstance(field, fields.String):  # also Email, Url, UUID
        _add(field, NoNul())
    elif isinstance(field, fields.Integer):
        # Documented as minimum/maximum too: apispec keeps the tightest of several ranges.
        _add(field, Int32())
    elif isinstance(field, fields.Date | fields.DateTime):
        _add(field, YearRange())
    elif isinstance(field, fields.List):
        guard(field.inner)
    elif isinstance(field, fields.Tuple):
        for inner in field.tuple_fields:
            guard(inner)
    elif isinstance(field, fields.Dict):
        for held in (field.key_field, field.value_field):
            if held is not None:
                guard(held)


def _add(field: fields.Field, validator: validate.Validator) -> None:
    # A bound field is a shallow copy of the declared one, sharing its list of validators:
    # give the copy a list of its own, and add each guard once however often it is bound.
    if not any(type(v) is type(validator) for v in field.validators):
        field.validators = [*field.validators, validator]


class Strict(Schema):
    """Input: unknown fields refused, every value one the database can hold."""

    class Meta:
        unknown = RAISE

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        guard(field_obj)


UNIT_CODE = validate.Regexp(
    r"^(ZJ|B[0-9]{2}|S[0-9]{3}|AP[0-9]{6,10})$",
    error="must be a unit code: ZJ, B01, S001 or AP000001",
)


def unit_code_field(**kw: Any) -> fields.String:
    """A unit of the org tree by its code (the provincial centre, a branch, a sub-centre or
    an acceptance point)."""
    return fields.String(validate=UNIT_CODE, **kw)


def text(max_len: int, **kw: Any) -> fields.String:
    """A required-looking string field of 1 to ``max_len`` characters."""
    return fields.String(validate=validate.Length(min=1, max=max_len), **kw)
