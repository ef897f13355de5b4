"""The OpenAPI contract both endpoints declare: typed query parameters, the error responses,
and the bounds that come from the settings (filled in per app by `fit_to_settings`).

Parameters are parsed by hand (web.id_params, listing.parsing), so they are declared here
rather than inferred from the endpoints' signatures; the declarations and the parsers follow
the same rules (plain decimal integers, comma lists, case-insensitive enumerations).
"""

from __future__ import annotations

from typing import Any, Final

from carpages_shared.payloads import ErrorBody

from carpages_api.settings import ApiSettings

MAX_U32: Final = 4_294_967_295

ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorBody, "description": "Malformed, expired or wrongly signed token "
                                             "(`detail`: a short reason)"},
    422: {"model": ErrorBody, "description": "Invalid parameter: `detail` lists "
                                             "`{param, message}` for each"},
    500: {"model": ErrorBody, "description": "A bug (counted and logged); `detail`: its type"},
}


def responses(**described: str) -> dict[int | str, dict[str, Any]]:
    """ERRORS plus `404`/`503` (`s404=...`, `s503=...`) described for one endpoint."""
    out = dict(ERRORS)
    for key, text in described.items():
        out[int(key[1:])] = {"model": ErrorBody, "description": text}
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def integer(name: str, text: str, lo: int, hi: int, where: str = "query",
            **extra: Any) -> dict[str, Any]:
    """A plain decimal integer parameter within [lo, hi]."""
    param = {"name": name, "in": where, "required": where == "path", "description": text,
             "schema": {"type": "integer", "minimum": lo, "maximum": hi, **extra}}
    return param


def number(name: str, text: str, lo: float, hi: float) -> dict[str, Any]:
    """A plain decimal number parameter within [lo, hi]."""
    return {"name": name, "in": "query", "required": False, "description": text,
            "schema": {"type": "number", "minimum": lo, "maximum": hi}}


def int_list(name: str, text: str, lo: int, hi: int, max_items: int) -> dict[str, Any]:
    """A comma-separated list of integers (`1,2,3`; repeating the parameter also works)."""
    return {"name": name, "in": "query", "required": False, "description": text,
            "style": "form", "explode": False,
            "schema": {"type": "array", "maxItems": max_items,
                       "items": {"type": "integer", "minimum": lo, "maximum": hi}}}


def enum_list(name: str, text: str, values: tuple[str, ...], max_items: int) -> dict[str, Any]:
    """A comma-separated list of enumerated words (case-insensitive)."""
    return {"name": name, "in": "query", "required": False,
            "description": f"{text} (case-insensitive)", "style": "form", "explode": False,
            "schema": {"type": "array", "maxItems": max_items,
                       "items": {"type": "string", "enum": list(values)}}}


def text(name: str, description: str, **schema: Any) -> dict[str, Any]:
    """A string parameter."""
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string", **schema}}


def _fit(param: dict[str, Any], settings: ApiSettings, listing: bool) -> None:
    schema, name = param["schema"], param["name"]
    if param.get("in") == "query":
        # `city_id=` (an empty form field) means the parameter is absent, on both endpoints.
        param["allowEmptyValue"] = True
    if name in ("seen_car_ids", "seen_card_ids"):
        schema["maxItems"] = settings.max_seen_ids
        if not listing:
            schema["items"]["maximum"] = settings.max_car_id
    elif name == "car_id":
        schema["maximum"] = settings.max_car_id
    elif name == "page_size":
        schema["maximum"] = settings.page_size_max
        schema["default"] = settings.page_size_default
    elif name in ("page_no", "page"):
        schema["maximum"] = settings.page_window
    elif schema.get("type") == "array" and listing:
        schema["maxItems"] = settings.max_filter_values


def fit_to_settings(spec: dict[str, Any], settings: ApiSettings) -> dict[str, Any]:
    """The spec with the bounds these settings impose (max ids, page sizes, list lengths)."""
    for path, methods in spec.get("paths", {}).items():
        for operation in methods.values():
            for param in operation.get("parameters", ()):
                _fit(param, settings, listing=path == "/listing/")
    return spec
