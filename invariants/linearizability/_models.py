"""The built-in models: a compare-and-set register and a key-value store.

How each reads a failmodel history (``Model.from_operation``): the operation
``f`` and the request ``body`` give the input; the response ``body`` of an
``ok`` gives the output; a ``404`` read reads the empty value.

============  ==================  ===============================  ========================
model         ``f``               request ``body``                 ``ok`` response ``body``
============  ==================  ===============================  ========================
cas-register  ``read``/``get``    ``{"key"?}``                     ``{"value"}`` (404: nil)
cas-register  ``write``/``put``   ``{"key"?, "value"}``            anything
cas-register  ``cas``             ``{"key"?, "expected", "new"}``  anything (swapped)
kv            ``get``             ``{"key"}``                      ``{"value"}`` (404: "")
kv            ``put``/``append``  ``{"key", "value"}``             anything
============  ==================  ===============================  ========================

A cas that did not swap is a ``fail`` (Jepsen's convention: it surely had
no effect) and is dropped, like every ``fail``; a cas whose ok response body
is ``{"swapped": false}`` is kept as a cas that answered "no swap". Any other
``f`` is an error.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias

from harness.history import Operation
from invariants.linearizability._model import UNKNOWN, Model

RegisterF: TypeAlias = Literal["read", "write", "cas"]
KvF: TypeAlias = Literal["get", "put", "append"]


@dataclass(frozen=True, slots=True)
class RegisterOp:
    """An input of the cas register. ``value`` is a write's; ``expected``/``new`` a
    cas's; ``key`` names the register (``None``: the only one).

    Outputs: a read's value (``None`` is nil); ``None`` for a write; ``True``
    for a cas that swapped, ``False`` for one that answered "no swap"."""

    f: RegisterF
    value: Any = None
    expected: Any = None
    new: Any = None
    key: Hashable = None


@dataclass(frozen=True, slots=True)
class KvOp:
    """An input of the key-value store; the output of a ``get`` is the string read."""

    f: KvF
    key: Hashable
    value: str = ""


def _register_step(state: Any, op: RegisterOp, output: Any) -> tuple[bool, Any]:
    f = op.f
    if f == "read":
        return output is UNKNOWN or output == state, state
    if f == "write":
        return True, op.value
    if state == op.expected:
        return output is not False, op.new
    return output is not True, state


def _register_read_only(op: RegisterOp, output: Any) -> bool:
    return op.f == "read" or (op.f == "cas" and output is False)


def _describe_register(op: RegisterOp, output: Any) -> str:
    at = "" if op.key is None else f"[{op.key!r}]"
    if op.f == "read":
        shown = "?" if output is UNKNOWN else "nil" if output is None else repr(output)
        return f"read{at}() -> {shown}"
    if op.f == "write":
        return f"write{at}({op.value!r})" + (" -> ?" if output is UNKNOWN else "")
    shown = "?" if output is UNKNOWN else "ok" if output is not False else "no swap"
    return f"cas{at}({op.expected!r}, {op.new!r}) -> {shown}"


def _describe_register_state(state: Any) -> str:
    return "nil" if state is None else repr(state)


def _body(op: Operation) -> Mapping[str, Any]:
    body = op.request.get("body")
    if not isinstance(body, Mapping):
        raise ValueError(f"op {op.invoke.op_id} ({op.f}): the request has no body")
    return body


def _field(op: Operation, body: Mapping[str, Any], name: str) -> Any:
    if name not in body:
        raise ValueError(f"op {op.invoke.op_id} ({op.f}): the request body has no {name!r}")
    return body[name]


def _read_value(op: Operation, missing: Any) -> Any:
    if op.response.get("status") == 404:
        return missing
    answer = op.response.get("body")
    if not isinstance(answer, Mapping) or "value" not in answer:
        raise ValueError(f"op {op.invoke.op_id} ({op.f}): the ok response body has no 'value'")
    value = answer["value"]
    return missing if value is None else value


def _register_from_operation(op: Operation) -> tuple[RegisterOp, Any]:
    body = _body(op)
    key = body.get("key")
    determinate = op.outcome == "ok"
    if op.f in ("read", "get"):
        return RegisterOp("read", key=key), _read_value(op, None) if determinate else UNKNOWN
    if op.f in ("write", "put"):
        return RegisterOp("write", value=_field(op, body, "value"), key=key), None
    if op.f == "cas":
        expected, new = _field(op, body, "expected"), _field(op, body, "new")
        answer = op.response.get("body")
        swapped = not (isinstance(answer, Mapping) and answer.get("swapped") is False)
        return RegisterOp("cas", expected=expected, new=new, key=key), swapped
    raise ValueError(f"op {op.invoke.op_id}: the cas-register model has no {op.f!r}")


CAS_REGISTER: Final[Model[Any, RegisterOp, Any]] = Model(
    name="cas-register",
    init=None,
    step=_register_step,
    partition=lambda op: op.key,
    read_only=_register_read_only,
    describe_operation=_describe_register,
    describe_state=_describe_register_state,
    from_operation=_register_from_operation,
)
"""A register that starts as nil (``None``): read, write, compare-and-set;
partitioned by ``RegisterOp.key`` (histories of one register leave it ``None``)."""


def _kv_step(state: str, op: KvOp, output: Any) -> tuple[bool, str]:
    f = op.f
    if f == "get":
        return output is UNKNOWN or output == state, state
    if f == "put":
        return True, op.value
    return True, state + op.value


def _describe_kv(op: KvOp, output: Any) -> str:
    if op.f == "get":
        return f"get({op.key!r}) -> {'?' if output is UNKNOWN else repr(output)}"
    return f"{op.f}({op.key!r}, {op.value!r})" + (" -> ?" if output is UNKNOWN else "")


def _kv_from_operation(op: Operation) -> tuple[KvOp, Any]:
    body = _body(op)
    key = _field(op, body, "key")
    if op.f == "get":
        return KvOp("get", key), _read_value(op, "") if op.outcome == "ok" else UNKNOWN
    if op.f in ("put", "append"):
        value = _field(op, body, "value")
        if not isinstance(value, str):
            raise ValueError(f"op {op.invoke.op_id} ({op.f}): 'value' must be a string")
        return KvOp("put" if op.f == "put" else "append", key, value), None
    raise ValueError(f"op {op.invoke.op_id}: the kv model has no {op.f!r}")


KV: Final[Model[str, KvOp, Any]] = Model(
    name="kv",
    init="",
    step=_kv_step,
    partition=lambda op: op.key,
    read_only=lambda op, output: op.f == "get",
    describe_operation=_describe_kv,
    describe_state=repr,
    from_operation=_kv_from_operation,
)
"""A key-value store of strings (a missing key reads ""): get, put, append;
partitioned by key."""

MODELS: Final[Mapping[str, Model[Any, Any, Any]]] = MappingProxyType(
    {CAS_REGISTER.name: CAS_REGISTER, KV.name: KV}
)
"""The built-in models by name (the CLI's ``--model``)."""
